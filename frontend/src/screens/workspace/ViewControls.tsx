// A panel's buttons for this viewer's own view (spotlight, fullscreen): for everyone, observers
// included, since they change nothing for others.
export function ViewControls({
  panelId,
  spotlit,
  fullscreen,
  onSpotlight,
  onFullscreen,
}: {
  panelId: string;
  spotlit: boolean;
  fullscreen: boolean;
  onSpotlight: () => void;
  onFullscreen: () => void;
}) {
  const button = "rounded px-1.5 py-0.5 text-slate-200 hover:bg-slate-700 aria-pressed:bg-sky-800";
  return (
    <>
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
