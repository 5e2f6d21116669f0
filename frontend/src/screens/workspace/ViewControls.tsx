// A panel's controls for this viewer's own view (spotlight, fullscreen, and what it shows for
// those who cannot change the shared source): for everyone, observers included, since they change
// nothing for others.
export interface SourcePick {
  /** The sources published in the session. */
  options: string[];
  /** The panel's shared source. */
  shared: string | null;
  /** This viewer's own pick, or null to watch the shared one. */
  mine: string | null;
  onPick: (source: string | null) => void;
}

export function ViewControls({
  panelId,
  spotlit,
  fullscreen,
  onSpotlight,
  onFullscreen,
  sourcePick,
}: {
  panelId: string;
  spotlit: boolean;
  fullscreen: boolean;
  onSpotlight: () => void;
  onFullscreen: () => void;
  /** This viewer's own choice of what the panel shows (for those who cannot change the shared one). */
  sourcePick?: SourcePick;
}) {
  const button = "rounded px-1.5 py-0.5 text-slate-200 hover:bg-slate-700 aria-pressed:bg-sky-800";
  return (
    <>
      {sourcePick && (
        <select
          aria-label={`Your source for panel ${panelId}`}
          title="What you watch in this panel; only for you"
          className="min-w-0 max-w-[8rem] rounded border border-slate-600 bg-slate-900 px-1 py-0.5 text-xs text-slate-100"
          value={sourcePick.mine ?? ""}
          onChange={(e) => sourcePick.onPick(e.target.value === "" ? null : e.target.value)}
        >
          <option value="">{sourcePick.shared ? `As shared (${sourcePick.shared})` : "As shared"}</option>
          {sourcePick.options.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      )}
      <button
        type="button"
        className={button}
        aria-pressed={spotlit}
        aria-label={`Spotlight panel ${panelId}`}
        title="Spotlight (s): large, the others beside it; only for you"
        onClick={onSpotlight}
      >
        <span aria-hidden="true">◎</span>
      </button>
      <button
        type="button"
        className={button}
        aria-pressed={fullscreen}
        aria-label={`Fullscreen panel ${panelId}`}
        title="Fullscreen (f); only for you"
        onClick={onFullscreen}
      >
        <span aria-hidden="true">⤢</span>
      </button>
    </>
  );
}
