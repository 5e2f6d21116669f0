// The list of keyboard shortcuts, opened with `?` (or its button), closed with Escape.
import { useEffect, useRef } from "react";
import { SHORTCUTS } from "./useShortcuts";

export function ShortcutsDialog({ onClose }: { onClose: () => void }) {
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => closeRef.current?.focus(), []);
  return (
    <div className="fixed inset-0 z-50 flex items-center justify-center bg-black/60" onClick={onClose}>
      <div
        role="dialog"
        aria-modal="true"
        aria-labelledby="shortcuts-title"
        className="w-96 max-w-[95vw] rounded border border-slate-600 bg-slate-900 p-4 shadow-xl"
        onClick={(e) => e.stopPropagation()}
      >
        <h2 id="shortcuts-title" className="mb-2 text-lg font-semibold">
          Keyboard shortcuts
        </h2>
        <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 text-sm">
          {SHORTCUTS.map((s) => (
            <div key={s.key} className="contents">
              <dt>
                <kbd className="rounded border border-slate-500 px-1.5 font-mono">{s.label}</kbd>
              </dt>
              <dd className="text-slate-300">{s.does}</dd>
            </div>
          ))}
        </dl>
        <p className="mt-2 text-xs text-slate-400">Not while typing in a field. Your view changes nothing for the others.</p>
        <button ref={closeRef} type="button" className="mt-3 rounded bg-slate-700 px-3 py-1 text-sm" onClick={onClose}>
          Close
        </button>
      </div>
    </div>
  );
}
