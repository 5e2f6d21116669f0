// The timeline's filters: a draft the reader edits, applied on "Apply" (or Enter).
import { useEffect, useState } from "react";
import type { FormEvent } from "react";
import { Button, SelectField, TextField } from "../../components/ui";
import { EVENT_TYPES, SYSTEM_USER, typeLabel, type NameOf } from "./format";
import { filtersProblem, NO_FILTERS, typesOf, type Filters } from "./trail";
import { TEACHING_EVENT_TYPES } from "../../teaching/types";

export function FiltersForm({
  applied,
  actors,
  nameOf,
  onApply,
}: {
  applied: Filters;
  /** User ids to offer under "Actor": those seen in the trail and the directory's. */
  actors: string[];
  nameOf: NameOf;
  onApply: (filters: Filters) => void;
}) {
  const [draft, setDraft] = useState<Filters>(applied);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => setDraft(applied), [applied]);

  const set = (key: keyof Filters) => (e: { target: { value: string } }) => {
    setDraft((d) => ({ ...d, [key]: e.target.value }));
    setProblem(null);
  };

  function submit(e: FormEvent) {
    e.preventDefault();
    const p = filtersProblem(draft);
    setProblem(p);
    if (!p) onApply(draft);
  }

  const options = [...new Set([...actors, ...(draft.actor ? [draft.actor] : [])])]
    .map((id) => ({ id, name: id === SYSTEM_USER ? "System (command line)" : nameOf(id) }))
    .sort((a, b) => a.name.localeCompare(b.name));

  return (
    <form aria-label="Filters" onSubmit={submit} className="mb-4 rounded border border-slate-700 bg-slate-900 p-3">
      <div className="grid grid-cols-2 gap-3 md:grid-cols-3 xl:grid-cols-5">
        <SelectField label="Actor" value={draft.actor} onChange={set("actor")}>
          <option value="">Anyone</option>
          {options.map((o) => (
            <option key={o.id} value={o.id}>
              {o.name}
            </option>
          ))}
        </SelectField>
        <SelectField
          label="Event types (none: any)"
          multiple
          size={4}
          title="Ctrl- or Cmd-click to pick several types"
          value={typesOf(draft)}
          onChange={(e) => {
            const type = [...e.target.selectedOptions].map((o) => o.value).join(",");
            setDraft((d) => ({ ...d, type }));
            setProblem(null);
          }}
        >
          {EVENT_TYPES.map((t) => (
            <option key={t} value={t}>
              {typeLabel(t)}
            </option>
          ))}
        </SelectField>
        <SelectField label="Outcome" value={draft.outcome} onChange={set("outcome")}>
          <option value="">Any outcome</option>
          <option value="ok">Accepted</option>
          <option value="denied">Denied</option>
        </SelectField>
        <TextField label="From" type="datetime-local" step={1} value={draft.from} onChange={set("from")} />
        <TextField label="To" type="datetime-local" step={1} value={draft.to} onChange={set("to")} error={problem} />
      </div>
      <div className="mt-3 flex gap-2">
        <Button type="submit">Apply</Button>
        <Button
          variant="secondary"
          onClick={() => {
            setDraft(NO_FILTERS);
            setProblem(null);
            onApply(NO_FILTERS);
          }}
        >
          Clear
        </Button>
        <Button
          variant="secondary"
          title="Drawings, pointer, chat, questions, hands and their settings"
          onClick={() => {
            const next = { ...draft, type: [...TEACHING_EVENT_TYPES].sort().join(",") };
            setDraft(next);
            const p = filtersProblem(next);
            setProblem(p);
            if (!p) onApply(next);
          }}
        >
          Teaching events
        </Button>
      </div>
    </form>
  );
}
