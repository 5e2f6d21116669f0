// Words for the audit trail: event type names, times, and a one-line summary of each event's
// data. Pure, so the wording is unit-tested apart from the screen.
import type { AuditEvent } from "../../api/client";
import type { EventDataByType, EventType } from "../../api/generated/events";
import { formatBytes, formatDuration, shortId } from "../archives/format";
import { isTeachingEventType, type TeachingEventDataByType, type TeachingEventType } from "../../teaching/types";

/**
 * Every event type, for the "Event type" filter. A Record over the generated union makes `tsc`
 * fail here when the schemas gain a type this list lacks.
 */
const TYPES: Record<EventType, true> = {
  AccessDenied: true,
  AnnotationCleared: true,
  AnnotationStroke: true,
  ArchiveAccessed: true,
  ArchiveClosed: true,
  ArchiveExpired: true,
  ArchiveFinalised: true,
  ArchiveOpened: true,
  ArchiveRetentionChanged: true,
  AuditTrailRead: true,
  ChatMessagePosted: true,
  FirstFrameDecoded: true,
  FirstFrameDelivered: true,
  HandLowered: true,
  HandRaised: true,
  KeyframeRequested: true,
  LayoutInitialized: true,
  LayoutUpdated: true,
  MediaPlaced: true,
  MediaQualitySampled: true,
  MemberAdded: true,
  MemberRemoved: true,
  MemberRoleChanged: true,
  ParticipantJoined: true,
  ParticipantLeft: true,
  PointerMoved: true,
  PublisherConnected: true,
  PublisherDisconnected: true,
  QuestionAnswered: true,
  QuestionAsked: true,
  RecordingOverrun: true,
  RecordingRequested: true,
  RecordingStarted: true,
  RecordingStopped: true,
  RefreshTokenReused: true,
  SegmentStored: true,
  SessionCancelled: true,
  SessionCreated: true,
  SessionDetailsChanged: true,
  SessionEnded: true,
  SessionStarted: true,
  SignInThrottled: true,
  SourceResumed: true,
  SourceSelected: true,
  SourceStalled: true,
  SubscriberConnected: true,
  SubscriberDisconnected: true,
  SubscriptionChanged: true,
  TeachingSettingsChanged: true,
  TrackPublished: true,
  TrackUnpublished: true,
  UserDeactivated: true,
  UserDisplayNameChanged: true,
  UserReactivated: true,
  UserRegistered: true,
  UserRoleChanged: true,
};

export const EVENT_TYPES: string[] = Object.keys(TYPES).sort();

export function isEventType(type: string): type is EventType {
  return Object.prototype.hasOwnProperty.call(TYPES, type);
}

/** "LayoutUpdated" -> "Layout updated". */
export function typeLabel(type: string): string {
  const words = type.replace(/([a-z0-9])([A-Z])/g, "$1 $2").split(" ");
  return words.map((w, i) => (i === 0 ? w : w.toLowerCase())).join(" ");
}

/** "timed_out" -> "timed out". */
export function words(value: string): string {
  return value.replace(/_/g, " ");
}

/** Event times in the reader's locale, to the millisecond (events often lie ms apart). */
export function formatTime(rfc3339: string, locale?: string): string {
  const date = new Date(rfc3339);
  if (Number.isNaN(date.getTime())) return rfc3339;
  return date.toLocaleString(locale, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    fractionalSecondDigits: 3,
  });
}

/** Milliseconds since the epoch of an RFC 3339 time (the server's microseconds are dropped). */
export function msOf(rfc3339: string): number {
  return new Date(rfc3339).getTime();
}

/**
 * The `at` to replay to for a moment given in whole milliseconds. The server keeps microseconds,
 * so `new Date(ms).toISOString()` would cut off an event recorded later within that same
 * millisecond; padding to its last microsecond includes every event the reader sees at that time.
 */
export function replayAtOf(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "999Z");
}

