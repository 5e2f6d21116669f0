// An editor's name for a panel (shown instead of its source's label): a button that opens a
// small field; Enter saves, Escape cancels, an empty name clears it.
import { useRef, useState } from "react";
import type { Panel } from "../../api/generated/ws";

/** As the server checks it (domain `validate_panel_name`). */
export const MAX_PANEL_NAME = 60;

export function PanelNameEditor({ panel, onRename }: { panel: Panel; onRename: (name: string | null) => void }) {
  const [draft, setDraft] = useState<string | null>(null);
  // Set by Escape: the blur that follows the field's removal must not save.
  const cancelled = useRef(false);
  if (draft === null) {
    return (
      <button
        type="button"
        className="rounded px-1.5 py-0.5 text-slate-200 hover:bg-slate-700"
        aria-label={`Rename panel ${panel.id}`}
        title="Name this panel for everyone"
        onClick={() => {
          cancelled.current = false;
          setDraft(panel.name ?? "");
        }}
      >
        <span aria-hidden="true">✎</span>
      </button>
    );
  }
  const save = () => {
    if (cancelled.current) return;
    cancelled.current = true; // once: Enter, then the blur
    const name = draft.trim() === "" ? null : draft.trim();
    if (name !== (panel.name ?? null)) onRename(name);
    setDraft(null);
  };
  return (
    <form
      className="flex min-w-0"
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <input
        autoFocus
        aria-label={`Name of panel ${panel.id}`}
        className="w-28 min-w-0 rounded border border-slate-600 bg-slate-900 px-1 py-0.5 text-xs text-slate-100"
        maxLength={MAX_PANEL_NAME}
        placeholder={panel.source_id ?? "Panel name"}
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
        onBlur={save}
        onKeyDown={(e) => {
          if (e.key !== "Escape") return;
          e.preventDefault(); // not the workspace's Escape
          cancelled.current = true;
          setDraft(null);
        }}
      />
    </form>
  );
}
