// Drawing on one panel's video. The overlay covers the panel; its SVG covers exactly the video's
// picture (bars excluded), so a point is taken and drawn in frame coordinates. With no tool it
// lets every click through to the video (it is not there for the pointer at all). With a tool:
// pointer events (mouse, pen, touch) draw at once on this screen, the points gathered per
// animation frame; the release sends the simplified stroke. The laser pointer sends its samples
// in batches at most every 200 ms. Others' strokes fade after the session's fade time unless
// pinned; their pointer trails fade within 1.5 s.
import { useEffect, useRef, useState } from "react";
import type { PointerEvent as ReactPointerEvent } from "react";
import { DEFAULT_WIDTH, round4, simplify, toFrame } from "./geometry";
import { fadeDeadline, onPanel, strokeOpacity, type HeldStroke } from "./state";
import { StrokeShape, type DrawnStroke } from "./StrokeShapes";
import type { AnnotationStrokeData, FramePoint, PointerSample, StrokeKind } from "./types";
import { LIMITS } from "./types";
import { useContentBox } from "./useContentBox";
import { POINTER_FADE_MS, type PointerTrail } from "./usePointerTrails";

export type Tool = StrokeKind | "pointer";

/** A stroke as the overlay hands it to be sent (the id and the sending are the caller's). */
export type NewStroke = Omit<AnnotationStrokeData, "stroke_id">;

/** Shorter than this (a share of the picture's width) an arrow or circle is a slip: not sent. */
const MIN_SPAN = 0.005;

/** Milliseconds on this browser's clock, refreshed every `everyMs` while `active`. */
export function useNow(active: boolean, everyMs = 100): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [active, everyMs]);
  return now;
}

/** At most `max` samples, evenly picked, the last one always kept. */
export function thinSamples(samples: PointerSample[], max = LIMITS.pointerSamples): PointerSample[] {
  if (samples.length <= max) return samples;
  const out: PointerSample[] = [];
  for (let i = 0; i < max; i++) out.push(samples[Math.round((i * (samples.length - 1)) / (max - 1))]!);
  return out;
}

type Draft = { kind: StrokeKind; points: FramePoint[]; pointerId: number; mediaTimeMs: number | null };

