// The geometry of drawing on video: where the picture lies inside a letterboxed element, screen
// points to frame coordinates (0..1 of the picture, so a stroke marks the same anatomy on every
// screen whatever its panel's size and shape), stroke simplification, and each person's colour.
import type { FramePoint } from "./types";

/** A box in CSS pixels relative to the element it lies in. */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The picture's shape when the video has none yet (no frame decoded): 16:9, like the cameras. */
export const FALLBACK_ASPECT = 16 / 9;

/**
 * Where the picture of a `videoWidth` x `videoHeight` video lies in an element of
 * `width` x `height` that shows it with `object-fit: contain` (bars above and below, or left
 * and right). A video without a size yet counts as 16:9.
 */
export function contentBox(width: number, height: number, videoWidth: number, videoHeight: number): Box {
  if (width <= 0 || height <= 0) return { left: 0, top: 0, width: 0, height: 0 };
  const aspect = videoWidth > 0 && videoHeight > 0 ? videoWidth / videoHeight : FALLBACK_ASPECT;
  if (width / height > aspect) {
    const w = height * aspect;
    return { left: (width - w) / 2, top: 0, width: w, height };
  }
  const h = width / aspect;
  return { left: 0, top: (height - h) / 2, width, height: h };
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/** Four decimals: a tenth of a pixel on a 1080p frame, and a short log. */
export const round4 = (v: number) => Math.round(v * 10_000) / 10_000;

/**
 * A point in the element (CSS pixels from its top-left) as frame coordinates; a point on the
 * bars is pulled to the picture's nearest edge.
 */
export function toFrame(x: number, y: number, box: Box): FramePoint {
  if (box.width <= 0 || box.height <= 0) return [0, 0];
  return [round4(clamp01((x - box.left) / box.width)), round4(clamp01((y - box.top) / box.height))];
}

/** Frame coordinates to pixels of the picture's box (its own origin). */
export function fromFrame([x, y]: readonly [number, number, ...number[]], box: Pick<Box, "width" | "height">): [number, number] {
  return [x * box.width, y * box.height];
}

function distanceToSegment(p: FramePoint, a: FramePoint, b: FramePoint): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const length2 = dx * dx + dy * dy;
  if (length2 === 0) return Math.hypot(p[0] - a[0], p[1] - a[1]);
  const t = Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2));
  return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
}

/** Ramer–Douglas–Peucker with tolerance `epsilon` (iterative: a long stroke cannot overflow the stack). */
export function rdp(points: readonly FramePoint[], epsilon: number): FramePoint[] {
  if (points.length <= 2) return points.map((p): FramePoint => [p[0], p[1]]);
  const keep = new Uint8Array(points.length);
  keep[0] = 1;
  keep[points.length - 1] = 1;
  const stack: [number, number][] = [[0, points.length - 1]];
  while (stack.length > 0) {
    const [first, last] = stack.pop()!;
    let worst = -1;
    let index = -1;
    for (let i = first + 1; i < last; i++) {
      const d = distanceToSegment(points[i]!, points[first]!, points[last]!);
      if (d > worst) {
        worst = d;
        index = i;
      }
    }
    if (index > 0 && worst > epsilon) {
      keep[index] = 1;
      stack.push([first, index], [index, last]);
    }
  }
  return points.filter((_, i) => keep[i] === 1).map((p): FramePoint => [p[0], p[1]]);
}

/** The contract's simplification: epsilon 0.002, at most 256 points. */
export const SIMPLIFY_EPSILON = 0.002;
export const MAX_STROKE_POINTS = 256;

/**
 * A freehand stroke as it is sent: repeated points dropped, Ramer–Douglas–Peucker with
 * `epsilon`, and the tolerance raised until at most `cap` points are left (as the server does).
 * Always two points at least (a tap is a dot: the point twice).
 */
export function simplify(points: readonly FramePoint[], epsilon = SIMPLIFY_EPSILON, cap = MAX_STROKE_POINTS): FramePoint[] {
  const distinct: FramePoint[] = [];
  for (const p of points) {
    const last = distinct[distinct.length - 1];
    if (!last || last[0] !== p[0] || last[1] !== p[1]) distinct.push([p[0], p[1]]);
  }
  const first = distinct[0];
  if (!first) return [];
  if (distinct.length === 1) return [first, [first[0], first[1]]];
  let e = epsilon;
  let out = rdp(distinct, e);
  while (out.length > cap) {
    e *= 1.5;
    out = rdp(distinct, e);
  }
  return out;
}

/** Eight colours that read on surgical video (bright, none close to tissue red), by person. */
export const PALETTE = ["#00e5ff", "#ffeb3b", "#76ff03", "#ff4081", "#ffffff", "#ff9100", "#b388ff", "#1de9b6"] as const;

/** FNV-1a: the same small hash on every screen. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A person's colour: one of `PALETTE`, picked by hashing their user id. */
export function colorFor(userId: string): string {
  return PALETTE[hash(userId) % PALETTE.length]!;
}

/** The stroke width sent by default: 0.6% of the picture's width (about 11 px on 1080p). */
export const DEFAULT_WIDTH = 0.006;
