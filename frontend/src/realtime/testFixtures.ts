// Server messages for tests, shaped as the schemas say.
import type { EventDataByType, EventType } from "../api/generated/events";
import type { EventMessage, Panel, WelcomeMessage } from "../api/generated/ws";

export const SESSION_ID = "0b0e0000-0000-4000-8000-000000000001";
export const ME = { user_id: "u-me", participant_id: "pt-me" };
export const ALICE = { user_id: "u-alice", participant_id: "pt-alice" };

export function panel(id: string, x: number, y: number, w = 6, h = 6, source_id: string | null = null): Panel {
  return { id, x, y, w, h, z: 0, source_id };
}

export function welcome(over: Partial<WelcomeMessage> = {}, session: Partial<WelcomeMessage["session"]> = {}): WelcomeMessage {
  return {
    type: "welcome",
    protocol: 1,
    reason: "connect",
    participant_id: ME.participant_id,
    user_id: ME.user_id,
    role: "surgeon",
    permissions: ["publish", "subscribe", "edit_layout"],
    position: 10,
    heartbeat_interval_ms: 10_000,
    heartbeat_timeout_ms: 30_000,
    recording: { active: false, recording_id: null },
    ...over,
    session: {
      session_id: SESSION_ID,
      title: "Knee arthroscopy",
      status: "live",
      members: [
        { user_id: ME.user_id, role: "surgeon" },
        { user_id: ALICE.user_id, role: "host" },
      ],
      participants: [{ participant_id: ME.participant_id, user_id: ME.user_id, role: "surgeon", device: "browser" }],
      layout: { version: 1, panels: [panel("p1", 0, 0), panel("p2", 6, 0, 6, 6, "endoscope")] },
      sources: [{ panel_id: "p2", source_id: "endoscope" }],
      recording: { status: "idle", recording_id: null },
      teaching: {
        settings: { observers_may_annotate: false, observer_chat: true, stroke_fade_ms: 8000 },
        strokes: [],
        chat: [],
        questions: [],
        hands: [],
      },
      media: null,
      ...session,
    },
  };
}

let version = 1;

export function event<T extends EventType>(
  position: number,
  event_type: T,
  data: Omit<EventDataByType[T], "session_id">,
  actor: EventMessage["actor"] = { user_id: ALICE.user_id, role: "surgeon", participant_id: ALICE.participant_id },
): EventMessage {
  return {
    type: "event",
    position,
    stream: `session-${SESSION_ID}`,
    version: version++,
    id: `ev-${position}`,
    event_type: event_type as EventMessage["event_type"],
    schema_version: 1,
    data: { session_id: SESSION_ID, ...data },
    actor,
    time: "2026-12-02T06:00:00Z",
    correlation_id: `c-${position}`,
  };
}

export const aliceActor = { user_id: ALICE.user_id, role: "surgeon", participant_id: ALICE.participant_id };
export const meActor = { user_id: ME.user_id, role: "surgeon", participant_id: ME.participant_id };

/** A welcome with issue 14's `recording: {active, recording_id}` (not in the generated type yet). */
export function welcomeRecording(active: boolean, recording_id: string | null, session: Partial<WelcomeMessage["session"]> = {}, over: Partial<WelcomeMessage> = {}): WelcomeMessage {
  return Object.assign(welcome(over, session), { recording: { active, recording_id } });
}
