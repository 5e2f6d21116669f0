// The inline notice after a panel's removal, with its Undo.
import { useState } from "react";
import type { UndoRemoval } from "./useUndoRemoval";
import { panelTitle } from "./panelLayout";

export function UndoRemovalBar({ undo }: { undo: UndoRemoval }) {
  const [noRoom, setNoRoom] = useState<string | null>(null);
  const removed = undo.removed;
  if (!removed) return null;
  return (
    <div role="status" data-testid="undo-remove" className="flex items-center gap-2 rounded border border-slate-600 bg-slate-800 px-3 py-1 text-sm">
      <span>Panel {panelTitle(removed)} removed.</span>
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
