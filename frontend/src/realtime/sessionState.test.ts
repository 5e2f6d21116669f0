import { describe, expect, it } from "vitest";
import { canEditLayout, canRecord, initialSessionState, isRecording, sessionReducer, sourcesInUse, type SessionState } from "./sessionState";
import { ALICE, ME, aliceActor, event, meActor, panel, welcome, welcomeRecording } from "./testFixtures";
import type { ServerMessage } from "../api/generated/ws";

function fold(...msgs: ServerMessage[]): SessionState {
  return msgs.reduce(sessionReducer, initialSessionState);
}

const joinedAlice = event(11, "ParticipantJoined", {
  participant_id: ALICE.participant_id,
  user_id: ALICE.user_id,
  role: "host",
  device: "OR tablet",
});

describe("sessionReducer", () => {
  it("takes the welcome as the snapshot", () => {
    const s = fold(welcome({ position: 10, role: "observer", permissions: ["subscribe"] }));
    expect(s.ready).toBe(true);
    expect(s.position).toBe(10);
    expect(s.title).toBe("Knee arthroscopy");
    expect(s.status).toBe("live");
    expect(s.role).toBe("observer");
    expect(s.layout.version).toBe(1);
    expect(s.layout.panels.map((p) => p.id)).toEqual(["p1", "p2"]);
    expect(s.participants).toHaveLength(1);
    expect(canEditLayout(s)).toBe(false);
    expect(canEditLayout(fold(welcome()))).toBe(true);
  });

  it("ignores events before the first welcome", () => {
    expect(sessionReducer(initialSessionState, joinedAlice)).toBe(initialSessionState);
  });

  it("ignores events at or below the current position (dedupe)", () => {
    const s = fold(welcome({ position: 10 }), joinedAlice);
    expect(s.participants).toHaveLength(2);
    const again = sessionReducer(s, joinedAlice);
    expect(again).toBe(s);
    const old = sessionReducer(
      s,
      event(9, "ParticipantLeft", { participant_id: ME.participant_id, user_id: ME.user_id, reason: "left" }),
    );
    expect(old).toBe(s);
  });

  it("replaces the whole panel set on LayoutUpdated and records its conflicts", () => {
    const s = fold(
      welcome({ position: 10 }),
      event(11, "LayoutUpdated", {
        version: 2,
        base_version: 1,
        changes: [{ panel_id: "p1", field: "x", value: 3 }, { panel_id: "p2", field: "panels", value: null }],
        conflicts: [{ panel_id: "p1", field: "x", winner: aliceActor, loser: meActor, loser_version: 1 }],
        panels: [panel("p1", 3, 0)],
        changed_by: aliceActor,
      }),
    );
    expect(s.position).toBe(11);
    expect(s.layout).toEqual({ version: 2, panels: [panel("p1", 3, 0)] });
    expect(s.lastConflicts).toEqual({
      position: 11,
      layoutVersion: 2,
      conflicts: [{ panel_id: "p1", field: "x", winner: aliceActor, loser: meActor, loser_version: 1 }],
    });
    // A later write without conflicts keeps the last notice (the screen tells them apart by position).
    const t = sessionReducer(
      s,
      event(12, "LayoutUpdated", {
        version: 3,
        base_version: 2,
        changes: [{ panel_id: "p1", field: "y", value: 1 }],
        conflicts: [],
        panels: [panel("p1", 3, 1)],
        changed_by: meActor,
      }),
    );
    expect(t.layout.panels[0]?.y).toBe(1);
    expect(t.lastConflicts?.position).toBe(11);
  });

  it("sets one panel's source on SourceSelected", () => {
    const s = fold(
      welcome(),
      event(11, "SourceSelected", { panel_id: "p1", source_id: "room-cam", layout_version: 2, changed_by: aliceActor }),
    );
    expect(s.layout.version).toBe(2);
    expect(s.layout.panels.find((p) => p.id === "p1")?.source_id).toBe("room-cam");
    expect(s.layout.panels.find((p) => p.id === "p2")?.source_id).toBe("endoscope");
    const cleared = sessionReducer(
      s,
      event(12, "SourceSelected", { panel_id: "p2", source_id: null, layout_version: 3, changed_by: aliceActor }),
    );
    expect(sourcesInUse(cleared.layout.panels)).toEqual(["room-cam"]);
  });

  it("takes a new layout on LayoutInitialized", () => {
    const s = fold(welcome(), event(11, "LayoutInitialized", { version: 1, panels: [panel("a", 0, 0, 12, 12)] }));
    expect(s.layout.panels).toEqual([panel("a", 0, 0, 12, 12)]);
  });

  it("tracks presence: join (once per participant) and leave", () => {
    let s = fold(welcome(), joinedAlice);
    expect(s.participants.map((p) => p.participant_id)).toEqual([ME.participant_id, ALICE.participant_id]);
    s = sessionReducer(
      s,
      event(12, "ParticipantJoined", { participant_id: ALICE.participant_id, user_id: ALICE.user_id, role: "host", device: null }),
    );
    expect(s.participants).toHaveLength(2);
    s = sessionReducer(
      s,
      event(13, "ParticipantLeft", { participant_id: ALICE.participant_id, user_id: ALICE.user_id, reason: "timed_out" }),
    );
    expect(s.participants.map((p) => p.participant_id)).toEqual([ME.participant_id]);
  });

  it("tracks members and their roles, including the caller's own role", () => {
    let s = fold(welcome(), event(11, "MemberAdded", { user_id: "u-bob", role: "observer" }));
    expect(s.members.map((m) => m.user_id)).toEqual([ME.user_id, ALICE.user_id, "u-bob"]);
    s = sessionReducer(s, event(12, "MemberRoleChanged", { user_id: ME.user_id, from: "surgeon", to: "observer" }));
    expect(s.role).toBe("observer");
    expect(s.members.find((m) => m.user_id === ME.user_id)?.role).toBe("observer");
    expect(s.participants.find((p) => p.user_id === ME.user_id)?.role).toBe("observer");
    s = sessionReducer(s, event(13, "MemberRemoved", { user_id: "u-bob" }));
    expect(s.members).toHaveLength(2);
  });

  it("follows the session's status and title", () => {
    const s = fold(welcome(), event(11, "SessionDetailsChanged", { title: "Hip" }), event(12, "SessionEnded", {}));
    expect(s.title).toBe("Hip");
    expect(s.status).toBe("ended");
    expect(fold(welcome({}, { status: "scheduled" }), event(11, "SessionStarted", {})).status).toBe("live");
    expect(fold(welcome(), event(11, "SessionCancelled", { reason: null })).status).toBe("cancelled");
  });

  it("follows the recording", () => {
    let s = fold(welcome(), event(11, "RecordingRequested", { recording_id: "rec1" }));
    expect(s.recording).toEqual({ status: "requested", recording_id: "rec1" });
    s = sessionReducer(s, event(12, "RecordingStarted", { recording_id: "rec1" }));
    expect(s.recording.status).toBe("recording");
    s = sessionReducer(s, event(13, "RecordingStopped", { recording_id: "rec1" }));
    expect(s.recording.status).toBe("stopped");
  });

  it("takes the recording from the welcome's flag, which wins over the session's own", () => {
    expect(isRecording(fold(welcome()))).toBe(false);
    expect(isRecording(fold(welcomeRecording(true, "rec1", { recording: { status: "idle", recording_id: null } })))).toBe(true);
    const flagged = fold(welcomeRecording(true, "rec2"));
    expect(flagged.recording).toEqual({ status: "recording", recording_id: "rec2" });
    const stopped = fold(welcomeRecording(false, null, { recording: { status: "recording", recording_id: "rec1" } }));
    expect(stopped.recording).toEqual({ status: "stopped", recording_id: "rec1" });
    expect(isRecording(initialSessionState)).toBe(false);
  });

  it("lets those who edit the layout of a live session record, nobody else", () => {
    expect(canRecord(fold(welcome()))).toBe(true);
    expect(canRecord(fold(welcome({ role: "observer", permissions: ["subscribe"] })))).toBe(false);
    expect(canRecord(fold(welcome({}, { status: "ended" })))).toBe(false);
  });

  it("moves the position on media events without other changes", () => {
    const w = fold(welcome());
    const s = sessionReducer(
      w,
      event(11, "TrackPublished", { resource_id: "r", source: "endoscope", kind: "video", codec: "vp8", mid: "0" }),
    );
    expect(s.position).toBe(11);
    expect(s.layout).toEqual(w.layout);
  });

  it("moves to the resumed position and lets a fresh welcome replace everything", () => {
    let s = fold(welcome({ position: 10 }), joinedAlice);
    s = sessionReducer(s, { type: "resumed", after_position: 11, position: 15, replayed: 0 });
    expect(s.position).toBe(15);
    s = sessionReducer(s, welcome({ position: 2000, reason: "resume_too_far_behind" }, { participants: [] }));
    expect(s.position).toBe(2000);
    expect(s.participants).toEqual([]);
  });

  it("leaves the state alone on ack, error and pong", () => {
    const s = fold(welcome());
    expect(sessionReducer(s, { type: "ack", ref: "r", position: 99, layout_version: 5 })).toBe(s);
    expect(sessionReducer(s, { type: "error", ref: "r", code: "forbidden", message: "no" })).toBe(s);
    expect(sessionReducer(s, { type: "pong", ref: null, time: "t" })).toBe(s);
  });
});
