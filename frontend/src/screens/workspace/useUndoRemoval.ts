// Removing a panel can be undone for a few seconds: the removed panel is kept, and Undo adds it
// back (its own place when still free, else the first free spot) with one layout.update.
import { useCallback, useEffect, useState } from "react";
import type { Panel } from "../../api/generated/ws";
import { restoredPanel } from "./panelLayout";

/** How long Undo is offered after a removal. */
export const UNDO_MS = 8000;

export interface UndoRemoval {
  /** The panel last removed while Undo is offered, or null. */
  removed: Panel | null;
  /** Removes `panel` (via `remove`) and offers Undo. */
  remove(panel: Panel): void;
  /** Adds the removed panel back; false when there is no room (or it was not sent). */
  undo(): boolean;
  dismiss(): void;
}

export function useUndoRemoval({
  panels,
  remove,
  add,
}: {
  panels: readonly Panel[];
  remove: (id: string) => void;
  /** Sends the layout.update adding `panel`; false when it could not be sent. */
  add: (panel: Panel) => boolean;
}): UndoRemoval {
  const [removed, setRemoved] = useState<Panel | null>(null);

  useEffect(() => {
    if (!removed) return;
    const t = setTimeout(() => setRemoved(null), UNDO_MS);
    return () => clearTimeout(t);
  }, [removed]);

  const removeAndOffer = useCallback(
    (panel: Panel) => {
      remove(panel.id);
      setRemoved(panel);
    },
    [remove],
  );

  const undo = () => {
    if (!removed) return false;
    const back = restoredPanel(panels, removed);
    if (!back || !add(back)) return false;
    setRemoved(null);
    return true;
  };

  return { removed, remove: removeAndOffer, undo, dismiss: () => setRemoved(null) };
}
