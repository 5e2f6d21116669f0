import { describe, expect, it } from "vitest";
import { ALICE, BOB, event, names } from "./fixtures";
import {
  EVENT_TYPES,
  actorLabel,
  formatTime,
  localInputToRfc3339,
  replayAtOf,
  rfc3339ToLocalInput,
  safeSummary,
  summarize,
  typeLabel,
  verifyMessage,
} from "./format";

const nameOf = (id: string) => names[id] ?? `user ${id.slice(0, 8)}`;

const panels = [
  { id: "p1", x: 6, y: 0, w: 6, h: 6, z: 0, source_id: null },
  { id: "p2", x: 0, y: 0, w: 4, h: 3, z: 2, source_id: "endoscope" },
];

describe("typeLabel", () => {
  it("turns a type name into words", () => {
    expect(typeLabel("LayoutUpdated")).toBe("Layout updated");
    expect(typeLabel("AuditTrailRead")).toBe("Audit trail read");
    expect(typeLabel("AccessDenied")).toBe("Access denied");
  });
});

describe("EVENT_TYPES", () => {
  it("lists every generated event type once, sorted", () => {
    expect(EVENT_TYPES).toContain("LayoutUpdated");
    expect(EVENT_TYPES).toContain("MediaQualitySampled");
    expect(new Set(EVENT_TYPES).size).toBe(EVENT_TYPES.length);
    expect([...EVENT_TYPES].sort()).toEqual(EVENT_TYPES);
    expect(EVENT_TYPES).toContain("ArchiveAccessed");
    expect(EVENT_TYPES.length).toBe(56);
    expect(EVENT_TYPES).toContain("MediaPlaced");
    expect(EVENT_TYPES).toContain("AnnotationStroke");
    expect(EVENT_TYPES).toContain("SourceStalled");
  });
});

