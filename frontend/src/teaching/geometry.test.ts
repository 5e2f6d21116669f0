import { describe, expect, it } from "vitest";
import { colorFor, contentBox, MAX_STROKE_POINTS, PALETTE, rdp, simplify, toFrame } from "./geometry";
import type { FramePoint } from "./types";

describe("contentBox: the picture inside a letterboxed element", () => {
  it("puts bars left and right when the element is wider than the video", () => {
    // A 4:3 picture in a 1600x900 panel: 1200 wide, 200 px bars on each side.
    expect(contentBox(1600, 900, 640, 480)).toEqual({ left: 200, top: 0, width: 1200, height: 900 });
  });

  it("puts bars above and below when the element is taller than the video", () => {
    // A 16:9 picture in a square panel: 562.5 high, centred.
    expect(contentBox(1000, 1000, 1920, 1080)).toEqual({ left: 0, top: 218.75, width: 1000, height: 562.5 });
  });

  it("takes a video without a size yet as 16:9, and an element without one as empty", () => {
    expect(contentBox(1600, 1600, 0, 0)).toEqual({ left: 0, top: 350, width: 1600, height: 900 });
    expect(contentBox(0, 500, 1920, 1080).width).toBe(0);
  });
});

describe("toFrame: element pixels to frame coordinates", () => {
  const box = contentBox(1000, 1000, 1920, 1080); // picture from y 218.75 to 781.25

  it("measures from the picture, not the element", () => {
    expect(toFrame(500, 500, box)).toEqual([0.5, 0.5]);
    expect(toFrame(100, 218.75 + 56.25, box)).toEqual([0.1, 0.1]);
    expect(toFrame(1000, 781.25, box)).toEqual([1, 1]);
  });

  it("is the same point on two screens whose panels differ in shape", () => {
    const wide = contentBox(1600, 600, 1920, 1080); // bars left and right
    const [x, y] = [wide.left + 0.25 * wide.width, wide.top + 0.75 * wide.height];
    expect(toFrame(x, y, wide)).toEqual([0.25, 0.75]);
    expect(toFrame(box.left + 0.25 * box.width, box.top + 0.75 * box.height, box)).toEqual([0.25, 0.75]);
  });

  it("pulls a point on the bars to the picture's edge", () => {
    expect(toFrame(500, 10, box)).toEqual([0.5, 0]);
    expect(toFrame(-20, 990, box)).toEqual([0, 1]);
  });
});

describe("simplify: Ramer–Douglas–Peucker, epsilon 0.002, at most 256 points", () => {
  it("reduces a straight line to its two ends", () => {
    const line: FramePoint[] = Array.from({ length: 1000 }, (_, i) => [i / 999, 0.5]);
    expect(simplify(line)).toEqual([
      [0, 0.5],
      [1, 0.5],
    ]);
  });

  it("keeps a corner and drops wobble under the tolerance", () => {
    const points: FramePoint[] = [
      [0, 0],
      [0.25, 0.001], // 0.001 off the line: dropped
      [0.5, 0],
      [0.5, 0.5], // a corner: kept
      [0.5, 1],
    ];
    expect(simplify(points)).toEqual([
      [0, 0],
      [0.5, 0],
      [0.5, 1],
    ]);
    // 0.003 off the line is over the tolerance: kept.
    expect(rdp([[0, 0], [0.5, 0.003], [1, 0]], 0.002)).toHaveLength(3);
  });

  it("raises the tolerance until a long, detailed stroke fits in 256 points", () => {
    const spiral: FramePoint[] = Array.from({ length: 2048 }, (_, i) => {
      const t = i / 40;
      const r = 0.05 + i / 5000;
      return [0.5 + r * Math.cos(t), 0.5 + r * Math.sin(t)];
    });
    expect(rdp(spiral, 0.002).length).toBeGreaterThan(MAX_STROKE_POINTS);
    const out = simplify(spiral);
    expect(out.length).toBeLessThanOrEqual(MAX_STROKE_POINTS);
    expect(out.length).toBeGreaterThan(50);
    expect(out[0]).toEqual(spiral[0]);
    expect(out[out.length - 1]).toEqual(spiral[spiral.length - 1]);
  });

  it("makes a tap a dot of two points, and drops repeated points", () => {
    expect(simplify([[0.3, 0.3]])).toEqual([
      [0.3, 0.3],
      [0.3, 0.3],
    ]);
    expect(simplify([[0.3, 0.3], [0.3, 0.3], [0.3, 0.3]])).toHaveLength(2);
    expect(simplify([])).toEqual([]);
  });
});

describe("colorFor", () => {
  it("gives a person the same palette colour on every screen", () => {
    const id = "01a23545-6ed9-7267-a8de-ad17e17bb60b";
    expect(colorFor(id)).toBe(colorFor(id));
    expect(PALETTE).toContain(colorFor(id));
    expect(colorFor(id)).toMatch(/^#[0-9a-f]{6}$/);
  });

  it("spreads people over the palette", () => {
    const colours = new Set(Array.from({ length: 64 }, (_, i) => colorFor(`user-${i}`)));
    expect(colours.size).toBeGreaterThanOrEqual(6);
  });
});
