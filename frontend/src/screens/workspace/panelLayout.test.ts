import { describe, expect, it } from "vitest";
import { panel } from "../../realtime/testFixtures";
import { firstOverlap, frontZ, gridFullReason, movesOf, panelTitle, removedText, restoredPanel, swapMoves } from "./panelLayout";

const item = (i: string, x: number, y: number, w: number, h: number) => ({ i, x, y, w, h });

describe("panelLayout", () => {
  it("writes every panel a drag moved: the dragged one and those it pushed aside", () => {
    const before = [panel("a", 0, 0, 6, 6), panel("b", 6, 0, 6, 6), panel("c", 0, 6, 6, 6)];
    // a grew to 6x8 and pushed c down to row 8 (shrunk by the grid to fit).
    const moves = movesOf(before, [item("a", 0, 0, 6, 8), item("b", 6, 0, 6, 6), item("c", 0, 8, 6, 4)]);
    expect(moves).toEqual({ a: { x: 0, y: 0, w: 6, h: 8 }, c: { x: 0, y: 8, w: 6, h: 4 } });
  });

  it("refuses a result that leaves the grid or overlaps", () => {
    const before = [panel("a", 0, 0, 6, 6), panel("b", 0, 6, 6, 6)];
    expect(movesOf(before, [item("a", 0, 0, 6, 8), item("b", 0, 8, 6, 6)])).toBeNull(); // b off the grid
    expect(movesOf(before, [item("a", 0, 0, 6, 8), item("b", 0, 6, 6, 6)])).toBeNull(); // a over b
    expect(movesOf(before, [item("a", 0, 0, 6, 6), item("b", 0, 6, 6, 6)])).toEqual({});
  });

  it("swaps two panels when a drop on a full grid has no room to push", () => {
    const quadrants = [panel("p1", 0, 0), panel("p2", 6, 0), panel("p3", 0, 6), panel("p4", 6, 6)];
    expect(swapMoves(quadrants, "p1", { x: 6, y: 0, w: 6, h: 6 })).toEqual({ p1: { x: 6, y: 0, w: 6, h: 6 }, p2: { x: 0, y: 0, w: 6, h: 6 } });
    // A smaller panel dropped on a larger one: the larger takes the smaller's place and size.
    const mixed = [panel("a", 0, 0, 6, 12), panel("b", 6, 0, 6, 6), panel("c", 6, 6, 6, 6)];
    expect(swapMoves(mixed, "b", { x: 0, y: 0, w: 6, h: 6 })).toEqual({ b: { x: 0, y: 0, w: 6, h: 6 }, a: { x: 6, y: 0, w: 6, h: 6 } });
    expect(swapMoves(mixed, "b", { x: 3, y: 0, w: 6, h: 6 })).toBeNull(); // half a move: no place for a
    expect(swapMoves(quadrants, "p1", { x: 3, y: 3, w: 6, h: 6 })).toBeNull(); // on four panels at once
  });

  it("says which panel was removed", () => {
    expect(removedText(panel("p2", 0, 0, 6, 6, "endoscope"))).toBe("Panel “endoscope” removed.");
    expect(removedText(panel("p2", 0, 0))).toBe("Empty panel removed.");
  });

  it("finds overlapping panels", () => {
    expect(firstOverlap([panel("a", 0, 0, 6, 6), panel("b", 6, 0, 6, 6)])).toBeNull();
    expect(firstOverlap([panel("a", 0, 0, 6, 6), panel("b", 5, 5, 2, 2)])).toEqual(["a", "b"]);
  });

  it("brings a panel above every other, or says it is there already", () => {
    const panels = [{ ...panel("a", 0, 0), z: 3 }, panel("b", 6, 0)];
    expect(frontZ(panels, "b")).toBe(4);
    expect(frontZ(panels, "a")).toBeNull();
    expect(frontZ([panel("a", 0, 0), panel("b", 6, 0)], "a")).toBe(1); // a tie is not the front
  });

  it("says why the grid takes no more panels", () => {
    const quadrants = [panel("p1", 0, 0), panel("p2", 6, 0), panel("p3", 0, 6), panel("p4", 6, 6)];
    expect(gridFullReason(quadrants)).toMatch(/^The grid is full/);
    expect(gridFullReason(quadrants.slice(0, 3))).toBeNull();
    const many = Array.from({ length: 32 }, (_, n) => panel(`q${n}`, 0, 0, 1, 1));
    expect(gridFullReason(many)).toBe("The grid is full: at most 32 panels.");
  });

  it("names a panel by its editor's name or its source, never its id", () => {
    expect(panelTitle(panel("p7", 0, 0, 6, 6, "endoscope"))).toBe("endoscope");
    expect(panelTitle(panel("p7", 0, 0))).toBe("Empty panel");
    expect(panelTitle({ ...panel("p7", 0, 0, 6, 6, "endoscope"), name: "Main view" })).toBe("Main view");
  });

  it("puts a removed panel back in its place, elsewhere when taken, nowhere when full", () => {
    const gone = panel("p2", 6, 0, 6, 6, "endoscope");
    expect(restoredPanel([panel("p1", 0, 0)], gone)).toEqual(gone);
    expect(restoredPanel([panel("p1", 0, 0), panel("p3", 6, 0, 2, 2)], gone)).toEqual({ ...gone, x: 8, y: 0, w: 4, h: 4 });
    expect(restoredPanel([panel("p1", 0, 0, 12, 12)], gone)).toBeNull();
    expect(restoredPanel([panel("p2", 0, 0, 1, 1)], gone)).toBeNull(); // its id was taken again
  });
});
