import { act, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { ComponentProps } from "react";
import { ALICE } from "../realtime/testFixtures";
import type { HeldStroke } from "./state";
import { TelestrationOverlay, thinSamples } from "./TelestrationOverlay";
import { strokeData } from "./testFixtures";
import type { PointerSample } from "./types";

// jsdom has no PointerEvent: a MouseEvent with the pointer's fields is what React needs.
beforeAll(() => {
  if (typeof window.PointerEvent === "undefined") {
    class FakePointerEvent extends MouseEvent {
      pointerId: number;
      pointerType: string;
      constructor(type: string, init: PointerEventInit = {}) {
        super(type, init);
        this.pointerId = init.pointerId ?? 1;
        this.pointerType = init.pointerType ?? "mouse";
      }
    }
    vi.stubGlobal("PointerEvent", FakePointerEvent);
    Object.defineProperty(window, "PointerEvent", { value: FakePointerEvent, configurable: true });
  }
});

/** A 1000 x 1000 panel showing a 1920 x 1080 video: the picture from y 218.75 to 781.25. */
function Panel(props: ComponentProps<typeof TelestrationOverlay>) {
  return (
    <div data-testid="panel">
      <video data-testid="video" />
      <TelestrationOverlay {...props} />
    </div>
  );
}

const rect = (width: number, height: number) => ({ x: 0, y: 0, left: 0, top: 0, width, height, right: width, bottom: height, toJSON: () => ({}) });

beforeEach(() => {
  vi.spyOn(HTMLElement.prototype, "getBoundingClientRect").mockReturnValue(rect(1000, 1000) as DOMRect);
  vi.spyOn(HTMLVideoElement.prototype, "videoWidth", "get").mockReturnValue(1920);
  vi.spyOn(HTMLVideoElement.prototype, "videoHeight", "get").mockReturnValue(1080);
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/** Frame coordinates to the page's pixels, for this panel. */
const at = (x: number, y: number) => ({ clientX: x * 1000, clientY: 218.75 + y * 562.5 });

function setup(over: Partial<ComponentProps<typeof TelestrationOverlay>> = {}) {
  const onStroke = vi.fn();
  const onPointer = vi.fn();
  const props: ComponentProps<typeof TelestrationOverlay> = {
    panelId: "p2",
    sourceId: "endoscope",
    strokes: [],
    trails: [],
    fadeMs: 8000,
    tool: null,
    color: "#ff4081",
    pinned: false,
    onStroke,
    onPointer,
    ...over,
  };
  const view = render(<Panel {...props} />);
  const overlay = screen.getByTestId("overlay-p2");
  return { onStroke, onPointer, overlay, props, ...view };
}

const held = (over: Partial<HeldStroke> = {}): HeldStroke => ({
  ...strokeData(),
  user_id: ALICE.user_id,
  participant_id: ALICE.participant_id,
  drawn_at: new Date().toISOString(),
  live: true,
  ...over,
});

describe("TelestrationOverlay", () => {
  it("lets the pointer through to the video and sends nothing while no tool is chosen", () => {
    const { overlay, onStroke } = setup();
    expect(overlay).toHaveClass("pointer-events-none");
    fireEvent.pointerDown(overlay, { ...at(0.1, 0.1), button: 0 });
    fireEvent.pointerUp(overlay, at(0.9, 0.9));
    expect(onStroke).not.toHaveBeenCalled();
  });

  it("sends an arrow from pen-down to pen-up in frame coordinates, the bars excluded", () => {
    const { overlay, onStroke } = setup({ tool: "arrow", pinned: true });
    expect(overlay).not.toHaveClass("pointer-events-none");
    fireEvent.pointerDown(overlay, { ...at(0.1, 0.2), button: 0, pointerId: 7 });
    fireEvent.pointerMove(overlay, { ...at(0.5, 0.5), pointerId: 7 });
    fireEvent.pointerUp(overlay, { ...at(0.8, 0.6), pointerId: 7 });
    expect(onStroke).toHaveBeenCalledTimes(1);
    expect(onStroke.mock.calls[0]![0]).toEqual({
      panel_id: "p2",
      source_id: "endoscope",
      media_time_ms: null,
      kind: "arrow",
      points: [
        [0.1, 0.2],
        [0.8, 0.6],
      ],
      color: "#ff4081",
      width: 0.006,
      pinned: true,
    });
  });

  it("draws a freehand stroke at once and sends it simplified on release", async () => {
    const { overlay, onStroke } = setup({ tool: "freehand" });
    fireEvent.pointerDown(overlay, { ...at(0.1, 0.5), button: 0 });
    for (let i = 1; i <= 80; i++) fireEvent.pointerMove(overlay, at(0.1 + i * 0.01, 0.5));
    fireEvent.pointerMove(overlay, at(0.9, 0.7));
    // The stroke shows while drawing (points gathered per animation frame).
    await waitFor(() =>
      expect(screen.getByTestId("drawings-p2").querySelector('[data-stroke-id="draft"]')?.getAttribute("points")?.split(" ")).toHaveLength(82),
    );
    fireEvent.pointerUp(overlay, at(0.9, 0.7));
    const sent = onStroke.mock.calls[0]![0];
    expect(sent.kind).toBe("freehand");
    // 82 points along two straight lines: the three corners are what is left.
    expect(sent.points).toEqual([
      [0.1, 0.5],
      [0.9, 0.5],
      [0.9, 0.7],
    ]);
  });

  it("does not send an arrow that is a slip of the pen", () => {
    const { overlay, onStroke } = setup({ tool: "circle" });
    fireEvent.pointerDown(overlay, { ...at(0.5, 0.5), button: 0 });
    fireEvent.pointerUp(overlay, at(0.501, 0.5));
    expect(onStroke).not.toHaveBeenCalled();
  });

  it("shows the panel's strokes on the picture, fades unpinned ones and keeps pinned ones", () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout", "Date"] });
    const fading = held();
    const pinned = held({ pinned: true, kind: "circle" });
    const elsewhere = held({ source_id: "room-cam" });
    setup({ strokes: [fading, pinned, elsewhere] });
    const svg = screen.getByTestId("drawings-p2");
    // Placed over the picture only: 1000 x 562.5 from the top bar's end.
    expect(svg.style.top).toBe("218.75px");
    expect(svg.getAttribute("viewBox")).toBe("0 0 1000 562.5");
    const shown = () => [...svg.querySelectorAll('[data-testid="stroke"]')].map((el) => el.getAttribute("data-stroke-id"));
    expect(shown()).toEqual([fading.stroke_id, pinned.stroke_id]);
    // The arrow's tail sits at its frame point scaled to the picture.
    expect(svg.querySelector("line")).toHaveAttribute("x1", "100");
    expect(svg.querySelector("line")).toHaveAttribute("y1", "56.25");

    act(() => vi.advanceTimersByTime(7500));
    const half = svg.querySelector(`[data-stroke-id="${fading.stroke_id}"]`);
    expect(Number(half?.getAttribute("opacity"))).toBeCloseTo(0.5, 1);
    act(() => vi.advanceTimersByTime(700));
    expect(shown()).toEqual([pinned.stroke_id]);
    act(() => vi.advanceTimersByTime(60_000));
    expect(shown()).toEqual([pinned.stroke_id]);
  });

  it("sends the laser pointer's samples in batches, one every 200 ms at most", () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout", "performance"] });
    const { overlay, onPointer } = setup({ tool: "pointer" });
    for (let i = 0; i < 5; i++) {
      fireEvent.pointerMove(overlay, { ...at(0.2 + i * 0.1, 0.5), pointerType: "mouse" });
      act(() => vi.advanceTimersByTime(30));
    }
    expect(onPointer).not.toHaveBeenCalled();
    act(() => vi.advanceTimersByTime(60));
    expect(onPointer).toHaveBeenCalledTimes(1);
    const batch = onPointer.mock.calls[0]![0];
    expect(batch.panel_id).toBe("p2");
    expect(batch.source_id).toBe("endoscope");
    expect(batch.points.map((p: PointerSample) => p.slice(0, 2))).toEqual([
      [0.2, 0.5],
      [0.3, 0.5],
      [0.4, 0.5],
      [0.5, 0.5],
      [0.6, 0.5],
    ]);
    expect(batch.points.map((p: PointerSample) => p[2])).toEqual([0, 30, 60, 90, 120]);
    expect(screen.getByTestId("my-pointer")).toBeInTheDocument();
    // Nothing moved: nothing sent.
    act(() => vi.advanceTimersByTime(1000));
    expect(onPointer).toHaveBeenCalledTimes(1);
  });

  it("shows others' pointer trails and lets them fade within 1.5 s", () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout", "Date"] });
    const trail = {
      key: "1",
      user_id: ALICE.user_id,
      participant_id: ALICE.participant_id,
      panel_id: "p2",
      source_id: "endoscope",
      points: [[0.5, 0.5, 0] as PointerSample],
      color: "#76ff03",
      at: Date.now(),
    };
    setup({ trails: [trail] });
    expect(screen.getAllByTestId("pointer-trail")).toHaveLength(1);
    act(() => vi.advanceTimersByTime(1600));
    expect(screen.queryAllByTestId("pointer-trail")).toHaveLength(0);
  });
});

describe("thinSamples", () => {
  it("keeps at most 20 samples, the first and the last among them", () => {
    const many: PointerSample[] = Array.from({ length: 50 }, (_, i) => [i / 50, 0, i * 4]);
    const out = thinSamples(many);
    expect(out).toHaveLength(20);
    expect(out[0]).toEqual(many[0]);
    expect(out[19]).toEqual(many[49]);
  });
});
