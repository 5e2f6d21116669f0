// The drawing tools, one bar for the whole workspace, shown only while drawing is on: freehand,
// arrow, circle, laser pointer, "pin" for the next strokes, clear mine and (hosts) clear all.
// A toolbar: Tab reaches it once, arrow keys move between its buttons.
import type { KeyboardEvent } from "react";
import type { Tool } from "./TelestrationOverlay";

const TOOLS: { tool: Tool; label: string; icon: string }[] = [
  { tool: "freehand", label: "Freehand", icon: "✎" },
  { tool: "arrow", label: "Arrow", icon: "➚" },
  { tool: "circle", label: "Circle", icon: "◯" },
  { tool: "pointer", label: "Pointer", icon: "◉" },
];

const button = "inline-flex items-center gap-1 rounded px-2 py-1 text-xs font-medium";

export function DrawToolbar({
  tool,
  onTool,
  pinned,
  onPinned,
  color,
  mayDraw,
  mayClearAll,
  onClear,
  onClose,
}: {
  tool: Tool | null;
  onTool: (tool: Tool) => void;
  pinned: boolean;
  onPinned: (pinned: boolean) => void;
  color: string;
  mayDraw: boolean;
  mayClearAll: boolean;
  onClear: (scope: "mine" | "all") => void;
  onClose: () => void;
}) {
  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    const buttons = [...e.currentTarget.querySelectorAll<HTMLButtonElement>("button:not(:disabled)")];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (at < 0) return;
    e.preventDefault();
    const next = buttons[(at + (e.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length];
    next?.focus();
  };
  return (
    <div
      id="draw-tools"
      role="toolbar"
      aria-label="Drawing tools"
      data-testid="draw-tools"
      onKeyDown={onKey}
      className="flex flex-wrap items-center gap-1 rounded border border-slate-700 bg-slate-900 px-2 py-1"
    >
      {mayDraw && (
        <>
          <span className="mr-1 inline-block h-3 w-3 rounded-full border border-slate-400 bg-current" aria-hidden="true" style={{ color }} />
          {TOOLS.map((t) => (
            <button
              key={t.tool}
              type="button"
              aria-pressed={tool === t.tool}
              className={`${button} ${tool === t.tool ? "bg-sky-700 text-white" : "bg-slate-800 text-slate-200 hover:bg-slate-700"}`}
              onClick={() => onTool(t.tool)}
            >
              <span aria-hidden="true">{t.icon}</span>
              {t.label}
            </button>
          ))}
          <button
            type="button"
            aria-pressed={pinned}
            title="Pinned strokes stay until cleared; others fade"
            className={`${button} ${pinned ? "bg-amber-700 text-white" : "bg-slate-800 text-slate-200 hover:bg-slate-700"}`}
            onClick={() => onPinned(!pinned)}
          >
            Pin
          </button>
          <button type="button" className={`${button} bg-slate-800 text-slate-200 hover:bg-slate-700`} onClick={() => onClear("mine")}>
            Clear mine
          </button>
        </>
      )}
      {mayClearAll && (
        <button type="button" className={`${button} bg-rose-800 text-white hover:bg-rose-700`} onClick={() => onClear("all")}>
          Clear all
        </button>
      )}
      <button type="button" className={`${button} ml-auto bg-slate-700 text-slate-100 hover:bg-slate-600`} onClick={onClose} title="Stop drawing (Escape)">
        Done
      </button>
    </div>
  );
}
