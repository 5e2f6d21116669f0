// The fields a session's details are made of, shared by "New session" and "Edit details".
import { TextField } from "../../components/ui";
import type { DetailsForm, FormErrors } from "./details";

export function DetailsFields({
  form,
  errors,
  onChange,
  scheduledHint,
}: {
  form: DetailsForm;
  errors: FormErrors;
  onChange(field: keyof DetailsForm, value: string): void;
  scheduledHint: string;
}) {
  const set = (field: keyof DetailsForm) => (e: { target: { value: string } }) => onChange(field, e.target.value);
  return (
    <div className="grid gap-3 md:grid-cols-3">
      <TextField label="Title" required maxLength={200} value={form.title} onChange={set("title")} error={errors.title} autoFocus />
      <TextField label="Procedure" value={form.procedure} onChange={set("procedure")} />
      <TextField
        label="Scheduled start"
        type="datetime-local"
        value={form.scheduledStart}
        onChange={set("scheduledStart")}
        error={errors.scheduledStart}
        hint={scheduledHint}
      />
    </div>
  );
}