describe("summarize", () => {
  it("says where a panel was moved, from the resulting panels", () => {
    const e = event("LayoutUpdated", {
      session_id: "s1",
      version: 2,
      base_version: 1,
      changes: [{ panel_id: "p1", field: "x", value: 6 }],
      conflicts: [],
      panels,
      changed_by: { user_id: ALICE, role: "surgeon", participant_id: null },
    });
    expect(summarize(e, nameOf)).toBe("moved panel p1 to 6,0 (version 2)");
  });

  it("says where a session's media was placed, and why again", () => {
    const placed = { session_id: "s1", node_id: "n-a", url: "https://a.example.org", previous_node_id: null };
    expect(summarize(event("MediaPlaced", { ...placed, reason: "first_join" }), nameOf)).toBe(
      "media placed on node n-a (https://a.example.org)",
    );
    expect(
      summarize(event("MediaPlaced", { ...placed, node_id: "n-b", url: "https://b.example.org", reason: "node_gone", previous_node_id: "n-a" }), nameOf),
    ).toBe("media placed again on node n-b (https://b.example.org): node n-a stopped");
  });

  it("describes resizes, sources, added and removed panels and conflicts", () => {
    const e = event("LayoutUpdated", {
      session_id: "s1",
      version: 5,
      base_version: 3,
      changes: [
        { panel_id: "p2", field: "w", value: 4 },
        { panel_id: "p2", field: "source_id", value: "endoscope" },
        { panel_id: null, field: "panels", value: { added: [{ id: "p9", x: 0, y: 6, w: 2, h: 2, z: 0, source_id: null }], removed: ["p4"] } },
      ],
      conflicts: [{ panel_id: "p2", field: "w", winner: { user_id: ALICE }, loser: { user_id: BOB, role: "surgeon", participant_id: null }, loser_version: 4 }],
      panels,
      changed_by: { user_id: ALICE, role: "surgeon", participant_id: null },
    });
    expect(summarize(e, nameOf)).toBe(
      "added panel p9 at 0,6 (2x2), removed panel p4, resized panel p2 to 4x3, showed endoscope in panel p2 (version 5); overwrote w of p2 by Bob (version 4)",
    );
  });

  it("says how someone joined, left and was added", () => {
    expect(
      summarize(event("ParticipantJoined", { session_id: "s1", participant_id: "p", user_id: ALICE, role: "observer", device: null }), nameOf),
    ).toBe("joined as observer");
    expect(
      summarize(event("ParticipantJoined", { session_id: "s1", participant_id: "p", user_id: ALICE, role: "host", device: "OR tablet" }), nameOf),
    ).toBe("joined as host from OR tablet");
    expect(
      summarize(event("ParticipantLeft", { session_id: "s1", participant_id: "p", user_id: BOB, reason: "kicked" }), nameOf),
    ).toBe("Bob left (kicked)");
    expect(summarize(event("MemberAdded", { session_id: "s1", user_id: BOB, role: "surgeon" }), nameOf)).toBe(
      "added Bob as surgeon",
    );
  });

  it("says what became of each archive and who was given a playback link", () => {
    const a = { session_id: "s1", archive_id: "0aa11bb2-0000-7000-8000-000000000001" };
    expect(summarize(event("ArchiveOpened", { ...a, recording_id: "r", source: "endoscope", expires_at: "2027-01-01T00:00:00Z" }), nameOf)).toBe(
      "began recording endoscope (archive 0aa11bb2)",
    );
    expect(
      summarize(event("SegmentStored", { ...a, seq: 3, object_key: "k", bytes: 1_200_000, sha256: "ab", start_ms: 12_000, duration_ms: 4000 }), nameOf),
    ).toBe("stored segment 3 of archive 0aa11bb2 (1.2 MB, 0:04)");
    expect(summarize(event("RecordingOverrun", { ...a, source: "endoscope", dropped_frames: 12 }), nameOf)).toBe(
      "recorder fell behind on endoscope: 12 frames dropped",
    );
    expect(summarize(event("ArchiveClosed", { ...a, reason: "interrupted" }), nameOf)).toContain("interrupted");
    expect(
      summarize(
        event("ArchiveFinalised", { ...a, status: "ready", object_key: "k", content_type: "video/mp4", bytes: 5_000_000, duration_ms: 10_000, sha256: "ab", reason: null }),
        nameOf,
      ),
    ).toBe("archive 0aa11bb2 ready: 0:10, 5.0 MB");
    expect(summarize(event("ArchiveAccessed", { ...a, user_id: BOB, url_expires_at: "2026-12-03T08:05:00Z" }), nameOf)).toMatch(
      /^Bob was given a playback link to archive 0aa11bb2/,
    );
    expect(summarize(event("ArchiveRetentionChanged", { ...a, expires_at: "2027-01-01T00:00:00Z", legal_hold: true }), nameOf)).toContain("on legal hold");
    expect(summarize(event("ArchiveExpired", { ...a, objects_deleted: 4 }), nameOf)).toBe("archive 0aa11bb2 expired: 4 objects deleted");
  });

  it("names media events by their source", () => {
    const base = { session_id: "s1", resource_id: "r", participant_id: "p", user_id: ALICE };
    expect(summarize(event("PublisherConnected", { ...base, source: "endoscope" }), nameOf)).toBe("published endoscope");
    expect(summarize(event("PublisherDisconnected", { ...base, source: "endoscope", reason: "session_ended" }), nameOf)).toBe(
      "stopped publishing endoscope (session ended)",
    );
    expect(
      summarize(event("TrackPublished", { session_id: "s1", resource_id: "r", source: "endoscope", kind: "video", codec: "vp8", mid: "0" }), nameOf),
    ).toBe("endoscope: video track vp8 (mid 0)");
    expect(summarize(event("SubscriptionChanged", { ...base, slots: ["endoscope", null], previous: [null, null] }), nameOf)).toBe(
      "now watching endoscope, nothing",
    );
    expect(
      summarize(
        event("MediaQualitySampled", {
          session_id: "s1", resource_id: "r", source: "endoscope", kind: "video", mid: "0",
          bitrate_bps: 2_500_000, packets: 990, packets_lost: 10, jitter_us: null, rtt_ms: 20, interval_ms: 10000,
        }),
        nameOf,
      ),
    ).toBe("endoscope video: 2.5 Mbit/s, 1.0% lost, rtt 20 ms");
  });

  it("spells out a replayed refresh token and a throttled sign-in, with no secret to show", () => {
    const reused = event("RefreshTokenReused", { user_id: BOB, family_id: "f1" });
    expect(summarize(reused, nameOf)).toBe(`a used refresh token of ${nameOf(BOB)} was replayed: that sign-in is revoked`);
    const throttled = event("SignInThrottled", { user_id: BOB, address: "192.0.2.7", failures: 6, delay_secs: 1 });
    expect(summarize(throttled, nameOf)).toBe(`sign-in of ${nameOf(BOB)} from 192.0.2.7 delayed 1 s after 6 wrong passwords`);
  });

  it("spells out a refusal and an audit read", () => {
    const denied = event(
      "AccessDenied",
      {
        user_id: BOB, session_id: "s1", action: "update_layout", method: "PATCH",
        route: "/v1/sessions/{id}/layout", status: 403, reason: "reviewers never join or change a session",
      },
      { outcome: "denied" },
    );
    expect(summarize(denied, nameOf)).toBe(
      "refused update layout (PATCH /v1/sessions/{id}/layout, 403): reviewers never join or change a session",
    );
    const read = event("AuditTrailRead", { user_id: BOB, session_id: "s1", kind: "events", query: { type: "LayoutUpdated", actor: ALICE } });
    expect(summarize(read, nameOf)).toBe("read the audit trail (type=LayoutUpdated, actor=Dr Alice)");
    const replay = event("AuditTrailRead", { user_id: BOB, session_id: "s1", kind: "replay", query: {} });
    expect(summarize(replay, nameOf)).toBe("replayed the session");
    const at = "2026-12-02T05:41:13.310+00:00";
    const replayAt = event("AuditTrailRead", { user_id: BOB, session_id: "s1", kind: "replay", query: { at } });
    expect(summarize(replayAt, nameOf)).toBe(`replayed the session (at=${formatTime(at)})`);
  });

  it("says so when the log no longer has the data, and survives data of another shape", () => {
    expect(summarize(event("SessionStarted", null), nameOf)).toBe("(data no longer in the log)");
    expect(safeSummary(event("LayoutInitialized", { version: 1 }), nameOf)).toBe("");
    expect(summarize(event("SomethingNew", { a: 1 }), nameOf)).toBe("");
  });
});

