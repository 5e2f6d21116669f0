// Edit a session's title, procedure and scheduled start (PATCH sends only what changed).
import { useState } from "react";
import type { FormEvent, KeyboardEvent } from "react";
import { call, http, positionOf } from "../../api/client";
import type { Session } from "../../api/client";
import { Alert, Button, messageOf } from "../../components/ui";
import { DetailsFields } from "./DetailsFields";
import { formOf, updateBody, validateDetails, type DetailsForm, type FormErrors } from "./details";

export function EditSessionForm({
  session,
  onClose,
  onSaved,
}: {
  session: Session;
  onClose(): void;
  /** The session as the server answered (null on 202) and the write's position. */
  onSaved(updated: Session | null, position: number | null): void;
}) {
  const [form, setForm] = useState<DetailsForm>(() => formOf(session));
  const [errors, setErrors] = useState<FormErrors>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const found = validateDetails(form);
    setErrors(found);
    setError(null);
    if (Object.keys(found).length) return;
    const body = updateBody(session, form);
    if (!body) {
      onClose();
      return;
    }
    setBusy(true);
    try {
      const { data, response } = await call(() =>
        http.PATCH("/v1/sessions/{id}", { params: { path: { id: session.id } }, body }),
      );
      onSaved(response.status === 200 ? (data as Session) : null, positionOf(response));
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  }

  return (
    <form
      aria-labelledby="edit-session-title"
      onSubmit={submit}
      onKeyDown={(e: KeyboardEvent) => e.key === "Escape" && !busy && onClose()}
      noValidate
      className="flex flex-col gap-3 rounded-lg border border-slate-700 bg-slate-900 p-4"
    >
      <h2 id="edit-session-title" className="text-lg font-semibold">
        Edit details
      </h2>
      {error && <Alert>{error}</Alert>}
      <DetailsFields form={form} errors={errors} onChange={(field, value) => setForm((f) => ({ ...f, [field]: value }))} scheduledHint="Your local time; empty clears it" />
      <div className="flex gap-2">
        <Button type="submit" disabled={busy}>
          {busy ? "Saving…" : "Save changes"}
        </Button>
        <Button variant="secondary" onClick={onClose} disabled={busy}>
          Discard
        </Button>
      </div>
    </form>
  );
}