/** `<input type="datetime-local">` value (the reader's local time) -> RFC 3339 in UTC; null if empty or invalid. */
export function localInputToRfc3339(value: string): string | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** RFC 3339 -> a `datetime-local` value in the reader's local time, to the second. */
export function rfc3339ToLocalInput(rfc3339: string): string {
  const date = new Date(rfc3339);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** The user id the command line acts as (`users create`): no person. */
export const SYSTEM_USER = "00000000-0000-0000-0000-000000000000";

export type NameOf = (userId: string) => string;

/** An event whose `data` has the generated shape of its type. */
type KnownEvent = { [K in EventType]: { type: K; data: EventDataByType[K] } }[EventType];

function known(event: AuditEvent): KnownEvent | null {
  const data = event.data as unknown;
  if (!isEventType(event.type) || data === null || typeof data !== "object") return null;
  return { type: event.type, data } as KnownEvent;
}

type PanelLike = { id: string; x: number; y: number; w: number; h: number; z: number; source_id?: string | null };

function layoutChanges(data: EventDataByType["LayoutUpdated"], nameOf: NameOf): string {
  const panels = new Map<string, PanelLike>((data.panels ?? []).map((p) => [p.id, p]));
  const fields = new Map<string, Set<string>>();
  const parts: string[] = [];
  for (const change of data.changes ?? []) {
    if (change.panel_id === null || change.field === "panels") {
      const value = (change.value ?? {}) as { added?: PanelLike[]; removed?: string[] };
      for (const p of value.added ?? []) parts.push(`added panel ${p.id} at ${p.x},${p.y} (${p.w}x${p.h})`);
      for (const id of value.removed ?? []) parts.push(`removed panel ${id}`);
      continue;
    }
    const set = fields.get(change.panel_id) ?? new Set<string>();
    set.add(change.field);
    fields.set(change.panel_id, set);
  }
  for (const [id, set] of fields) {
    const panel = panels.get(id);
    const change = (field: string) =>
      (data.changes ?? []).find((c) => c.panel_id === id && c.field === field)?.value;
    if (set.has("x") || set.has("y")) {
      parts.push(panel ? `moved panel ${id} to ${panel.x},${panel.y}` : `moved panel ${id}`);
    }
    if (set.has("w") || set.has("h")) {
      parts.push(panel ? `resized panel ${id} to ${panel.w}x${panel.h}` : `resized panel ${id}`);
    }
    if (set.has("z")) parts.push(`put panel ${id} on layer ${String(change("z"))}`);
    if (set.has("source_id")) {
      const source = change("source_id");
      parts.push(typeof source === "string" ? `showed ${source} in panel ${id}` : `cleared panel ${id}`);
    }
  }
  let text = parts.join(", ") || "changed the layout";
  text += ` (version ${data.version})`;
  const conflicts = (data.conflicts ?? []).map((c) => {
    const field = c.panel_id === null ? "the panel set" : `${c.field} of ${c.panel_id}`;
    const loser = c.loser?.user_id ? ` by ${nameOf(c.loser.user_id)}` : "";
    return `${field}${loser} (version ${c.loser_version})`;
  });
  if (conflicts.length > 0) text += `; overwrote ${conflicts.join(", ")}`;
  return text;
}

function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

function bitrate(bps: number): string {
  if (bps >= 1_000_000) return `${(bps / 1_000_000).toFixed(1)} Mbit/s`;
  return `${Math.round(bps / 1000)} kbit/s`;
}

const KIND_WORDS = { freehand: "a freehand stroke", arrow: "an arrow", circle: "a circle" } as const;

function quoted(text: string, max = 120): string {
  const one = text.replace(/\s+/g, " ").trim();
  return `“${one.length > max ? `${one.slice(0, max - 1)}…` : one}”`;
}

/** The one line of a teaching event (issue 21): drawings, pointer, chat, questions, hands. */
function teachingSummary(type: TeachingEventType, data: unknown, actor: string | null, nameOf: NameOf): string {
  const on = (panel: string, source: string | null) => `panel ${panel}${source ? ` (${source})` : ""}`;
  switch (type) {
    case "AnnotationStroke": {
      const d = data as TeachingEventDataByType["AnnotationStroke"];
      const count = d.kind === "freehand" ? `, ${d.points.length} points` : "";
      return `drew ${KIND_WORDS[d.kind] ?? d.kind} on ${on(d.panel_id, d.source_id)}${count}${d.pinned ? ", pinned" : ""}`;
    }
    case "AnnotationCleared": {
      const d = data as TeachingEventDataByType["AnnotationCleared"];
      const where = d.panel_id === null ? "on every panel" : `on panel ${d.panel_id}`;
      return d.scope === "all" ? `cleared everyone's drawings ${where}` : `cleared their own drawings ${where}`;
    }
    case "PointerMoved": {
      const d = data as TeachingEventDataByType["PointerMoved"];
      return `pointed at ${on(d.panel_id, d.source_id)} (${d.points.length} sample${d.points.length === 1 ? "" : "s"})`;
    }
    case "ChatMessagePosted": {
      const d = data as TeachingEventDataByType["ChatMessagePosted"];
      const mentions = d.mentions.length > 0 ? ` (mentions ${d.mentions.map(nameOf).join(", ")})` : "";
      return `chat: ${quoted(d.text)}${mentions}`;
    }
    case "QuestionAsked":
      return `asked the host: ${quoted((data as TeachingEventDataByType["QuestionAsked"]).text)}`;
    case "QuestionAnswered":
      return `marked question ${shortId((data as TeachingEventDataByType["QuestionAnswered"]).question_id)} answered`;
    case "HandRaised":
      return "raised a hand";
    case "HandLowered": {
      const d = data as TeachingEventDataByType["HandLowered"];
      return d.user_id === actor ? "lowered their hand" : `lowered the hand of ${nameOf(d.user_id)}`;
    }
    case "TeachingSettingsChanged": {
      const d = data as TeachingEventDataByType["TeachingSettingsChanged"];
      const parts: string[] = [];
      if (d.observers_may_annotate !== undefined) parts.push(d.observers_may_annotate ? "observers may draw" : "observers may not draw");
      if (d.observer_chat !== undefined) parts.push(d.observer_chat ? "observer chat on" : "observer chat off");
      if (d.stroke_fade_ms !== undefined) parts.push(`strokes fade after ${Math.round(d.stroke_fade_ms / 1000)} s`);
      return `teaching settings: ${parts.join(", ") || "unchanged"}`;
    }
  }
}

/** One line saying what the event did, in words ("moved panel p1 to 6,0"). */
export function summarize(event: AuditEvent, nameOf: NameOf): string {
  if (isTeachingEventType(event.type) && event.data !== null && typeof event.data === "object") {
    return teachingSummary(event.type, event.data, event.actor_user_id ?? null, nameOf);
  }
  const e = known(event);
  if (!e) {
    const data = event.data as unknown;
    return data === null ? "(data no longer in the log)" : "";
  }
  const d = e.data;
  switch (e.type) {
    case "SessionCreated":
      return `created session "${e.data.title}"${e.data.procedure ? ` (${e.data.procedure})` : ""}`;
    case "SessionDetailsChanged": {
      const parts: string[] = [];
      if (e.data.title !== null) parts.push(`title to "${e.data.title}"`);
      if (e.data.procedure !== undefined) parts.push(e.data.procedure === null ? "cleared the procedure" : `procedure to "${e.data.procedure}"`);
      if (e.data.scheduled_start !== undefined) {
        parts.push(e.data.scheduled_start === null ? "cleared the start time" : `start to ${formatTime(e.data.scheduled_start)}`);
      }
      return parts.length ? `changed ${parts.join(", ")}` : "changed the details";
    }
    case "SessionStarted":
      return "started the session";
    case "SessionEnded":
      return "ended the session";
    case "SessionCancelled":
      return `cancelled the session${e.data.reason ? `: ${e.data.reason}` : ""}`;
    case "MemberAdded":
      return `added ${nameOf(e.data.user_id)} as ${e.data.role}`;
    case "MemberRemoved":
      return `removed ${nameOf(e.data.user_id)}`;
    case "MemberRoleChanged":
      return `changed ${nameOf(e.data.user_id)} from ${e.data.from} to ${e.data.to}`;
    case "ParticipantJoined": {
      const who = event.actor_user_id === e.data.user_id ? "" : `${nameOf(e.data.user_id)} `;
      return `${who}joined as ${e.data.role}${e.data.device ? ` from ${e.data.device}` : ""}`;
    }
    case "ParticipantLeft": {
      const who = event.actor_user_id === e.data.user_id ? "" : `${nameOf(e.data.user_id)} `;
      return e.data.reason === "left" ? `${who}left` : `${who}left (${words(e.data.reason)})`;
    }
    case "LayoutInitialized":
      return `initial layout: ${e.data.panels.length} panel${e.data.panels.length === 1 ? "" : "s"} (version ${e.data.version})`;
    case "LayoutUpdated":
      return layoutChanges(e.data, nameOf);
    case "SourceSelected":
      return e.data.source_id === null
        ? `cleared panel ${e.data.panel_id} (version ${e.data.layout_version})`
        : `showed ${e.data.source_id} in panel ${e.data.panel_id} (version ${e.data.layout_version})`;
    case "RecordingRequested":
      return "requested a recording";
    case "RecordingStarted":
      return "recording started";
    case "RecordingStopped":
      return "recording stopped";
    case "ArchiveOpened":
      return `began recording ${e.data.source} (archive ${shortId(e.data.archive_id)})`;
    case "SegmentStored":
      return `stored segment ${e.data.seq} of archive ${shortId(e.data.archive_id)} (${formatBytes(e.data.bytes)}, ${formatDuration(e.data.duration_ms)})`;
    case "RecordingOverrun":
      return `recorder fell behind on ${e.data.source}: ${e.data.dropped_frames} frame${e.data.dropped_frames === 1 ? "" : "s"} dropped`;
    case "ArchiveClosed":
      return e.data.reason === "stopped"
        ? `recording of archive ${shortId(e.data.archive_id)} ended`
        : `recording of archive ${shortId(e.data.archive_id)} interrupted (the server stopped while recording)`;
    case "ArchiveFinalised": {
      const what = `archive ${shortId(e.data.archive_id)} ${e.data.status}`;
      const facts = e.data.status === "failed" ? "" : `: ${formatDuration(e.data.duration_ms)}, ${formatBytes(e.data.bytes)}`;
      return `${what}${facts}${e.data.reason ? ` (${e.data.reason})` : ""}`;
    }
    case "ArchiveAccessed":
      return `${nameOf(e.data.user_id)} was given a playback link to archive ${shortId(e.data.archive_id)} (valid until ${formatTime(e.data.url_expires_at)})`;
    case "ArchiveRetentionChanged":
      return `archive ${shortId(e.data.archive_id)} now expires ${formatTime(e.data.expires_at)}, ${e.data.legal_hold ? "on legal hold" : "not on legal hold"}`;
    case "ArchiveExpired":
      return `archive ${shortId(e.data.archive_id)} expired: ${e.data.objects_deleted} object${e.data.objects_deleted === 1 ? "" : "s"} deleted`;
    case "PublisherConnected":
      return `published ${e.data.source}`;
    case "PublisherDisconnected":
      return `stopped publishing ${e.data.source} (${words(e.data.reason)})`;
    case "TrackPublished":
      return `${e.data.source}: ${e.data.kind} track ${e.data.codec} (mid ${e.data.mid})`;
    case "TrackUnpublished":
      return `${e.data.source}: ${e.data.kind} track ended (${words(e.data.reason)})`;
    case "SubscriberConnected":
      return `subscribed with ${e.data.video_slots} video and ${e.data.audio_slots} audio slot${e.data.audio_slots === 1 ? "" : "s"}`;
    case "SubscriptionChanged":
      return `now watching ${e.data.slots.map((s) => s ?? "nothing").join(", ") || "nothing"}`;
    case "SubscriberDisconnected":
      return `stopped subscribing (${words(e.data.reason)})`;
    case "FirstFrameDelivered":
      return `first frame of ${e.data.source} delivered to ${nameOf(e.data.user_id)} (slot ${e.data.slot}) after ${ms(e.data.join_to_first_frame_ms)}`;
    case "FirstFrameDecoded":
      return `decoded the first frame${e.data.source ? ` of ${e.data.source}` : ""} after ${ms(e.data.join_to_first_frame_ms)}`;
    case "KeyframeRequested":
      return `keyframe requested from ${e.data.source} (${e.data.kind.toUpperCase()}, ${words(e.data.cause)})`;
    case "MediaQualitySampled": {
      const lost = e.data.packets + e.data.packets_lost > 0 ? (100 * e.data.packets_lost) / (e.data.packets + e.data.packets_lost) : 0;
      const rtt = e.data.rtt_ms === null ? "" : `, rtt ${ms(e.data.rtt_ms)}`;
      return `${e.data.source} ${e.data.kind}: ${bitrate(e.data.bitrate_bps)}, ${lost.toFixed(1)}% lost${rtt}`;
    }
    case "SourceStalled":
      return `${e.data.source} stalled: no video arriving`;
    case "SourceResumed":
      return `${e.data.source} resumed after ${ms(e.data.stalled_ms)} without video`;
    case "MediaPlaced":
      return e.data.reason === "node_gone"
        ? `media placed again on node ${e.data.node_id} (${e.data.url}): node ${e.data.previous_node_id ?? "?"} stopped`
        : `media placed on node ${e.data.node_id} (${e.data.url})`;
    case "AccessDenied":
      return `refused ${words(e.data.action)} (${e.data.method} ${e.data.route}, ${e.data.status}): ${e.data.reason}`;
    case "AuditTrailRead": {
      const query = Object.entries(e.data.query ?? {})
        .filter(([, v]) => v !== undefined)
        .map(([k, v = ""]) => {
          if (k === "actor") return `actor=${nameOf(v)}`;
          if (k === "at" || k === "from" || k === "to") return `${k}=${formatTime(v)}`;
          return `${k}=${v}`;
        })
        .join(", ");
      const what = { events: "read the audit trail", replay: "replayed the session", verify: "verified the hash chain", export: "exported the audit records" }[e.data.kind];
      const scope = e.data.session_id === null && e.data.kind === "events" ? " of all sessions" : "";
      return `${what}${scope}${query ? ` (${query})` : ""}`;
    }
    case "UserRegistered":
      return `registered ${e.data.display_name} (${e.data.username}) as ${e.data.role}`;
    case "UserRoleChanged":
      return `changed the role of ${nameOf(e.data.user_id)} from ${e.data.from} to ${e.data.to}`;
    case "UserDisplayNameChanged":
      return `renamed ${nameOf(e.data.user_id)} to "${e.data.display_name}"`;
    case "UserDeactivated":
      return `deactivated ${nameOf(e.data.user_id)}`;
    case "UserReactivated":
      return `reactivated ${nameOf(e.data.user_id)}`;
    case "RefreshTokenReused":
      return `a used refresh token of ${nameOf(e.data.user_id)} was replayed: that sign-in is revoked`;
    case "SignInThrottled":
      return `sign-in of ${nameOf(e.data.user_id)} from ${e.data.address} delayed ${e.data.delay_secs} s after ${e.data.failures} wrong passwords`;
  }
  // Unreachable while the switch covers EventType; kept for data of a future schema version.
  return JSON.stringify(d).slice(0, 120);
}

/** `summarize`, but never throwing on data of an unexpected shape (an older schema version). */
export function safeSummary(event: AuditEvent, nameOf: NameOf): string {
  try {
    return summarize(event, nameOf);
  } catch {
    return "";
  }
}

/** Who acted: the name and org role ("Dr Grey (surgeon)"), or the command line. */
export function actorLabel(event: AuditEvent, nameOf: NameOf): string {
  const id = event.actor_user_id;
  if (!id) return "unknown actor";
  if (id === SYSTEM_USER) return "System (command line)";
  // Only the first-start setup page registers a user as the actor of their own registration.
  const registered = event.type === "UserRegistered" ? (event.data as { user_id?: string } | null)?.user_id : undefined;
  if (registered === id) return `${nameOf(id)} (first-start setup)`;
  return event.actor_role ? `${nameOf(id)} (${event.actor_role})` : nameOf(id);
}

/** "ok" -> "accepted"; anything else as the server says it. */
export function outcomeLabel(outcome: string): string {
  return outcome === "ok" ? "accepted" : outcome;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** The hash-chain result in one sentence. */
export function verifyMessage(result: {
  ok: boolean;
  events_checked: number;
  streams_checked: number;
  broken?: { stream: string; version: number; reason?: string } | null;
}): string {
  if (result.ok) {
    return `Hash chain intact: ${count(result.events_checked, "event")} in ${count(result.streams_checked, "stream")} verified`;
  }
  if (!result.broken) return `Hash chain broken (${count(result.events_checked, "event")} checked)`;
  return `Hash chain broken at ${result.broken.stream}, version ${result.broken.version}`;
}