describe("actorLabel", () => {
  it("shows the name and org role, and the command line as the system", () => {
    expect(actorLabel(event("SessionStarted", {}), nameOf)).toBe("Dr Alice (surgeon)");
    expect(actorLabel(event("UserRegistered", {}, { actor_user_id: "00000000-0000-0000-0000-000000000000" }), nameOf)).toBe(
      "System (command line)",
    );
  });
  it("names the first-start setup when the first admin registered themselves", () => {
    const own = event("UserRegistered", { user_id: ALICE, username: "alice", display_name: "Dr Alice", role: "admin" }, { actor_role: "admin" });
    expect(actorLabel(own, nameOf)).toBe("Dr Alice (first-start setup)");
    const byAdmin = event("UserRegistered", { user_id: BOB, username: "bob", display_name: "Dr Bob", role: "surgeon" }, { actor_role: "admin" });
    expect(actorLabel(byAdmin, nameOf)).toBe("Dr Alice (admin)");
  });
});

describe("times", () => {
  it("shows seconds and milliseconds", () => {
    expect(formatTime("2026-12-02T05:41:13.303163Z", "en-GB")).toMatch(/:13[.,]303/);
  });
  it("pads a replay time to the end of its millisecond", () => {
    expect(replayAtOf(Date.UTC(2026, 11, 2, 5, 41, 13, 303))).toBe("2026-12-02T05:41:13.303999Z");
  });
  it("converts datetime-local values to UTC and back", () => {
    const utc = localInputToRfc3339("2026-12-02T06:41:13");
    expect(utc).toBe(new Date(2026, 11, 2, 6, 41, 13).toISOString());
    expect(rfc3339ToLocalInput(utc!)).toBe("2026-12-02T06:41:13");
    expect(localInputToRfc3339("")).toBeNull();
    expect(localInputToRfc3339("not a date")).toBeNull();
  });
});

describe("verifyMessage", () => {
  it("counts what was verified", () => {
    expect(verifyMessage({ ok: true, events_checked: 6, streams_checked: 1 })).toBe(
      "Hash chain intact: 6 events in 1 stream verified",
    );
  });
  it("names the first broken link", () => {
    expect(
      verifyMessage({ ok: false, events_checked: 3, streams_checked: 1, broken: { stream: "session-s1", version: 3, reason: "hash mismatch" } }),
    ).toBe("Hash chain broken at session-s1, version 3");
  });
});
