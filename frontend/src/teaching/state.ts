// The teaching part of the session as one client sees it: the snapshot's `teaching`, then each
// teaching event folded in. Pure, like the session reducer it is part of. Pointer batches are not
// state (the snapshot has none): the overlay shows them as they come (see usePointerTrails).
import type { EventMessage } from "../api/generated/ws";
import {
  DEFAULT_TEACHING_SETTINGS,
  type FramePoint,
  isTeachingEventType,
  type TeachingChatMessage,
  type TeachingEventDataByType,
  type TeachingHand,
  type TeachingQuestion,
  type TeachingSettings,
  type TeachingStroke,
  type TeachingView,
} from "./types";

/** A stroke as held here: `live` when it came as an event (not with a snapshot). */
export type HeldStroke = TeachingStroke & { live?: boolean };

export interface TeachingState {
  settings: TeachingSettings;
  strokes: HeldStroke[];
  chat: TeachingChatMessage[];
  questions: TeachingQuestion[];
  hands: TeachingHand[];
}

export const initialTeachingState: TeachingState = {
  settings: DEFAULT_TEACHING_SETTINGS,
  strokes: [],
  chat: [],
  questions: [],
  hands: [],
};

const MAX_STROKES = 500;
const MAX_CHAT = 200;
const MAX_QUESTIONS = 200;

/** The state of a snapshot's `teaching` (a server without it: the defaults, nothing drawn). */
export function teachingOf(view: Partial<TeachingView> | null | undefined): TeachingState {
  if (!view) return initialTeachingState;
  return {
    settings: { ...DEFAULT_TEACHING_SETTINGS, ...(view.settings ?? {}) },
    strokes: (view.strokes ?? []).map((s) => ({ ...s })),
    chat: (view.chat ?? []).map((m) => ({ ...m })),
    questions: (view.questions ?? []).map((q) => ({ ...q })),
    hands: (view.hands ?? []).map((h) => ({ ...h })),
  };
}

/** The snapshot's `teaching` of a welcome (absent until the server has issue 21). */
export function teachingOfSession(session: unknown): TeachingState {
  const teaching = (session as { teaching?: Partial<TeachingView> } | null)?.teaching;
  return teachingOf(teaching);
}

function dataOf<T extends keyof TeachingEventDataByType>(e: EventMessage, _type: T): TeachingEventDataByType[T] {
  return e.data as TeachingEventDataByType[T];
}

/**
 * Folds one event into the teaching state; the same object when it is not a teaching event
 * (or changes nothing). Who acted is the envelope's actor, when is its `time`.
 */
export function applyTeachingEvent(state: TeachingState, e: EventMessage): TeachingState {
  const type = e.event_type as string;
  if (!isTeachingEventType(type)) return state;
  const userId = e.actor.user_id ?? "";
  switch (type) {
    case "AnnotationStroke": {
      const d = dataOf(e, "AnnotationStroke");
      const stroke: HeldStroke = {
        stroke_id: d.stroke_id,
        panel_id: d.panel_id,
        source_id: d.source_id,
        media_time_ms: d.media_time_ms,
        kind: d.kind,
        points: d.points.map((p): FramePoint => [p[0], p[1]]),
        color: d.color,
        width: d.width,
        pinned: d.pinned,
        user_id: userId,
        participant_id: e.actor.participant_id,
        drawn_at: e.time,
        live: true,
      };
      // Unpinned strokes past their fade (by the server's clock) are gone for everyone.
      const now = Date.parse(e.time);
      const fade = state.settings.stroke_fade_ms;
      const kept = state.strokes.filter((s) => s.stroke_id !== d.stroke_id && (s.pinned || !(now - Date.parse(s.drawn_at) > fade)));
      return { ...state, strokes: [...kept, stroke].slice(-MAX_STROKES) };
    }
    case "AnnotationCleared": {
      const d = dataOf(e, "AnnotationCleared");
      const cleared = (s: HeldStroke) => (d.panel_id === null || s.panel_id === d.panel_id) && (d.scope === "all" || s.user_id === userId);
      return { ...state, strokes: state.strokes.filter((s) => !cleared(s)) };
    }
    case "ChatMessagePosted": {
      const d = dataOf(e, "ChatMessagePosted");
      if (state.chat.some((m) => m.message_id === d.message_id)) return state;
      const message = { message_id: d.message_id, user_id: userId, text: d.text, mentions: [...d.mentions], posted_at: e.time };
      return { ...state, chat: [...state.chat, message].slice(-MAX_CHAT) };
    }
    case "QuestionAsked": {
      const d = dataOf(e, "QuestionAsked");
      if (state.questions.some((q) => q.question_id === d.question_id)) return state;
      const question = { question_id: d.question_id, user_id: userId, text: d.text, asked_at: e.time, answered_at: null };
      return { ...state, questions: [...state.questions, question].slice(-MAX_QUESTIONS) };
    }
    case "QuestionAnswered": {
      const d = dataOf(e, "QuestionAnswered");
      return {
        ...state,
        questions: state.questions.map((q) => (q.question_id === d.question_id && q.answered_at === null ? { ...q, answered_at: e.time } : q)),
      };
    }
    case "HandRaised":
      if (state.hands.some((h) => h.user_id === userId)) return state;
      return { ...state, hands: [...state.hands, { user_id: userId, raised_at: e.time }] };
    case "HandLowered": {
      const d = dataOf(e, "HandLowered");
      return { ...state, hands: state.hands.filter((h) => h.user_id !== d.user_id) };
    }
    case "TeachingSettingsChanged": {
      const d = dataOf(e, "TeachingSettingsChanged");
      const settings = { ...state.settings };
      if (typeof d.observers_may_annotate === "boolean") settings.observers_may_annotate = d.observers_may_annotate;
      if (typeof d.observer_chat === "boolean") settings.observer_chat = d.observer_chat;
      if (typeof d.stroke_fade_ms === "number") settings.stroke_fade_ms = d.stroke_fade_ms;
      return { ...state, settings };
    }
    case "PointerMoved":
      return state;
  }
}

