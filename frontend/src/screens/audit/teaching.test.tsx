// The audit of teaching (issue 21): the replay draws the strokes present at the scrubbed moment
// on the panel outlines and on the recorded picture; the timeline says what each event did.
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { archiveOf } from "../archives/fixtures";
import { json } from "../../test/http";
import type { TeachingStroke } from "../../teaching/types";
import { ALICE, BOB, SESSION, event, names } from "./fixtures";
import { summarize, EVENT_TYPES } from "./format";
import { Replay } from "./Replay";
import { ReplayPicture } from "./ReplayPicture";
import { foldSamples, type ScrubPoint } from "./trail";

const nameOf = (id: string) => names[id] ?? id;
const point: ScrubPoint = { ms: Date.parse("2026-12-03T08:00:04.000Z"), at: "2026-12-03T08:00:04.000Z" };

const arrow: TeachingStroke = {
  stroke_id: "s-arrow",
  panel_id: "p2",
  source_id: "endoscope",
  media_time_ms: 4000,
  kind: "arrow",
  points: [
    [0.1, 0.1],
    [0.5, 0.5],
  ],
  color: "#00e5ff",
  width: 0.004,
  pinned: false,
  user_id: ALICE,
  participant_id: "pa",
  drawn_at: "2026-12-03T08:00:03.500Z",
};
const circleOnEmptyPanel: TeachingStroke = { ...arrow, stroke_id: "s-circle", panel_id: "p1", source_id: null, kind: "circle", user_id: BOB };

const view = (strokes: TeachingStroke[]) => ({
  session_id: SESSION,
  status: "live",
  title: "Lap chole",
  members: [{ user_id: ALICE, role: "host" }],
  participants: [],
  layout: {
    version: 2,
    panels: [
      { id: "p1", x: 0, y: 0, w: 6, h: 6, z: 0, source_id: null },
      { id: "p2", x: 6, y: 0, w: 6, h: 6, z: 0, source_id: "endoscope" },
    ],
  },
  sources: { p1: null, p2: "endoscope" },
  recording: { state: "idle", recording_id: null },
  media: { sources: [], subscribers: [] },
  at: point.at,
  last_position: 20,
  last_version: 12,
  last_recorded_at: "2026-12-03T08:00:03.500Z",
  teaching: {
    settings: { observers_may_annotate: false, observer_chat: true, stroke_fade_ms: 8000 },
    strokes,
    chat: [],
    questions: [],
    hands: [],
  },
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe("the replay's panel outlines", () => {
  beforeEach(() => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (req: Request) => {
        const url = new URL(req.url);
        if (url.pathname === `/v1/sessions/${SESSION}/state`) return json(view([arrow, circleOnEmptyPanel]));
        return json({ error: { code: "not_found", message: "no", request_id: "r" } }, 404);
      }),
    );
  });

  it("draw the strokes present at the scrubbed moment on the panel they were drawn on", async () => {
    const events = [event("AnnotationStroke", {}, { position: 20, recorded_at: "2026-12-03T08:00:03.500Z" })];
    const onView = vi.fn();
    render(<Replay sessionId={SESSION} events={events} point={point} onPoint={() => {}} nameOf={nameOf} onView={onView} />);
    const state = await screen.findByTestId("replay-state");
    const [p1, p2] = within(state).getAllByTestId("replay-panel");
    const drawn = within(p2!).getByTestId("replay-strokes");
    const shape = within(drawn).getByTestId("stroke");
    expect(shape).toHaveAttribute("data-kind", "arrow");
    // A 160 x 90 frame fitted into the outline: the arrow's tail at (0.1, 0.1) of it.
    expect(drawn.getAttribute("viewBox")).toBe("0 0 160 90");
    expect(shape.querySelector("line")).toHaveAttribute("x1", "16");
    expect(shape.querySelector("line")).toHaveAttribute("y1", "9");
    expect(within(p1!).getByTestId("stroke")).toHaveAttribute("data-kind", "circle");
    expect(screen.getByTestId("replay-drawings")).toHaveTextContent("2 drawings on screen: Dr Alice, Bob");
    expect(onView).toHaveBeenCalledWith(expect.objectContaining({ last_position: 20 }));
  });
});

