// Teaching on live video (issue 21): the events, WebSocket messages and snapshot part.
//
// The WebSocket messages are the generated ones (schemas/ws/). The event data below are what the
// client itself builds and reads; the compile-time checks at the end of this file fail when
// they drift from the generated event types (schemas/events/).

/** `[x, y]`: 0..=1 of the displayed video's picture (letterboxing excluded), origin top-left. */
export type FramePoint = [number, number];
/** `[x, y, t_ms]`: a pointer sample, `t_ms` from the batch's first sample (0..=1000). */
export type PointerSample = [number, number, number];

export type StrokeKind = "freehand" | "arrow" | "circle";
export type ClearScope = "mine" | "all";

// ---- Events (`schemas/events/<Name>.json`): the `data` of each ----

export interface AnnotationStrokeData {
  stroke_id: string;
  panel_id: string;
  source_id: string | null;
  media_time_ms: number | null;
  kind: StrokeKind;
  /** 2..=256 after simplification; an arrow is `[tail, head]`, a circle `[centre, rim point]`. */
  points: FramePoint[];
  /** `#rrggbb` */
  color: string;
  /** 0.001..=0.05, a share of the frame's width. */
  width: number;
  pinned: boolean;
}

export interface AnnotationClearedData {
  scope: ClearScope;
  /** null: every panel. */
  panel_id: string | null;
}

export interface PointerMovedData {
  panel_id: string;
  source_id: string | null;
  /** 1..=20 samples. */
  points: PointerSample[];
}

export interface ChatMessagePostedData {
  message_id: string;
  /** 1..=1000 characters, plain text. */
  text: string;
  /** User ids of session members, at most 20. */
  mentions: string[];
}

export interface QuestionAskedData {
  question_id: string;
  /** 1..=500 characters. */
  text: string;
}

export interface QuestionAnsweredData {
  question_id: string;
}

/** The actor's user raised their hand. */
export type HandRaisedData = Record<string, never>;

export interface HandLoweredData {
  user_id: string;
}

export interface TeachingSettingsChangedData {
  observers_may_annotate?: boolean;
  observer_chat?: boolean;
  /** 1000..=600000 */
  stroke_fade_ms?: number;
}

export interface TeachingEventDataByType {
  AnnotationStroke: AnnotationStrokeData;
  AnnotationCleared: AnnotationClearedData;
  PointerMoved: PointerMovedData;
  ChatMessagePosted: ChatMessagePostedData;
  QuestionAsked: QuestionAskedData;
  QuestionAnswered: QuestionAnsweredData;
  HandRaised: HandRaisedData;
  HandLowered: HandLoweredData;
  TeachingSettingsChanged: TeachingSettingsChangedData;
}

export type TeachingEventType = keyof TeachingEventDataByType;

const TEACHING_TYPES: Record<TeachingEventType, true> = {
  AnnotationStroke: true,
  AnnotationCleared: true,
  PointerMoved: true,
  ChatMessagePosted: true,
  QuestionAsked: true,
  QuestionAnswered: true,
  HandRaised: true,
  HandLowered: true,
  TeachingSettingsChanged: true,
};

export const TEACHING_EVENT_TYPES = Object.keys(TEACHING_TYPES) as TeachingEventType[];

export function isTeachingEventType(type: string): type is TeachingEventType {
  return Object.prototype.hasOwnProperty.call(TEACHING_TYPES, type);
}

// ---- Client to server (`schemas/ws/<type>.json`), each answered by `ack` or `error` ----
// The generated types: the schemas are the contract.

export type {
  AnnotationStrokeMessage,
  AnnotationClearMessage,
  PointerMoveMessage,
  ChatPostMessage,
  QuestionAskMessage,
  QuestionAnswerMessage,
  HandRaiseMessage,
  HandLowerMessage,
  TeachingSettingsMessage,
} from "../api/generated/ws";
import type {
  AnnotationStrokeMessage,
  AnnotationClearMessage,
  PointerMoveMessage,
  ChatPostMessage,
  QuestionAskMessage,
  QuestionAnswerMessage,
  HandRaiseMessage,
  HandLowerMessage,
  TeachingSettingsMessage,
} from "../api/generated/ws";

