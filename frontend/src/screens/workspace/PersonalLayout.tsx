// The workspace as this viewer chose to see it (see usePersonalView): one panel fullscreen, or
// one in the spotlight with the others in a strip, or the panels with a source side by side.
// Nobody else's screen changes; the shared grid (and editing it) is back with Escape.
import type { GridPanel } from "./WorkspaceGrid";
import type { PersonalView } from "./usePersonalView";

/** Whether the view differs from the shared grid at all. */
export function isPersonal(view: PersonalView): boolean {
  return view.fullscreen !== null || view.spotlight !== null || view.hideEmpty;
}

function Tile({ panel, className }: { panel: GridPanel; className: string }) {
  return (
    <div data-testid={`panel-${panel.shown.id}`} data-source={panel.server.source_id ?? ""} className={`ls-panel min-h-0 min-w-0 rounded border border-slate-700 bg-slate-900 ${className}`}>
      {panel.content}
    </div>
  );
}

export function PersonalLayout({ panels, view }: { panels: GridPanel[]; view: PersonalView }) {
  const visible = view.hideEmpty ? panels.filter((p) => p.server.source_id) : panels;
  const full = view.fullscreen ? panels.find((p) => p.shown.id === view.fullscreen) : undefined;
  if (full) {
    return (
      <div data-testid="personal-fullscreen" className="fixed inset-0 z-40 flex bg-black p-1">
        <Tile panel={full} className="flex-1" />
      </div>
    );
  }
  const big = view.spotlight ? visible.find((p) => p.shown.id === view.spotlight) ?? panels.find((p) => p.shown.id === view.spotlight) : undefined;
  if (big) {
    const rest = visible.filter((p) => p !== big);
    return (
      <div data-testid="personal-spotlight" className="absolute inset-0 flex gap-2 p-2">
        <Tile panel={big} className="flex-[3]" />
        {rest.length > 0 && (
          <div className="flex min-w-0 flex-1 flex-col gap-2 overflow-y-auto">
            {rest.map((p) => (
              <Tile key={p.shown.id} panel={p} className="aspect-video shrink-0" />
            ))}
          </div>
        )}
      </div>
    );
  }
  const cols = Math.max(1, Math.ceil(Math.sqrt(visible.length)));
  return (
    <div
      data-testid="personal-tiles"
      className="absolute inset-0 grid gap-2 p-2"
      style={{ gridTemplateColumns: `repeat(${cols}, minmax(0, 1fr))`, gridAutoRows: "minmax(0, 1fr)" }}
    >
      {visible.length === 0 && <p className="text-slate-400">No panel shows a source; press h to show the empty ones.</p>}
      {visible.map((p) => (
        <Tile key={p.shown.id} panel={p} className="" />
      ))}
    </div>
  );
}
