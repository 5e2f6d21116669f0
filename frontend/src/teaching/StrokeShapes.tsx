// Strokes as SVG shapes in a picture of `width` x `height` units (the live overlay's pixels, or
// the replay's small frame): freehand as a polyline, an arrow with its head, a circle through
// the rim point. Frame coordinates are scaled here, so one stroke draws alike on every screen.
import type { FramePoint, StrokeKind } from "./types";

export interface DrawnStroke {
  stroke_id: string;
  kind: StrokeKind;
  points: FramePoint[];
  color: string;
  width: number;
  user_id?: string;
  pinned?: boolean;
}

function arrowHead(tail: [number, number], head: [number, number], size: number): string {
  const angle = Math.atan2(head[1] - tail[1], head[0] - tail[0]);
  const spread = Math.PI / 7;
  const a = [head[0] - size * Math.cos(angle - spread), head[1] - size * Math.sin(angle - spread)];
  const b = [head[0] - size * Math.cos(angle + spread), head[1] - size * Math.sin(angle + spread)];
  return `${a[0]},${a[1]} ${head[0]},${head[1]} ${b[0]},${b[1]}`;
}

export function StrokeShape({
  stroke,
  width,
  height,
  opacity = 1,
}: {
  stroke: DrawnStroke;
  width: number;
  height: number;
  opacity?: number;
}) {
  const px = stroke.points.map((p) => [p[0] * width, p[1] * height] as [number, number]);
  // Never thinner than 2 px on screen, however small the panel.
  const strokeWidth = Math.max(2, stroke.width * width);
  const common = {
    "data-testid": "stroke",
    "data-stroke-id": stroke.stroke_id,
    "data-kind": stroke.kind,
    "data-user-id": stroke.user_id,
    "data-pinned": stroke.pinned ? "true" : undefined,
    stroke: stroke.color,
    strokeWidth,
    strokeLinecap: "round" as const,
    strokeLinejoin: "round" as const,
    fill: "none",
    opacity,
  };
  const [first, second] = px;
  if (!first) return null;
  if (stroke.kind === "circle") {
    const rim = second ?? first;
    const r = Math.hypot(rim[0] - first[0], rim[1] - first[1]);
    return <circle {...common} cx={first[0]} cy={first[1]} r={r} />;
  }
  if (stroke.kind === "arrow") {
    const head = px[px.length - 1] ?? first;
    const size = Math.max(10, strokeWidth * 4);
    return (
      <g {...common}>
        <line x1={first[0]} y1={first[1]} x2={head[0]} y2={head[1]} />
        <polyline points={arrowHead(first, head, size)} />
      </g>
    );
  }
  return <polyline {...common} points={px.map((p) => `${p[0]},${p[1]}`).join(" ")} />;
}
