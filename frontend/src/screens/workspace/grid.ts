// Grid arithmetic of the workspace: the domain's 12 x 12 grid, free spots, keyboard moves and
// the minimal patch of a move. Pure, unit-tested.
import type { Panel, PanelPatch } from "../../api/generated/ws";

export const GRID_COLS = 12;
export const GRID_ROWS = 12;
export const MAX_PANELS = 32;
export const PANEL_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

function overlaps(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** `p<n>` with the smallest n not taken. */
export function nextPanelId(panels: readonly { id: string }[]): string {
  const taken = new Set(panels.map((p) => p.id));
  for (let n = 1; ; n++) if (!taken.has(`p${n}`)) return `p${n}`;
}

/** The first free rectangle, row by row, trying 4x4 then smaller squares; null when the grid is full. */
export function firstFreeSpot(panels: readonly Rect[]): Rect | null {
  for (const size of [4, 3, 2, 1]) {
    for (let y = 0; y + size <= GRID_ROWS; y++) {
      for (let x = 0; x + size <= GRID_COLS; x++) {
        const spot = { x, y, w: size, h: size };
        if (!panels.some((p) => overlaps(p, spot))) return spot;
      }
    }
  }
  return null;
}

/** Only the fields that differ, or null when nothing moved. */
export function patchOf(before: Rect, after: Rect): PanelPatch | null {
  const patch: PanelPatch = {};
  for (const k of ["x", "y", "w", "h"] as const) if (before[k] !== after[k]) patch[k] = after[k];
  return Object.keys(patch).length > 0 ? patch : null;
}

/** Keeps a rectangle on the grid: at least 1x1, x + w <= 12, y + h <= 12. */
export function clampRect(r: Rect): Rect {
  const w = Math.min(Math.max(1, r.w), GRID_COLS);
  const h = Math.min(Math.max(1, r.h), GRID_ROWS);
  return {
    w,
    h,
    x: Math.min(Math.max(0, r.x), GRID_COLS - w),
    y: Math.min(Math.max(0, r.y), GRID_ROWS - h),
  };
}

/** Arrow: move one cell; Shift+Arrow: grow/shrink one cell (right/down grow). Null: not a grid key or no change. */
export function keyboardRect(r: Rect, key: string, shift: boolean): Rect | null {
  const d: Record<string, [number, number]> = {
    ArrowLeft: [-1, 0],
    ArrowRight: [1, 0],
    ArrowUp: [0, -1],
    ArrowDown: [0, 1],
  };
  const step = d[key];
  if (!step) return null;
  const [dx, dy] = step;
  const next = shift
    ? { x: r.x, y: r.y, w: Math.min(r.w + dx, GRID_COLS - r.x), h: Math.min(r.h + dy, GRID_ROWS - r.y) }
    : { ...r, x: r.x + dx, y: r.y + dy };
  const clamped = clampRect(next);
  return patchOf(r, clamped) ? clamped : null;
}

/** The panels with pending local moves shown on top of the server's values. */
export function withOverlay(panels: readonly Panel[], overlay: ReadonlyMap<string, Rect>): Panel[] {
  return panels.map((p) => {
    const o = overlay.get(p.id);
    return o ? { ...p, ...o } : p;
  });
}

/** Row height so that 12 rows and their margins fill `height` pixels. */
export function rowHeightFor(height: number, marginY: number, paddingY: number): number {
  const free = height - 2 * paddingY - (GRID_ROWS - 1) * marginY;
  return Math.max(16, Math.floor(free / GRID_ROWS));
}
