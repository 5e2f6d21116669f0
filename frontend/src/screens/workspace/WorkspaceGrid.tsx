// The 12 x 12 panel grid (react-grid-layout v2). It shows what it is given: the server's x/y/w/h
// (with this client's pending moves on top). A drag or resize pushes the panels in its way aside
// (never over them); what it ends with is written as one move of every panel it moved. When
// pushing has no room (a full grid), a drop on one panel swaps the two; otherwise it is put back.
import { useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import { GridLayout, useContainerWidth, type Layout, type LayoutItem } from "react-grid-layout";
import { noCompactor } from "react-grid-layout/core";
import type { Panel } from "../../api/generated/ws";
import { GRID_COLS, GRID_ROWS, rowHeightFor, type Rect } from "./grid";
import { movesOf, swapMoves } from "./panelLayout";

const MARGIN = 8;
const PADDING = 8;

export interface GridPanel {
  /** What to draw (server values with pending local moves). */
  shown: Panel;
  /** The server's values, exposed as data-x/y/w/h. */
  server: Panel;
  contested: boolean;
  /** A local move is shown until the server's answer. */
  pending: boolean;
  content: ReactNode;
}

export function WorkspaceGrid({
  panels,
  editable,
  onMoves,
  onRefused,
}: {
  panels: GridPanel[];
  editable: boolean;
  /** A drag or resize ended with these panels moved (the one dragged and those it pushed). */
  onMoves: (rects: Record<string, Rect>) => void;
  /** A drag or resize ended where it cannot be written (a pushed panel would leave the grid). */
  onRefused: () => void;
}) {
  const { width, containerRef } = useContainerWidth({ initialWidth: 1024 });
  const [height, setHeight] = useState(600);

  useEffect(() => {
    const node = containerRef.current;
    if (!node) return;
    const measure = () => setHeight(node.clientHeight || 600);
    measure();
    if (typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(measure);
    observer.observe(node);
    return () => observer.disconnect();
  }, [containerRef]);

  const rowHeight = rowHeightFor(height, MARGIN, PADDING);
  const gridConfig = useMemo(
    () => ({ cols: GRID_COLS, rowHeight, margin: [MARGIN, MARGIN] as const, containerPadding: [PADDING, PADDING] as const, maxRows: GRID_ROWS }),
    [rowHeight],
  );
  const dragConfig = useMemo(() => ({ enabled: editable, handle: ".panel-drag-handle", bounded: true }), [editable]);
  // No handles at all when read-only (not merely hidden).
  const resizeConfig = useMemo(
    () => ({ enabled: editable, handles: editable ? (["se"] as const).slice() : [] }),
    [editable],
  );

  const layout: Layout = useMemo(
    () => panels.map(({ shown: p }) => ({ i: p.id, x: p.x, y: p.y, w: p.w, h: p.h })),
    [panels],
  );

  const stopped = (all: Layout, _old: LayoutItem | null, item: LayoutItem | null) => {
    if (!item) return;
    const before = panels.map((p) => p.shown);
    const dropped = all.find((l) => l.i === item.i) ?? item;
    const moves = movesOf(before, all) ?? swapMoves(before, item.i, { x: dropped.x, y: dropped.y, w: dropped.w, h: dropped.h });
    if (moves) onMoves(moves);
    else onRefused();
  };

  return (
    <div ref={containerRef} className="absolute inset-0 overflow-hidden" data-testid="workspace-grid">
      {panels.length === 0 && (
        <p className="absolute inset-0 flex items-center justify-center text-slate-400">No panels in this layout.</p>
      )}
      <GridLayout
        width={width || 1024}
        layout={layout}
        gridConfig={gridConfig}
        dragConfig={dragConfig}
        resizeConfig={resizeConfig}
        compactor={noCompactor}
        onDragStop={stopped}
        onResizeStop={stopped}
      >
        {panels.map(({ shown, server, contested, pending, content }) => (
          <div
            key={shown.id}
            data-testid={`panel-${shown.id}`}
            data-x={server.x}
            data-y={server.y}
            data-w={server.w}
            data-h={server.h}
            data-source={server.source_id ?? ""}
            data-contested={contested ? "true" : undefined}
            data-pending={pending ? "true" : undefined}
            style={{ zIndex: shown.z }}
            className={`ls-panel rounded border border-slate-700 bg-slate-900 ${contested ? "contested-flash ring-4 ring-amber-400" : ""}`}
          >
            {content}
          </div>
        ))}
      </GridLayout>
    </div>
  );
}
