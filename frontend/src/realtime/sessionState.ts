// The session as one client sees it: the `welcome` snapshot, then every `event` folded in.
// Pure, so every participant that applies the same messages holds the same state (the
// server's promise), and so it can be tested without a socket.
import { recordingFlagOf } from "../api/archives";
import type { EventDataByType, LayoutUpdatedData } from "../api/generated/events";
import type { EventMessage, Panel, ServerMessage, Session, WelcomeMessage } from "../api/generated/ws";
import { applyTeachingEvent, initialTeachingState, teachingOfSession, type TeachingState } from "../teaching/state";

export type SessionRole = Session["members"][number]["role"];
export type Member = Session["members"][number];
export type Participant = Session["participants"][number];
export type Permission = WelcomeMessage["permissions"][number];
export type Conflict = LayoutUpdatedData["conflicts"][number];

export interface LayoutState {
  version: number;
  panels: Panel[];
}

export interface ConflictNotice {
  /** Log position of the `LayoutUpdated` that named them: tells one notice from the next. */
  position: number;
  layoutVersion: number;
  conflicts: Conflict[];
}

export interface SessionState {
  /** False until the first `welcome`: nothing below is meaningful before it. */
  ready: boolean;
  /** The last log position folded in (snapshot or event). */
  position: number;
  sessionId: string;
  title: string;
  status: Session["status"];
  /** This connection's participant, user, session role and token permissions. */
  participantId: string;
  userId: string;
  role: SessionRole | null;
  permissions: Permission[];
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  members: Member[];
  /** Who is present now. */
  participants: Participant[];
  layout: LayoutState;
  recording: Session["recording"];
  /** The contested fields of the last layout write that had any. */
  lastConflicts: ConflictNotice | null;
  /** Drawings, chat, questions and raised hands (issue 21). */
  teaching: TeachingState;
}

export const initialSessionState: SessionState = {
  ready: false,
  position: 0,
  sessionId: "",
  title: "",
  status: "scheduled",
  participantId: "",
  userId: "",
  role: null,
  permissions: [],
  heartbeatIntervalMs: 10_000,
  heartbeatTimeoutMs: 30_000,
  members: [],
  participants: [],
  layout: { version: 0, panels: [] },
  recording: { status: "idle", recording_id: null },
  lastConflicts: null,
  teaching: initialTeachingState,
};

function fromWelcome(w: WelcomeMessage): SessionState {
  const s = w.session;
  return {
    ready: true,
    position: w.position,
    sessionId: s.session_id,
    title: s.title,
    status: s.status,
    participantId: w.participant_id,
    userId: w.user_id,
    role: w.role,
    permissions: [...w.permissions],
    heartbeatIntervalMs: w.heartbeat_interval_ms,
    heartbeatTimeoutMs: w.heartbeat_timeout_ms,
    members: s.members.map((m) => ({ ...m })),
    participants: s.participants.map((p) => ({ ...p })),
    layout: { version: s.layout.version, panels: s.layout.panels.map((p) => ({ ...p })) },
    recording: recordingOfWelcome(w),
    lastConflicts: null,
    teaching: teachingOfSession(s),
  };
}

/**
 * The recording state of a `welcome`: the session's own, unless the welcome's `recording`
 * flag (issue 14: `{active, recording_id}`) says otherwise, which then wins.
 */
function recordingOfWelcome(w: WelcomeMessage): Session["recording"] {
  const own = w.session.recording;
  const flag = recordingFlagOf(w);
  if (!flag) return { ...own };
  if (flag.active) return { status: "recording", recording_id: flag.recording_id ?? own.recording_id };
  return own.status === "recording" ? { status: "stopped", recording_id: own.recording_id } : { ...own };
}

/** True while the session is being recorded (everyone is shown so). */
export function isRecording(state: SessionState): boolean {
  return state.ready && state.recording.status === "recording";
}

/** The typed `data` of an event of a known type. */
export function dataOf<T extends keyof EventDataByType>(event: EventMessage, type: T): EventDataByType[T] | null {
  return event.event_type === type ? (event.data as EventDataByType[T]) : null;
}

