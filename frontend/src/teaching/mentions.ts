// `@name` in a chat message: resolved to the user ids of session members when it is sent (the
// event carries ids, never names), and found again in the text to highlight it.
import { LIMITS } from "./types";

/** What a mention can match: a member's user id with their username and display name. */
export interface Mentionable {
  user_id: string;
  username?: string;
  display_name?: string;
}

/** `@` at the start or after a space, then the name (letters, digits, `.`, `_`, `-`). */
const MENTION = /(^|\s)@([\p{L}\p{N}._-]+)/gu;

const key = (text: string) => text.toLowerCase().replace(/\s+/g, "");

/**
 * The user a name after `@` stands for (a username, or a display name without its spaces) and
 * how much of the name it took: a full stop or dash that ends it ends the sentence instead
 * ("thanks @alice.").
 */
function match(name: string, people: readonly Mentionable[]): { id: string; name: string } | null {
  for (const candidate of [name, name.replace(/[._-]+$/, "")]) {
    const k = key(candidate);
    if (!k) continue;
    const found =
      people.find((p) => p.username !== undefined && key(p.username) === k) ??
      people.find((p) => p.display_name !== undefined && key(p.display_name) === k);
    if (found) return { id: found.user_id, name: candidate };
  }
  return null;
}

/** The user ids the text mentions, in order of first mention, at most 20. */
export function resolveMentions(text: string, people: readonly Mentionable[]): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(MENTION)) {
    const found = match(m[2] ?? "", people);
    if (found && !out.includes(found.id)) out.push(found.id);
    if (out.length >= LIMITS.mentions) break;
  }
  return out;
}

/** A piece of a message: plain text, or a mention of `user_id`. */
export type MessagePart = { text: string; user_id?: string };

/**
 * The message cut into plain text and mentions, for highlighting. Only names that resolve to
 * one of `mentioned` (the ids the event carries) are mentions: the sender's words stay as typed.
 */
export function messageParts(text: string, mentioned: readonly string[], people: readonly Mentionable[]): MessagePart[] {
  const parts: MessagePart[] = [];
  let at = 0;
  for (const m of text.matchAll(MENTION)) {
    const found = match(m[2] ?? "", people);
    if (!found || !mentioned.includes(found.id)) continue;
    const start = (m.index ?? 0) + (m[1] ?? "").length;
    if (start > at) parts.push({ text: text.slice(at, start) });
    parts.push({ text: `@${found.name}`, user_id: found.id });
    at = start + 1 + found.name.length;
  }
  if (at < text.length) parts.push({ text: text.slice(at) });
  return parts;
}
