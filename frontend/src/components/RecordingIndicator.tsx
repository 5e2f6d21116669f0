// "Recording", shown to everyone while the session is recorded: people must know they are.
// The live region is always in the page, so its change is announced the moment it happens.

export function RecordingIndicator({ active }: { active: boolean }) {
  return (
    <div
      role="status"
      aria-live="polite"
      aria-label={active ? "Recording" : undefined}
      data-testid="recording-indicator"
      data-active={active}
    >
      {active && (
        <span
          title="This session is being recorded"
          className="inline-flex items-center gap-1.5 rounded border border-rose-500 bg-rose-950 px-2 py-1 text-sm font-semibold text-rose-50"
        >
          <span aria-hidden="true" className="inline-block h-2.5 w-2.5 rounded-full bg-rose-500 motion-safe:animate-pulse" />
          Recording
          <span className="sr-only">: this session is being recorded</span>
        </span>
      )}
    </div>
  );
}