export function TelestrationOverlay({
  panelId,
  sourceId,
  strokes,
  trails,
  fadeMs,
  tool,
  color,
  pinned,
  onStroke,
  onPointer,
}: {
  panelId: string;
  /** The source this viewer sees in the panel (strokes are sent with it). */
  sourceId: string | null;
  /** Every stroke known (the session's, then this screen's own not yet written). */
  strokes: HeldStroke[];
  trails: PointerTrail[];
  fadeMs: number;
  /** The active tool; null: the overlay is not there for the pointer. */
  tool: Tool | null;
  color: string;
  pinned: boolean;
  onStroke: (stroke: NewStroke) => void;
  onPointer: (batch: { panel_id: string; source_id: string | null; points: PointerSample[] }) => void;
}) {
  const anchor = useRef<HTMLDivElement>(null);
  const { box, video } = useContentBox(anchor, sourceId);
  const [draft, setDraft] = useState<Draft | null>(null);
  const draftRef = useRef<Draft | null>(null);
  const queued = useRef<FramePoint[]>([]);
  const frame = useRef<number | null>(null);
  const mediaTime = useRef<number | null>(null);
  const [laser, setLaser] = useState<FramePoint | null>(null);
  const samples = useRef<{ at: number; point: FramePoint }[]>([]);
  const firstSeen = useRef(new Map<string, number>());

  // The media time of the frame on screen, while a tool may need it.
  useEffect(() => {
    if (!tool || !video || typeof video.requestVideoFrameCallback !== "function") {
      mediaTime.current = null;
      return;
    }
    let handle = 0;
    let on = true;
    const tick = (_now: number, meta: VideoFrameCallbackMetadata) => {
      mediaTime.current = Math.round(meta.mediaTime * 1000);
      if (on) handle = video.requestVideoFrameCallback(tick);
    };
    handle = video.requestVideoFrameCallback(tick);
    return () => {
      on = false;
      video.cancelVideoFrameCallback?.(handle);
    };
  }, [tool, video]);

  // The laser pointer's samples leave in batches, at most one every 200 ms.
  const latest = useRef({ onPointer, onStroke, panelId, sourceId });
  latest.current = { onPointer, onStroke, panelId, sourceId };
  const flushPointer = () => {
    const taken = samples.current;
    samples.current = [];
    const first = taken[0];
    if (!first) return;
    const points = thinSamples(taken.map((s) => [s.point[0], s.point[1], Math.min(1000, Math.max(0, Math.round(s.at - first.at)))] as PointerSample));
    latest.current.onPointer({ panel_id: latest.current.panelId, source_id: latest.current.sourceId, points });
  };
  useEffect(() => {
    if (tool !== "pointer") {
      samples.current = [];
      setLaser(null);
      return;
    }
    const timer = setInterval(flushPointer, LIMITS.pointerIntervalMs);
    return () => {
      clearInterval(timer);
      flushPointer();
    };
  }, [tool]);

  useEffect(
    () => () => {
      if (frame.current !== null) cancelAnimationFrame(frame.current);
    },
    [],
  );

  const local = (e: { clientX: number; clientY: number }): FramePoint => {
    const r = anchor.current?.getBoundingClientRect();
    return toFrame(e.clientX - (r?.left ?? 0), e.clientY - (r?.top ?? 0), box);
  };

  /** The queued points into the draft: once per animation frame, or now. */
  const applyQueued = () => {
    frame.current = null;
    const d = draftRef.current;
    const points = queued.current;
    queued.current = [];
    if (!d || points.length === 0) return;
    const next: Draft =
      d.kind === "freehand"
        ? { ...d, points: [...d.points, ...points] }
        : { ...d, points: [d.points[0]!, points[points.length - 1]!] };
    draftRef.current = next;
    setDraft(next);
  };

  const down = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (!tool || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    e.currentTarget.setPointerCapture?.(e.pointerId);
    const p = local(e);
    if (tool === "pointer") {
      samples.current.push({ at: performance.now(), point: p });
      setLaser(p);
      return;
    }
    const d: Draft = { kind: tool, points: tool === "freehand" ? [p] : [p, p], pointerId: e.pointerId, mediaTimeMs: mediaTime.current };
    draftRef.current = d;
    setDraft(d);
  };

  const move = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (!tool) return;
    if (tool === "pointer") {
      // A mouse points while it hovers; a pen or finger while it touches.
      if (e.pointerType !== "mouse" && e.buttons === 0) return;
      const p = local(e);
      samples.current.push({ at: performance.now(), point: p });
      setLaser(p);
      return;
    }
    const d = draftRef.current;
    if (!d || d.pointerId !== e.pointerId) return;
    const events = typeof e.nativeEvent.getCoalescedEvents === "function" ? e.nativeEvent.getCoalescedEvents() : [];
    for (const c of events.length > 0 ? events : [e]) queued.current.push(local(c));
    if (frame.current === null) frame.current = requestAnimationFrame(applyQueued);
  };

  const up = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (tool === "pointer") {
      if (e.pointerType !== "mouse") {
        flushPointer();
        setLaser(null);
      }
      return;
    }
    const d = draftRef.current;
    if (!d || d.pointerId !== e.pointerId) return;
    if (frame.current !== null) cancelAnimationFrame(frame.current);
    queued.current.push(local(e));
    applyQueued();
    const done = draftRef.current ?? d;
    draftRef.current = null;
    setDraft(null);
    if (e.type === "pointercancel") return;
    const [a, b] = done.points;
    let points: FramePoint[];
    if (done.kind === "freehand") points = simplify(done.points);
    else if (a && b && Math.hypot(b[0] - a[0], b[1] - a[1]) >= MIN_SPAN) points = [a, b];
    else return;
    if (points.length < 2) return;
    latest.current.onStroke({
      panel_id: latest.current.panelId,
      source_id: latest.current.sourceId,
      media_time_ms: done.mediaTimeMs,
      kind: done.kind,
      points: points.map((p): FramePoint => [round4(p[0]), round4(p[1])]),
      color,
      width: DEFAULT_WIDTH,
      pinned,
    });
  };

  const leave = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (tool === "pointer" && e.pointerType === "mouse") {
      flushPointer();
      setLaser(null);
    }
  };

  // What shows: this panel's strokes while they have not faded, and others' pointer trails.
  const mine = strokes.filter((s) => onPanel(s, panelId, sourceId));
  const seen = firstSeen.current;
  const clock = Date.now();
  for (const s of mine) if (!seen.has(s.stroke_id)) seen.set(s.stroke_id, clock);
  if (seen.size > 2000) {
    const known = new Set(strokes.map((s) => s.stroke_id));
    for (const id of seen.keys()) if (!known.has(id)) seen.delete(id);
  }
  const trailsHere = trails.filter((t) => onPanel(t, panelId, sourceId));
  const fading = mine.some((s) => !s.pinned) || trailsHere.length > 0;
  const now = Math.max(useNow(fading), clock);
  const shown = mine
    .map((s) => ({ stroke: s, opacity: strokeOpacity(fadeDeadline(s, seen.get(s.stroke_id) ?? clock, fadeMs), now) }))
    .filter((s) => s.opacity > 0);
  const visibleTrails = trailsHere.filter((t) => now - t.at < POINTER_FADE_MS);

  const draftStroke: DrawnStroke | null = draft
    ? { stroke_id: "draft", kind: draft.kind, points: draft.points, color, width: DEFAULT_WIDTH, pinned }
    : null;

  return (
    <div
      ref={anchor}
      data-testid={`overlay-${panelId}`}
      data-tool={tool ?? "none"}
      className={`absolute inset-0 ${tool ? "cursor-crosshair touch-none select-none" : "pointer-events-none"}`}
      onPointerDown={down}
      onPointerMove={move}
      onPointerUp={up}
      onPointerCancel={up}
      onPointerLeave={leave}
    >
      {box.width > 0 && (
        <svg
          data-testid={`drawings-${panelId}`}
          role="img"
          aria-label={`Drawings on panel ${panelId}: ${shown.length}`}
          // A dark halo keeps every colour readable on bright and dark pictures alike.
          className="pointer-events-none absolute overflow-visible drop-shadow-[0_0_2px_black]"
          style={{ left: box.left, top: box.top, width: box.width, height: box.height }}
          viewBox={`0 0 ${box.width} ${box.height}`}
        >
          {shown.map(({ stroke, opacity }) => (
            <StrokeShape key={stroke.stroke_id} stroke={stroke} width={box.width} height={box.height} opacity={opacity} />
          ))}
          {draftStroke && <StrokeShape stroke={draftStroke} width={box.width} height={box.height} />}
          {visibleTrails.map((t) => {
            const opacity = Math.max(0, 1 - (now - t.at) / POINTER_FADE_MS);
            const px = t.points.map((p) => `${p[0] * box.width},${p[1] * box.height}`).join(" ");
            const last = t.points[t.points.length - 1];
            return (
              <g key={t.key} data-testid="pointer-trail" data-user-id={t.user_id} opacity={opacity}>
                <polyline points={px} stroke={t.color} strokeWidth={3} strokeLinecap="round" fill="none" opacity={0.6} />
                {last && <circle cx={last[0] * box.width} cy={last[1] * box.height} r={7} fill={t.color} />}
              </g>
            );
          })}
          {laser && <circle data-testid="my-pointer" cx={laser[0] * box.width} cy={laser[1] * box.height} r={7} fill={color} opacity={0.9} />}
        </svg>
      )}
    </div>
  );
}
