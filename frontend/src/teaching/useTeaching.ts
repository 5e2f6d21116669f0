// The workspace's teaching writes: strokes (shown on this screen from the moment they are sent
// until the server's event takes over), the laser pointer's batches, clearing, chat with its
// mentions resolved to user ids, questions, hands and the host's settings. Each is one client
// message answered by `ack` or `error`, like every write on the session's socket.
import { useCallback, useEffect, useRef, useState } from "react";
import type { AckMessage, ErrorMessage } from "../api/generated/ws";
import { colorFor } from "./geometry";
import { resolveMentions, type Mentionable } from "./mentions";
import type { HeldStroke, TeachingState } from "./state";
import type { NewStroke, Tool } from "./TelestrationOverlay";
import type { ClearScope, OutgoingTeachingMessage, PointerMovedData, TeachingSettingsChangedData } from "./types";

/** Sends one teaching message; its ref, or null when it could not be sent. `quiet`: no toast if refused. */
export type SendTeaching = (msg: OutgoingTeachingMessage, quiet?: boolean) => string | null;

/** A stroke sent and not yet seen as an event is dropped after this long. */
const PENDING_MS = 10_000;

export interface Teaching {
  tool: Tool | null;
  setTool(tool: Tool | null): void;
  pinned: boolean;
  setPinned(pinned: boolean): void;
  /** This person's colour. */
  color: string;
  /** The session's strokes and this screen's own not yet written. */
  strokes: HeldStroke[];
  drawStroke(stroke: NewStroke): void;
  point(batch: PointerMovedData): void;
  clear(scope: ClearScope): void;
  /** Posts a chat message; false when it could not be sent. */
  post(text: string): boolean;
  ask(text: string): boolean;
  answer(questionId: string): void;
  raiseHand(): void;
  lowerHand(userId?: string): void;
  changeSettings(patch: TeachingSettingsChangedData): void;
  /** Hears every `ack` and `error` of the socket (a refused stroke is taken off the screen). */
  onReply(msg: AckMessage | ErrorMessage): void;
}

export function useTeaching({
  teaching,
  userId,
  participantId,
  people,
  send,
}: {
  teaching: TeachingState;
  userId: string;
  participantId: string;
  /** Session members with their names, for resolving `@name`. */
  people: readonly Mentionable[];
  send: SendTeaching;
}): Teaching {
  const [tool, setTool] = useState<Tool | null>(null);
  const [pinned, setPinned] = useState(false);
  const [pending, setPending] = useState<(HeldStroke & { sentAt: number })[]>([]);
  const strokeRefs = useRef(new Map<string, string>());

  // A stroke the server wrote (or that timed out) is no longer this screen's own copy.
  const heldIds = new Set(teaching.strokes.map((s) => s.stroke_id));
  const unconfirmed = pending.filter((p) => !heldIds.has(p.stroke_id));
  useEffect(() => {
    if (unconfirmed.length !== pending.length) setPending(unconfirmed);
  });
  useEffect(() => {
    if (pending.length === 0) return;
    const oldest = Math.min(...pending.map((p) => p.sentAt));
    const timer = setTimeout(
      () => setPending((list) => list.filter((p) => Date.now() - p.sentAt < PENDING_MS)),
      Math.max(0, oldest + PENDING_MS - Date.now()),
    );
    return () => clearTimeout(timer);
  }, [pending]);

  const color = colorFor(userId);

  const drawStroke = (stroke: NewStroke) => {
    const stroke_id = globalThis.crypto.randomUUID();
    const ref = send({ type: "annotation.stroke", stroke_id, ...stroke });
    if (ref === null) return;
    strokeRefs.current.set(ref, stroke_id);
    const sentAt = Date.now();
    setPending((list) => [
      ...list,
      { ...stroke, stroke_id, user_id: userId, participant_id: participantId, drawn_at: new Date(sentAt).toISOString(), live: true, sentAt },
    ]);
  };

  const onReply = useCallback((msg: AckMessage | ErrorMessage) => {
    if (msg.ref === null) return;
    const strokeId = strokeRefs.current.get(msg.ref);
    if (strokeId === undefined) return;
    strokeRefs.current.delete(msg.ref);
    if (msg.type === "error") setPending((list) => list.filter((p) => p.stroke_id !== strokeId));
  }, []);

  const post = (text: string) => {
    const trimmed = text.trim();
    if (!trimmed) return false;
    const mentions = resolveMentions(trimmed, people.filter((p) => p.user_id !== userId));
    return send({ type: "chat.post", message_id: globalThis.crypto.randomUUID(), text: trimmed, mentions }) !== null;
  };

  const ask = (text: string) => {
    const trimmed = text.trim();
    if (!trimmed) return false;
    return send({ type: "question.ask", question_id: globalThis.crypto.randomUUID(), text: trimmed }) !== null;
  };

  return {
    tool,
    setTool,
    pinned,
    setPinned,
    color,
    strokes: [...teaching.strokes, ...unconfirmed],
    drawStroke,
    point: (batch) => void send({ type: "pointer.move", ...batch }, true),
    clear: (scope) => void send({ type: "annotation.clear", scope, panel_id: null }),
    post,
    ask,
    answer: (question_id) => void send({ type: "question.answer", question_id }),
    raiseHand: () => void send({ type: "hand.raise" }),
    lowerHand: (user_id) => void send(user_id && user_id !== userId ? { type: "hand.lower", user_id } : { type: "hand.lower" }),
    changeSettings: (patch) => void send({ type: "teaching.settings", ...patch }),
    onReply,
  };
}
