import { describe, expect, it } from "vitest";
import type { EventMessage } from "../api/generated/ws";
import { sessionReducer, initialSessionState } from "../realtime/sessionState";
import { ALICE, ME, welcome } from "../realtime/testFixtures";
import {
  applyTeachingEvent,
  fadeDeadline,
  initialTeachingState,
  isTeachingHost,
  mayAnnotate,
  mayChat,
  onPanel,
  strokeOpacity,
  teachingOf,
  type HeldStroke,
  type TeachingState,
} from "./state";
import { BOB, strokeData, teachingEvent } from "./testFixtures";
import type { TeachingView } from "./types";

const fold = (state: TeachingState, ...events: EventMessage[]) => events.reduce(applyTeachingEvent, state);

describe("the teaching state", () => {
  it("starts from the snapshot's teaching, with the contract's defaults when absent", () => {
    expect(teachingOf(undefined)).toEqual(initialTeachingState);
    expect(initialTeachingState.settings).toEqual({ observers_may_annotate: false, observer_chat: true, stroke_fade_ms: 8000 });
    const view: Partial<TeachingView> = { settings: { observers_may_annotate: true, observer_chat: false, stroke_fade_ms: 4000 }, hands: [{ user_id: BOB.user_id, raised_at: "t" }] };
    const s = sessionReducer(initialSessionState, welcome({}, { teaching: view } as never));
    expect(s.teaching.settings.observers_may_annotate).toBe(true);
    expect(s.teaching.hands).toEqual([{ user_id: BOB.user_id, raised_at: "t" }]);
  });

  it("adds strokes with who drew them and when; clear mine takes only the actor's, clear all every one", () => {
    const a = strokeData();
    const b = strokeData({ panel_id: "p1", source_id: null, kind: "freehand" });
    let s = fold(initialTeachingState, teachingEvent("AnnotationStroke", a), teachingEvent("AnnotationStroke", b, BOB));
    expect(s.strokes.map((x) => [x.stroke_id, x.user_id, x.participant_id])).toEqual([
      [a.stroke_id, ALICE.user_id, ALICE.participant_id],
      [b.stroke_id, BOB.user_id, BOB.participant_id],
    ]);
    expect(s.strokes[0]).toMatchObject({ drawn_at: "2026-12-02T06:00:00.000Z", live: true, points: a.points, kind: "arrow" });

    const cleared = fold(s, teachingEvent("AnnotationCleared", { scope: "mine", panel_id: null }, BOB));
    expect(cleared.strokes.map((x) => x.stroke_id)).toEqual([a.stroke_id]);
    // Clearing one panel leaves the others'.
    s = fold(s, teachingEvent("AnnotationCleared", { scope: "all", panel_id: "p1" }));
    expect(s.strokes.map((x) => x.stroke_id)).toEqual([a.stroke_id]);
    s = fold(s, teachingEvent("AnnotationCleared", { scope: "all", panel_id: null }));
    expect(s.strokes).toEqual([]);
  });

  it("forgets unpinned strokes past the fade time by the server's clock, keeps pinned ones", () => {
    const old = strokeData();
    const pinned = strokeData({ pinned: true });
    const s = fold(
      initialTeachingState,
      teachingEvent("AnnotationStroke", old, ALICE, "2026-12-02T06:00:00.000Z"),
      teachingEvent("AnnotationStroke", pinned, ALICE, "2026-12-02T06:00:00.000Z"),
      teachingEvent("AnnotationStroke", strokeData(), BOB, "2026-12-02T06:00:09.000Z"),
    );
    expect(s.strokes.map((x) => x.stroke_id)).not.toContain(old.stroke_id);
    expect(s.strokes.map((x) => x.stroke_id)).toContain(pinned.stroke_id);
  });

  it("keeps chat and questions in order; the host's answer marks the question", () => {
    const s = fold(
      initialTeachingState,
      teachingEvent("ChatMessagePosted", { message_id: "m1", text: "hi @bob", mentions: [BOB.user_id] }),
      teachingEvent("QuestionAsked", { question_id: "q1", text: "Which plane?" }, BOB),
      teachingEvent("QuestionAsked", { question_id: "q2", text: "Why clip there?" }, BOB),
      teachingEvent("QuestionAnswered", { question_id: "q1" }, ALICE, "2026-12-02T06:01:00.000Z"),
    );
    expect(s.chat).toEqual([{ message_id: "m1", user_id: ALICE.user_id, text: "hi @bob", mentions: [BOB.user_id], posted_at: "2026-12-02T06:00:00.000Z" }]);
    expect(s.questions.map((q) => [q.question_id, q.answered_at])).toEqual([
      ["q1", "2026-12-02T06:01:00.000Z"],
      ["q2", null],
    ]);
  });

  it("queues raised hands in the order raised; a lowered hand raised again goes to the back", () => {
    const carol = { user_id: "u-carol", participant_id: "pt-carol" };
    let s = fold(
      initialTeachingState,
      teachingEvent("HandRaised", {}, BOB),
      teachingEvent("HandRaised", {}, carol),
      teachingEvent("HandRaised", {}, ME),
      teachingEvent("HandRaised", {}, BOB), // twice: still once, in its first place
    );
    expect(s.hands.map((h) => h.user_id)).toEqual([BOB.user_id, carol.user_id, ME.user_id]);
    s = fold(s, teachingEvent("HandLowered", { user_id: carol.user_id }, ALICE));
    expect(s.hands.map((h) => h.user_id)).toEqual([BOB.user_id, ME.user_id]);
    s = fold(s, teachingEvent("HandRaised", {}, carol), teachingEvent("HandLowered", { user_id: BOB.user_id }, BOB));
    expect(s.hands.map((h) => h.user_id)).toEqual([ME.user_id, carol.user_id]);
  });

  it("changes only the settings an event names", () => {
    const s = fold(initialTeachingState, teachingEvent("TeachingSettingsChanged", { observer_chat: false }));
    expect(s.settings).toEqual({ observers_may_annotate: false, observer_chat: false, stroke_fade_ms: 8000 });
    expect(fold(s, teachingEvent("TeachingSettingsChanged", { stroke_fade_ms: 30_000 })).settings.stroke_fade_ms).toBe(30_000);
  });

  it("folds through the session reducer, once per position", () => {
    const w = welcome();
    const e = teachingEvent("HandRaised", {}, BOB);
    const s = [w, e, e].reduce(sessionReducer, initialSessionState);
    expect(s.teaching.hands.map((h) => h.user_id)).toEqual([BOB.user_id]);
  });
});