function applyEvent(state: SessionState, e: EventMessage): SessionState {
  const next: SessionState = { ...state, position: e.position };
  switch (e.event_type) {
    case "LayoutInitialized": {
      const d = e.data as EventDataByType["LayoutInitialized"];
      next.layout = { version: d.version, panels: d.panels.map((p) => ({ ...p })) };
      break;
    }
    case "LayoutUpdated": {
      const d = e.data as EventDataByType["LayoutUpdated"];
      // `panels` is the whole set after the write: replace, never merge.
      next.layout = { version: d.version, panels: d.panels.map((p) => ({ ...p })) };
      if (d.conflicts.length > 0) {
        next.lastConflicts = { position: e.position, layoutVersion: d.version, conflicts: d.conflicts };
      }
      break;
    }
    case "SourceSelected": {
      const d = e.data as EventDataByType["SourceSelected"];
      next.layout = {
        version: d.layout_version,
        panels: state.layout.panels.map((p) => (p.id === d.panel_id ? { ...p, source_id: d.source_id } : p)),
      };
      break;
    }
    case "ParticipantJoined": {
      const d = e.data as EventDataByType["ParticipantJoined"];
      const joined: Participant = {
        participant_id: d.participant_id,
        user_id: d.user_id,
        role: d.role,
        device: d.device,
      };
      next.participants = [...state.participants.filter((p) => p.participant_id !== d.participant_id), joined];
      break;
    }
    case "ParticipantLeft": {
      const d = e.data as EventDataByType["ParticipantLeft"];
      next.participants = state.participants.filter((p) => p.participant_id !== d.participant_id);
      break;
    }
    case "MemberAdded": {
      const d = e.data as EventDataByType["MemberAdded"];
      next.members = [...state.members.filter((m) => m.user_id !== d.user_id), { user_id: d.user_id, role: d.role }];
      break;
    }
    case "MemberRemoved": {
      const d = e.data as EventDataByType["MemberRemoved"];
      next.members = state.members.filter((m) => m.user_id !== d.user_id);
      break;
    }
    case "MemberRoleChanged": {
      const d = e.data as EventDataByType["MemberRoleChanged"];
      next.members = state.members.map((m) => (m.user_id === d.user_id ? { ...m, role: d.to } : m));
      next.participants = state.participants.map((p) => (p.user_id === d.user_id ? { ...p, role: d.to } : p));
      if (d.user_id === state.userId) next.role = d.to;
      break;
    }
    case "SessionDetailsChanged": {
      const d = e.data as EventDataByType["SessionDetailsChanged"];
      if (d.title !== null) next.title = d.title;
      break;
    }
    case "SessionStarted":
      next.status = "live";
      break;
    case "SessionEnded":
      next.status = "ended";
      break;
    case "SessionCancelled":
      next.status = "cancelled";
      break;
    case "RecordingRequested": {
      const d = e.data as EventDataByType["RecordingRequested"];
      next.recording = { status: "requested", recording_id: d.recording_id };
      break;
    }
    case "RecordingStarted": {
      const d = e.data as EventDataByType["RecordingStarted"];
      next.recording = { status: "recording", recording_id: d.recording_id };
      break;
    }
    case "RecordingStopped": {
      const d = e.data as EventDataByType["RecordingStopped"];
      next.recording = { status: "stopped", recording_id: d.recording_id };
      break;
    }
    default:
      // Teaching events fold into their part; media and other events change nothing here.
      next.teaching = applyTeachingEvent(state.teaching, e);
      break;
  }
  return next;
}

/**
 * Folds one server message into the state. Events at or below the current position are
 * ignored (a resume may overlap what was seen), as are events before the first `welcome`.
 * Returns the same object when nothing changed.
 */
export function sessionReducer(state: SessionState, msg: ServerMessage): SessionState {
  switch (msg.type) {
    case "welcome":
      return fromWelcome(msg);
    case "event":
      if (!state.ready || msg.position <= state.position) return state;
      return applyEvent(state, msg);
    case "resumed":
      if (!state.ready || msg.position <= state.position) return state;
      return { ...state, position: msg.position };
    default:
      return state;
  }
}

/** The distinct sources the panels show, in panel order. */
export function sourcesInUse(panels: readonly Panel[]): string[] {
  const out: string[] = [];
  for (const p of panels) {
    if (p.source_id && !out.includes(p.source_id)) out.push(p.source_id);
  }
  return out;
}

export function canEditLayout(state: SessionState): boolean {
  return state.ready && state.permissions.includes("edit_layout");
}

/**
 * Whether this participant may start and stop recording: the domain grants it exactly where it
 * grants editing the layout (hosts and surgeons of the session, never org observers; admins),
 * and the token's `edit_layout` permission is that grant.
 */
export function canRecord(state: SessionState): boolean {
  return canEditLayout(state) && state.status === "live";
}
