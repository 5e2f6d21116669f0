// "New session": title, procedure, scheduled start; on success the new session's page opens.
import { useState } from "react";
import type { FormEvent, KeyboardEvent } from "react";
import { useNavigate } from "react-router";
import { call, http, positionOf } from "../../api/client";
import type { Session } from "../../api/client";
import { Alert, Button, messageOf } from "../../components/ui";
import { DetailsFields } from "./DetailsFields";
import { createBody, validateDetails, type DetailsForm, type FormErrors } from "./details";

const EMPTY: DetailsForm = { title: "", procedure: "", scheduledStart: "" };

export function NewSessionForm({
  id,
  onClose,
  onCreatedUnseen,
}: {
  id: string;
  onClose(): void;
  /** The session is in the log but not yet readable (202): the list re-reads after `position`. */
  onCreatedUnseen(position: number | null): void;
}) {
  const navigate = useNavigate();
  const [form, setForm] = useState<DetailsForm>(EMPTY);
  const [errors, setErrors] = useState<FormErrors>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const found = validateDetails(form);
    setErrors(found);
    setError(null);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      const { data, response } = await call(() => http.POST("/v1/sessions", { body: createBody(form) }));
      if (response.status === 201) {
        navigate(`/sessions/${(data as Session).id}`);
        return;
      }
      setForm(EMPTY);
      onCreatedUnseen(positionOf(response));
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  function onKeyDown(e: KeyboardEvent) {
    if (e.key === "Escape" && !busy) onClose();
  }

  return (
    <form
      id={id}
      aria-labelledby={`${id}-title`}
      onSubmit={submit}
      onKeyDown={onKeyDown}
      noValidate
      className="mb-6 flex flex-col gap-3 rounded-lg border border-slate-700 bg-slate-900 p-4"
    >
      <h2 id={`${id}-title`} className="text-lg font-semibold">
        New session
      </h2>
      {error && <Alert>{error}</Alert>}
      <DetailsFields form={form} errors={errors} onChange={(field, value) => setForm((f) => ({ ...f, [field]: value }))} scheduledHint="Your local time" />
      <div className="flex gap-2">
        <Button type="submit" disabled={busy}>
          {busy ? "Creating…" : "Create session"}
        </Button>
        <Button variant="secondary" onClick={onClose} disabled={busy}>
          Close
        </Button>
      </div>
    </form>
  );
}
