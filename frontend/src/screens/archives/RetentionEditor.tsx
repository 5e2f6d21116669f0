// An admin changes an archive's expiry and legal hold (PATCH /v1/archives/{id}); only what
// changed is sent.
import { useState } from "react";
import type { FormEvent } from "react";
import { setRetention, type Archive, type RetentionPatch } from "../../api/archives";
import { Alert, Button, TextField, messageOf } from "../../components/ui";
import { localInputToRfc3339, rfc3339ToLocalInput } from "../sessions/time";

/** The PATCH body for the form's values, or null when nothing changed; throws on a bad time. */
export function retentionPatch(archive: Archive, expiresLocal: string, legalHold: boolean): RetentionPatch | null {
  const patch: RetentionPatch = {};
  if (expiresLocal !== rfc3339ToLocalInput(archive.expires_at)) {
    const expires = localInputToRfc3339(expiresLocal);
    if (!expires) throw new RangeError("An archive needs an expiry date.");
    patch.expires_at = expires;
  }
  if (legalHold !== archive.legal_hold) patch.legal_hold = legalHold;
  return Object.keys(patch).length ? patch : null;
}

export function RetentionEditor({
  archive,
  onSaved,
  onClose,
}: {
  archive: Archive;
  onSaved: (archive: Archive) => void;
  onClose: () => void;
}) {
  const [expires, setExpires] = useState(() => rfc3339ToLocalInput(archive.expires_at));
  const [hold, setHold] = useState(archive.legal_hold);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const titleId = `retention-${archive.id}`;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    let patch: RetentionPatch | null;
    try {
      patch = retentionPatch(archive, expires, hold);
    } catch (err) {
      setError(messageOf(err));
      return;
    }
    if (!patch) {
      onClose();
      return;
    }
    setBusy(true);
    try {
      onSaved(await setRetention(archive.id, patch));
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  }

  return (
    <form
      aria-labelledby={titleId}
      onSubmit={submit}
      onKeyDown={(e) => e.key === "Escape" && !busy && onClose()}
      noValidate
      className="mt-2 flex flex-col gap-3 rounded border border-slate-700 bg-slate-950 p-3"
    >
      <h4 id={titleId} className="text-sm font-semibold">
        Retention of {archive.source}
      </h4>
      {error && <Alert>{error}</Alert>}
      <TextField
        label="Expires"
        type="datetime-local"
        value={expires}
        onChange={(e) => setExpires(e.target.value)}
        hint="Your local time. Deleted then, unless on legal hold."
      />
      <label className="flex items-center gap-2 text-sm text-slate-200">
        <input type="checkbox" checked={hold} onChange={(e) => setHold(e.target.checked)} className="h-4 w-4 accent-amber-500" />
        Legal hold (never deleted while set)
      </label>
      <div className="flex gap-2">
        <Button type="submit" disabled={busy}>
          {busy ? "Saving…" : "Save retention"}
        </Button>
        <Button variant="secondary" onClick={onClose} disabled={busy}>
          Discard
        </Button>
      </div>
    </form>
  );
}
