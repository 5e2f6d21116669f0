import { describe, expect, it } from "vitest";
import { panel } from "../../realtime/testFixtures";
import { firstFreeSpot, keyboardRect, nextPanelId, patchOf, rowHeightFor, withOverlay } from "./grid";

describe("grid", () => {
  it("names a new panel p<n> with the smallest free n", () => {
    expect(nextPanelId([])).toBe("p1");
    expect(nextPanelId([{ id: "p1" }, { id: "p3" }, { id: "cam" }])).toBe("p2");
  });

  it("finds the first free spot row by row, smaller when needed, none when full", () => {
    expect(firstFreeSpot([])).toEqual({ x: 0, y: 0, w: 4, h: 4 });
    expect(firstFreeSpot([panel("a", 0, 0, 6, 6)])).toEqual({ x: 6, y: 0, w: 4, h: 4 });
    // Only a 2x2 hole at the bottom right.
    const around = [panel("a", 0, 0, 12, 10), panel("b", 0, 10, 10, 2)];
    expect(firstFreeSpot(around)).toEqual({ x: 10, y: 10, w: 2, h: 2 });
    expect(firstFreeSpot([panel("a", 0, 0, 12, 12)])).toBeNull();
  });

  it("patches only the changed fields", () => {
    expect(patchOf({ x: 0, y: 0, w: 6, h: 6 }, { x: 2, y: 0, w: 6, h: 6 })).toEqual({ x: 2 });
    expect(patchOf({ x: 0, y: 0, w: 6, h: 6 }, { x: 0, y: 0, w: 4, h: 3 })).toEqual({ w: 4, h: 3 });
    expect(patchOf({ x: 1, y: 1, w: 1, h: 1 }, { x: 1, y: 1, w: 1, h: 1 })).toBeNull();
  });

  it("moves with arrows and resizes with shift, never off the 12x12 grid", () => {
    const r = { x: 0, y: 0, w: 6, h: 6 };
    expect(keyboardRect(r, "ArrowRight", false)).toEqual({ x: 1, y: 0, w: 6, h: 6 });
    expect(keyboardRect(r, "ArrowLeft", false)).toBeNull();
    expect(keyboardRect(r, "ArrowUp", false)).toBeNull();
    expect(keyboardRect({ x: 6, y: 6, w: 6, h: 6 }, "ArrowDown", false)).toBeNull();
    expect(keyboardRect(r, "ArrowDown", true)).toEqual({ x: 0, y: 0, w: 6, h: 7 });
    expect(keyboardRect(r, "ArrowLeft", true)).toEqual({ x: 0, y: 0, w: 5, h: 6 });
    expect(keyboardRect({ x: 6, y: 0, w: 6, h: 6 }, "ArrowRight", true)).toBeNull();
    expect(keyboardRect({ x: 0, y: 0, w: 1, h: 1 }, "ArrowUp", true)).toBeNull();
    expect(keyboardRect(r, "Enter", false)).toBeNull();
  });

  it("shows pending moves over the server's panels", () => {
    const shown = withOverlay([panel("a", 0, 0), panel("b", 6, 0)], new Map([["b", { x: 6, y: 6, w: 6, h: 6 }]]));
    expect(shown.map((p) => [p.id, p.x, p.y])).toEqual([
      ["a", 0, 0],
      ["b", 6, 6],
    ]);
  });

  it("fits 12 rows into the height", () => {
    // 12 rows + 11 margins of 8 + 2 paddings of 8 = 12*50 + 104
    expect(rowHeightFor(704, 8, 8)).toBe(50);
    expect(rowHeightFor(10, 8, 8)).toBe(16);
  });
});