describe("fading", () => {
  const stroke = (over: Partial<HeldStroke> = {}): HeldStroke => ({
    ...strokeData(),
    user_id: ALICE.user_id,
    participant_id: ALICE.participant_id,
    drawn_at: "2026-12-02T06:00:00.000Z",
    ...over,
  });

  it("fades a live stroke the fade time after it came, whatever the drawer's clock said", () => {
    const seen = Date.parse("2026-12-02T07:00:00.000Z"); // this clock is an hour ahead
    expect(fadeDeadline(stroke({ live: true }), seen, 8000)).toBe(seen + 8000);
  });

  it("counts a snapshot's stroke from when it was drawn, and never fades a pinned one", () => {
    const seen = Date.parse("2026-12-02T06:00:05.000Z");
    expect(fadeDeadline(stroke(), seen, 8000)).toBe(Date.parse("2026-12-02T06:00:08.000Z"));
    expect(fadeDeadline(stroke({ pinned: true }), seen, 8000)).toBe(Number.POSITIVE_INFINITY);
  });

  it("shows a stroke fully, then fades it out over its last second", () => {
    expect(strokeOpacity(10_000, 8_000)).toBe(1);
    expect(strokeOpacity(10_000, 9_500)).toBe(0.5);
    expect(strokeOpacity(10_000, 10_000)).toBe(0);
    expect(strokeOpacity(Number.POSITIVE_INFINITY, 1e15)).toBe(1);
  });

  it("draws a stroke on the panels showing its source, or on its own panel when it had none", () => {
    expect(onPanel({ panel_id: "p2", source_id: "endoscope" }, "p3", "endoscope")).toBe(true);
    expect(onPanel({ panel_id: "p2", source_id: "endoscope" }, "p2", "room-cam")).toBe(false);
    expect(onPanel({ panel_id: "p1", source_id: null }, "p1", null)).toBe(true);
  });
});

describe("who may do what", () => {
  const standing = (role: "host" | "surgeon" | "observer", over: Partial<TeachingState["settings"]> = {}) => ({
    ready: true,
    status: "live",
    role,
    permissions: role === "observer" ? ["subscribe"] : ["publish", "subscribe", "edit_layout"],
    teaching: { ...initialTeachingState, settings: { ...initialTeachingState.settings, ...over } },
  });

  it("lets hosts and surgeons draw, observers only when the host allows it", () => {
    expect(mayAnnotate(standing("host"))).toBe(true);
    expect(mayAnnotate(standing("surgeon"))).toBe(true);
    expect(mayAnnotate(standing("observer"))).toBe(false);
    expect(mayAnnotate(standing("observer", { observers_may_annotate: true }))).toBe(true);
    expect(mayAnnotate({ ...standing("surgeon"), status: "ended" })).toBe(false);
  });

  it("leaves clearing all and the settings to the host, and observer chat to the host's switch", () => {
    expect(isTeachingHost(standing("host"))).toBe(true);
    expect(isTeachingHost(standing("surgeon"))).toBe(false);
    expect(mayChat(standing("observer"))).toBe(true);
    expect(mayChat(standing("observer", { observer_chat: false }))).toBe(false);
    expect(mayChat(standing("surgeon", { observer_chat: false }))).toBe(true);
  });
});
