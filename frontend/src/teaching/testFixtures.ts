// Teaching events and strokes for tests, shaped as the contract says (not used by the app).
import type { EventMessage } from "../api/generated/ws";
import { ALICE } from "../realtime/testFixtures";
import type { AnnotationStrokeData, TeachingEventDataByType } from "./types";

export const BOB = { user_id: "u-bob", participant_id: "pt-bob" };
let position = 100;

/** A teaching event as the socket pushes it. */
export function teachingEvent<T extends keyof TeachingEventDataByType>(
  type: T,
  data: TeachingEventDataByType[T],
  who: { user_id: string; participant_id: string } = ALICE,
  time = "2026-12-02T06:00:00.000Z",
): EventMessage {
  position += 1;
  return {
    type: "event",
    position,
    stream: "session-s",
    version: position,
    id: `ev-${position}`,
    event_type: type as unknown as EventMessage["event_type"],
    schema_version: 1,
    data: data as never,
    actor: { user_id: who.user_id, role: "surgeon", participant_id: who.participant_id },
    time,
    correlation_id: `c-${position}`,
  };
}

export function strokeData(over: Partial<AnnotationStrokeData> = {}): AnnotationStrokeData {
  return {
    stroke_id: `s-${(position += 1)}`,
    panel_id: "p2",
    source_id: "endoscope",
    media_time_ms: 1200,
    kind: "arrow",
    points: [
      [0.1, 0.1],
      [0.4, 0.5],
    ],
    color: "#00e5ff",
    width: 0.004,
    pinned: false,
    ...over,
  };
}