export type TeachingClientMessage =
  | AnnotationStrokeMessage
  | AnnotationClearMessage
  | PointerMoveMessage
  | ChatPostMessage
  | QuestionAskMessage
  | QuestionAnswerMessage
  | HandRaiseMessage
  | HandLowerMessage
  | TeachingSettingsMessage;

/** A teaching message as `send` takes it: `ref` optional (the connection adds one). */
type WithOptionalRef<M> = M extends unknown ? Omit<M, "ref"> & { ref?: string } : never;
export type OutgoingTeachingMessage = WithOptionalRef<TeachingClientMessage>;

/** Error codes the contract adds to the `error` message (besides `forbidden`, `rate_limited`, …). */
export type TeachingErrorCode = "stroke_too_large" | "validation_failed" | "already_raised" | "rate_limited";

// ---- The snapshot's `teaching` (`SessionView`: replay and the `welcome`'s `session`) ----

export interface TeachingSettings {
  observers_may_annotate: boolean;
  observer_chat: boolean;
  stroke_fade_ms: number;
}

export interface TeachingStroke extends AnnotationStrokeData {
  user_id: string;
  participant_id: string | null;
  /** The event's recorded_at (RFC 3339). */
  drawn_at: string;
}

export interface TeachingChatMessage {
  message_id: string;
  user_id: string;
  text: string;
  mentions: string[];
  posted_at: string;
}

export interface TeachingQuestion {
  question_id: string;
  user_id: string;
  text: string;
  asked_at: string;
  answered_at: string | null;
}

export interface TeachingHand {
  user_id: string;
  raised_at: string;
}

export interface TeachingView {
  settings: TeachingSettings;
  /** Not cleared, pinned or younger than `stroke_fade_ms` at the view's time; at most 500. */
  strokes: TeachingStroke[];
  /** The last 200 messages. */
  chat: TeachingChatMessage[];
  /** Oldest first, at most 200. */
  questions: TeachingQuestion[];
  /** In the order raised. */
  hands: TeachingHand[];
}

/** Defaults before any `TeachingSettingsChanged`. */
export const DEFAULT_TEACHING_SETTINGS: TeachingSettings = {
  observers_may_annotate: false,
  observer_chat: true,
  stroke_fade_ms: 8000,
};

/** Limits the contract sets (the server refuses past them). */
export const LIMITS = {
  chatChars: 1000,
  questionChars: 500,
  mentions: 20,
  strokePoints: 256,
  pointerSamples: 20,
  pointerIntervalMs: 200,
  minWidth: 0.001,
  maxWidth: 0.05,
} as const;

// ---- Checks against the generated event types: each mirror must be assignable from the
// generated data (the generated ones also repeat the envelope's session, user and participant).
import type { EventDataByType } from "../api/generated/events";
type Assignable<To, From extends To> = From;
export type _Checks = [
  // Points: the generated types have plain arrays where the schema has tuples.
  Assignable<Omit<AnnotationStrokeData, "points">, Omit<EventDataByType["AnnotationStroke"], "points">>,
  Assignable<AnnotationClearedData, EventDataByType["AnnotationCleared"]>,
  Assignable<Omit<PointerMovedData, "points">, Omit<EventDataByType["PointerMoved"], "points">>,
  Assignable<ChatMessagePostedData, EventDataByType["ChatMessagePosted"]>,
  Assignable<QuestionAskedData, EventDataByType["QuestionAsked"]>,
  Assignable<QuestionAnsweredData, EventDataByType["QuestionAnswered"]>,
  Assignable<HandLoweredData, EventDataByType["HandLowered"]>,
  Assignable<TeachingSettingsChangedData, EventDataByType["TeachingSettingsChanged"]>,
];
