// Strokes in the audit replay: on the recorded picture (over the archive player's video, bars
// excluded) where a recording is shown, or inside a panel's outline (a 16:9 frame) where not.
// Read-only: they never take the pointer.
import { useRef } from "react";
import { FALLBACK_ASPECT } from "./geometry";
import { StrokeShape } from "./StrokeShapes";
import type { TeachingStroke } from "./types";
import { useContentBox } from "./useContentBox";

/** Over a <video> (the overlay's parent holds it): the strokes on its picture. */
export function PictureStrokes({ strokes, label }: { strokes: TeachingStroke[]; label: string }) {
  const anchor = useRef<HTMLDivElement>(null);
  const { box } = useContentBox(anchor);
  return (
    <div ref={anchor} className="pointer-events-none absolute inset-0" data-testid="picture-strokes">
      {box.width > 0 && strokes.length > 0 && (
        <svg
          role="img"
          aria-label={`${label}: ${strokes.length} drawing${strokes.length === 1 ? "" : "s"}`}
          className="absolute overflow-visible drop-shadow-[0_0_2px_black]"
          style={{ left: box.left, top: box.top, width: box.width, height: box.height }}
          viewBox={`0 0 ${box.width} ${box.height}`}
        >
          {strokes.map((s) => (
            <StrokeShape key={s.stroke_id} stroke={s} width={box.width} height={box.height} />
          ))}
        </svg>
      )}
    </div>
  );
}

const FRAME_W = 160;
const FRAME_H = FRAME_W / FALLBACK_ASPECT;

/** Inside a panel's outline: the strokes in a 16:9 frame fitted to it. */
export function OutlineStrokes({ strokes, panelId }: { strokes: TeachingStroke[]; panelId: string }) {
  if (strokes.length === 0) return null;
  return (
    <svg
      data-testid="replay-strokes"
      data-panel-id={panelId}
      role="img"
      aria-label={`Panel ${panelId}: ${strokes.length} drawing${strokes.length === 1 ? "" : "s"}`}
      className="pointer-events-none absolute inset-0 h-full w-full"
      viewBox={`0 0 ${FRAME_W} ${FRAME_H}`}
      preserveAspectRatio="xMidYMid meet"
    >
      {strokes.map((s) => (
        // At least a visible line in the small outline.
        <StrokeShape key={s.stroke_id} stroke={{ ...s, width: Math.max(s.width, 0.012) }} width={FRAME_W} height={FRAME_H} />
      ))}
    </svg>
  );
}
