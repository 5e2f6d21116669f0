// One panel's content: its drag handle (a button: Arrow moves, Shift+Arrow resizes), title,
// source picker, remove button and video. Edit controls exist only for editors.
import type { KeyboardEvent } from "react";
import type { Panel } from "../../api/generated/ws";
import type { ReactNode } from "react";
import { panelTitle } from "./panelLayout";
import { PanelNameEditor } from "./PanelNameEditor";

export function PanelCard({
  panel,
  editable,
  sourceOptions,
  contested,
  onKey,
  onRemove,
  onSelectSource,
  publisherOf,
  onFront,
  onRename,
  viewControls,
  children,
}: {
  panel: Panel;
  editable: boolean;
  /** Sources offered in the picker (published ones and those in use). */
  sourceOptions: string[];
  /** "<winner> won the edit of <field>" while the panel flashes. */
  contested: string | null;
  onKey: (e: KeyboardEvent<HTMLButtonElement>) => void;
  onRemove: () => void;
  onSelectSource: (source: string | null) => void;
  /** Who publishes a source (a display name), for the picker. */
  publisherOf?: (source: string) => string | null;
  /** Names the panel for everyone (editors); null clears the name. */
  onRename?: (name: string | null) => void;
  /** Brings the panel to the front (editors; absent when it is already there). */
  onFront?: () => void;
  /** This viewer's own view of the panel (spotlight, fullscreen), for everyone. */
  viewControls?: ReactNode;
  children: ReactNode;
}) {
  const title = panelTitle(panel);
  return (
    <div className="flex h-full flex-col overflow-hidden rounded">
      {/* Controls wrap to a second line in a narrow panel rather than being cut off at its edge. */}
      <div className="flex flex-wrap items-center gap-1 border-b border-slate-700 bg-slate-800 px-1 py-0.5">
        {editable && (
          <button
            type="button"
            className="panel-drag-handle cursor-move rounded px-1.5 py-0.5 text-slate-200 hover:bg-slate-700"
            aria-label={`Move panel ${panel.id}`}
            aria-describedby="panel-keys-help"
            title="Drag to move; Arrow keys move, Shift+Arrow keys resize"
            onKeyDown={onKey}
          >
            <span aria-hidden="true">⠿</span>
          </button>
        )}
        <h2 className="min-w-[4rem] flex-1 truncate text-sm font-medium text-slate-100" data-testid="panel-title">
          {title}
        </h2>
        {editable && onRename && <PanelNameEditor panel={panel} onRename={onRename} />}
        {viewControls}
        {editable && (
          <>
            <select
              aria-label={`Source for panel ${panel.id}`}
              className="min-w-0 max-w-[9rem] rounded border border-slate-600 bg-slate-900 px-1 py-0.5 text-xs text-slate-100"
              value={panel.source_id ?? ""}
              onChange={(e) => onSelectSource(e.target.value === "" ? null : e.target.value)}
            >
              <option value="">None</option>
              {sourceOptions.map((s) => (
                <option key={s} value={s}>
                  {publisherOf?.(s) ? `${s} (${publisherOf(s)})` : s}
                </option>
              ))}
            </select>
            {onFront && (
              <button
                type="button"
                className="rounded px-1.5 py-0.5 text-slate-200 hover:bg-slate-700"
                aria-label={`Bring panel ${panel.id} to the front`}
                title="Bring to the front"
                onClick={onFront}
              >
                <span aria-hidden="true">⤒</span>
              </button>
            )}
            <button
              type="button"
              className="rounded px-1.5 py-0.5 text-slate-200 hover:bg-rose-800"
              aria-label={`Delete panel ${panel.id}`}
              title={`Delete panel ${panel.id}`}
              onClick={onRemove}
            >
              <span aria-hidden="true">✕</span>
            </button>
          </>
        )}
      </div>
      <div className="relative min-h-0 flex-1 bg-black">
        {children}
        {contested && (
          <p
            data-testid={`contested-${panel.id}`}
            className="absolute inset-x-1 bottom-1 rounded bg-amber-900/95 px-2 py-1 text-xs font-medium text-amber-50"
          >
            {contested}
          </p>
        )}
      </div>
    </div>
  );
}