/**
 * When an unpinned stroke has faded (ms on this browser's clock), given when this browser first
 * showed it. A stroke that came live fades `fadeMs` after it came (the drawer's and the viewer's
 * clocks need not agree); one from a snapshot has already lived since it was drawn.
 */
export function fadeDeadline(stroke: HeldStroke, firstSeen: number, fadeMs: number): number {
  if (stroke.pinned) return Number.POSITIVE_INFINITY;
  if (stroke.live) return firstSeen + fadeMs;
  const age = firstSeen - Date.parse(stroke.drawn_at);
  return firstSeen + fadeMs - Math.min(fadeMs, Math.max(0, Number.isNaN(age) ? 0 : age));
}

/**
 * Whether a stroke or pointer trail shows on a panel showing `sourceId`: one drawn on a source
 * marks that source's picture (wherever it is shown), one drawn on an empty panel that panel.
 */
export function onPanel(item: { panel_id: string; source_id: string | null }, panelId: string, sourceId: string | null): boolean {
  return item.source_id !== null ? item.source_id === sourceId : item.panel_id === panelId;
}

/** How long a stroke takes to fade out at the end of its life. */
export const FADE_OUT_MS = 1000;

/** The stroke's opacity at `now`: 1, then down to 0 over the last `FADE_OUT_MS`. */
export function strokeOpacity(deadline: number, now: number): number {
  if (!Number.isFinite(deadline)) return 1;
  const left = deadline - now;
  if (left <= 0) return 0;
  return Math.min(1, left / FADE_OUT_MS);
}

// ---- Who may do what (the contract's permissions, as this client can tell them) ----

/** What the checks need of the session state. */
export interface Standing {
  ready: boolean;
  status: string;
  role: "host" | "surgeon" | "observer" | null;
  permissions: readonly string[];
  teaching: TeachingState;
}

const live = (s: Standing) => s.ready && s.status === "live";

/**
 * Draw, point and clear one's own: editors (host and surgeon roles: the token's `edit_layout`),
 * everyone else while the host lets observers annotate.
 */
export function mayAnnotate(s: Standing): boolean {
  return live(s) && (s.permissions.includes("edit_layout") || s.teaching.settings.observers_may_annotate);
}

/** Clear everyone's drawings, answer questions, lower hands, change the settings: the host. */
export function isTeachingHost(s: Standing): boolean {
  return live(s) && s.role === "host";
}

/** Post in the chat: every member; the observer role only while observer chat is on. */
export function mayChat(s: Standing): boolean {
  return live(s) && (s.role !== "observer" || s.teaching.settings.observer_chat);
}

/** Ask a question, raise a hand: every member. */
export function mayTakePart(s: Standing): boolean {
  return live(s);
}
