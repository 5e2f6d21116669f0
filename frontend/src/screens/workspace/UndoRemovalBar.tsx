// The notice after a panel's removal, with its Undo: floating at the bottom left (the toasts
// are at the right), so the grid does not move when it comes and goes.
import { useState } from "react";
import type { UndoRemoval } from "./useUndoRemoval";
import { removedText } from "./panelLayout";

export function UndoRemovalBar({ undo }: { undo: UndoRemoval }) {
  const [noRoom, setNoRoom] = useState<string | null>(null);
  const removed = undo.removed;
  if (!removed) return null;
  return (
    <div
      role="status"
      data-testid="undo-remove"
      className="fixed bottom-4 left-4 z-50 flex max-w-[calc(100vw-2rem)] items-center gap-2 rounded border-l-4 border-sky-500 bg-slate-800 px-3 py-2 text-sm text-slate-100 shadow-lg"
    >
      <span>{removedText(removed)}</span>
      <button
        type="button"
        className="rounded bg-sky-700 px-2 py-0.5 font-medium text-white hover:bg-sky-600"
        onClick={() => setNoRoom(undo.undo() ? null : removed.id)}
      >
        Undo
      </button>
      {noRoom === removed.id && <span className="text-amber-300">No room to put it back: free a spot first.</span>}
    </div>
  );
}
