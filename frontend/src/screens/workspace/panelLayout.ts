// What the grid may write and how panels are called: the moves a drag or resize caused (the
// dragged panel and every panel it pushed aside), whether they stay on the 12 x 12 grid without
// overlapping, the z that brings a panel to the front, and why the grid takes no more panels.
// Pure, unit-tested.
import type { Panel } from "../../api/generated/ws";
import { firstFreeSpot, GRID_COLS, GRID_ROWS, MAX_PANELS, type Rect } from "./grid";

function overlaps(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** On the grid: at least 1 x 1, inside 12 x 12. */
export function onGrid(r: Rect): boolean {
  return r.x >= 0 && r.y >= 0 && r.w >= 1 && r.h >= 1 && r.x + r.w <= GRID_COLS && r.y + r.h <= GRID_ROWS;
}

/** The ids of two panels that overlap, or null when none do. */
export function firstOverlap(panels: readonly (Rect & { id: string })[]): [string, string] | null {
  for (let i = 0; i < panels.length; i++)
    for (let j = i + 1; j < panels.length; j++) if (overlaps(panels[i]!, panels[j]!)) return [panels[i]!.id, panels[j]!.id];
  return null;
}

/**
 * The panels whose rectangle the grid changed (`next`, react-grid-layout's items), by id; null
 * when the result cannot be written: a panel off the grid, or two panels overlapping.
 */
export function movesOf(before: readonly Panel[], next: readonly { i: string; x: number; y: number; w: number; h: number }[]): Record<string, Rect> | null {
  const after = new Map(next.map((l) => [l.i, { x: l.x, y: l.y, w: l.w, h: l.h }]));
  const result = before.map((p) => ({ id: p.id, ...(after.get(p.id) ?? { x: p.x, y: p.y, w: p.w, h: p.h }) }));
  if (result.some((r) => !onGrid(r)) || firstOverlap(result)) return null;
  const moves: Record<string, Rect> = {};
  for (const p of before) {
    const r = after.get(p.id);
    if (r && (r.x !== p.x || r.y !== p.y || r.w !== p.w || r.h !== p.h)) moves[p.id] = r;
  }
  return moves;
}

/**
 * A drop of panel `id` at `target` on exactly one other panel, when pushing it aside has no room
 * (a full grid): the two swap places (the other keeps its size, or takes the dropped panel's
 * when it does not fit). Null when that cannot be written either.
 */
export function swapMoves(before: readonly Panel[], id: string, target: Rect): Record<string, Rect> | null {
  const self = before.find((p) => p.id === id);
  if (!self || !onGrid(target)) return null;
  const hit = before.filter((p) => p.id !== id && overlaps(p, target));
  if (hit.length !== 1) return null;
  const other = hit[0]!;
  const rest = before.filter((p) => p.id !== id && p.id !== other.id);
  for (const place of [{ x: self.x, y: self.y, w: other.w, h: other.h }, { x: self.x, y: self.y, w: self.w, h: self.h }]) {
    const all = [...rest, { id, ...target }, { id: other.id, ...place }];
    if (all.every(onGrid) && !firstOverlap(all)) return { [id]: target, [other.id]: place };
  }
  return null;
}

/** The z that puts panel `id` above every other, or null when it is already alone on top. */
export function frontZ(panels: readonly Panel[], id: string): number | null {
  const self = panels.find((p) => p.id === id);
  if (!self) return null;
  const others = panels.filter((p) => p.id !== id).map((p) => p.z);
  const top = others.length > 0 ? Math.max(...others) : Number.NEGATIVE_INFINITY;
  return self.z > top ? null : top + 1;
}

/** Why no panel can be added (shown next to the disabled Add panel), or null when one can. */
export function gridFullReason(panels: readonly Panel[]): string | null {
  if (panels.length >= MAX_PANELS) return `The grid is full: at most ${MAX_PANELS} panels.`;
  if (firstFreeSpot(panels) === null) return "The grid is full: remove or shrink a panel to add another.";
  return null;
}

/** The name people use for a panel: the editor's name, else its source's label. */
export function panelTitle(panel: Panel): string {
  return panel.name || panel.source_id || "Empty panel";
}

/** "Panel “endoscope” removed." (its name or source), or "Empty panel removed." */
export function removedText(panel: Panel): string {
  const label = panel.name || panel.source_id;
  return label ? `Panel “${label}” removed.` : "Empty panel removed.";
}

/** Where a removed panel comes back: its own place when still free, else the first free spot. */
export function restoredPanel(panels: readonly Panel[], removed: Panel): Panel | null {
  if (panels.some((p) => p.id === removed.id) || panels.length >= MAX_PANELS) return null;
  if (!panels.some((p) => overlaps(p, removed))) return removed;
  const spot = firstFreeSpot(panels);
  return spot ? { ...removed, ...spot } : null;
}