describe("the recorded picture", () => {
  it("draws the strokes made on the recorded source over its picture, bars excluded", async () => {
    vi.spyOn(HTMLMediaElement.prototype, "canPlayType").mockReturnValue("maybe");
    vi.spyOn(HTMLMediaElement.prototype, "pause").mockImplementation(() => {});
    vi.spyOn(HTMLElement.prototype, "getBoundingClientRect").mockReturnValue({ x: 0, y: 0, left: 0, top: 0, width: 320, height: 240, right: 320, bottom: 240, toJSON: () => ({}) } as DOMRect);
    vi.spyOn(HTMLVideoElement.prototype, "videoWidth", "get").mockReturnValue(1280);
    vi.spyOn(HTMLVideoElement.prototype, "videoHeight", "get").mockReturnValue(720);
    vi.stubGlobal(
      "fetch",
      vi.fn(async (req: Request) => {
        const url = new URL(req.url);
        if (url.pathname === `/v1/sessions/${SESSION}/archives`) return json({ items: [archiveOf({ id: "e1" })], next_cursor: null });
        if (url.pathname === "/v1/archives/e1/playback") return json({ url: "http://media.test/e1.mp4", content_type: "video/mp4", expires_at: "2099-01-01T00:00:00Z" });
        return json({ error: { code: "not_found", message: "no", request_id: "r" } }, 404);
      }),
    );
    render(<ReplayPicture sessionId={SESSION} point={point} strokes={[arrow, { ...arrow, stroke_id: "s-room", source_id: "room-cam" }]} />);
    await userEvent.selectOptions(await screen.findByRole("combobox", { name: "Recorded source" }), "endoscope");
    const picture = await screen.findByRole("img", { name: "Recording of endoscope: 1 drawing" });
    // A 16:9 recording in a 320 x 240 player: 180 high, 30 px bars above and below.
    expect(picture.style.top).toBe("30px");
    expect(picture.getAttribute("viewBox")).toBe("0 0 320 180");
    expect(within(picture).getAllByTestId("stroke").map((s) => s.getAttribute("data-stroke-id"))).toEqual(["s-arrow"]);
  });
});

describe("teaching events in the timeline", () => {
  const line = (type: string, data: unknown, actor = ALICE) => summarize(event(type, data, { actor_user_id: actor }), nameOf);

  it("says in one line what each did", () => {
    expect(line("AnnotationStroke", { ...arrow, pinned: true })).toBe("drew an arrow on panel p2 (endoscope), pinned");
    expect(line("AnnotationStroke", { ...arrow, kind: "freehand", points: [[0, 0], [0.1, 0.1], [0.2, 0]] })).toBe(
      "drew a freehand stroke on panel p2 (endoscope), 3 points",
    );
    expect(line("AnnotationCleared", { scope: "all", panel_id: null })).toBe("cleared everyone's drawings on every panel");
    expect(line("AnnotationCleared", { scope: "mine", panel_id: "p2" })).toBe("cleared their own drawings on panel p2");
    expect(line("PointerMoved", { panel_id: "p2", source_id: "endoscope", points: [[0.5, 0.5, 0], [0.6, 0.5, 100]] })).toBe(
      "pointed at panel p2 (endoscope) (2 samples)",
    );
    expect(line("ChatMessagePosted", { message_id: "m", text: "look  here\n@bob", mentions: [BOB] })).toBe("chat: “look here @bob” (mentions Bob)");
    expect(line("QuestionAsked", { question_id: "q", text: "Which plane?" }, BOB)).toBe("asked the host: “Which plane?”");
    expect(line("QuestionAnswered", { question_id: "0123456789abcdef" })).toMatch(/^marked question .+ answered$/);
    expect(line("HandRaised", {}, BOB)).toBe("raised a hand");
    expect(line("HandLowered", { user_id: BOB }, BOB)).toBe("lowered their hand");
    expect(line("HandLowered", { user_id: BOB }, ALICE)).toBe("lowered the hand of Bob");
    expect(line("TeachingSettingsChanged", { observers_may_annotate: true, observer_chat: false, stroke_fade_ms: 15000 })).toBe(
      "teaching settings: observers may draw, observer chat off, strokes fade after 15 s",
    );
  });

  it("offers the teaching types in the filter and folds runs of pointer batches", () => {
    for (const t of ["AnnotationStroke", "ChatMessagePosted", "QuestionAsked", "HandRaised", "PointerMoved"]) expect(EVENT_TYPES).toContain(t);
    const pointer = (position: number) => event("PointerMoved", {}, { position });
    const rows = foldSamples([pointer(1), pointer(2), pointer(3), event("HandRaised", {}, { position: 4 }), pointer(5)]);
    expect(rows.map((r) => ("samples" in r ? r.samples.length : r.event.type))).toEqual([3, "HandRaised", "PointerMoved"]);
  });
});
