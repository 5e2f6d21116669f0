// The session details form (create and edit) and the bodies it sends.
import type { Schemas, Session } from "../../api/client";
import { localInputToRfc3339, rfc3339ToLocalInput } from "./time";

export interface DetailsForm {
  title: string;
  procedure: string;
  /** datetime-local value, local time; "" for none */
  scheduledStart: string;
}

export type FormErrors = Partial<Record<keyof DetailsForm, string>>;

/** Field errors worth catching before the server does (the server's word still counts). */
export function validateDetails(form: DetailsForm): FormErrors {
  const errors: FormErrors = {};
  const title = form.title.trim();
  if (title === "") errors.title = "Enter a title.";
  else if (title.length > 200) errors.title = "The title can have at most 200 characters.";
  try {
    localInputToRfc3339(form.scheduledStart);
  } catch {
    errors.scheduledStart = "Enter a date and time, or leave it empty.";
  }
  return errors;
}

export function createBody(form: DetailsForm): Schemas["CreateSessionRequest"] {
  const procedure = form.procedure.trim();
  const start = localInputToRfc3339(form.scheduledStart);
  return {
    title: form.title.trim(),
    ...(procedure ? { procedure } : {}),
    ...(start ? { scheduled_start: start } : {}),
  };
}

export function formOf(session: Session): DetailsForm {
  return {
    title: session.title,
    procedure: session.procedure ?? "",
    scheduledStart: rfc3339ToLocalInput(session.scheduled_start),
  };
}

/**
 * Only the fields that changed (absent fields stay; `null` clears procedure or scheduled
 * start); `null` when nothing changed.
 */
export function updateBody(session: Session, form: DetailsForm): Schemas["UpdateSessionRequest"] | null {
  const before = formOf(session);
  const body: Schemas["UpdateSessionRequest"] = {};
  if (form.title.trim() !== before.title) body.title = form.title.trim();
  if (form.procedure.trim() !== before.procedure) body.procedure = form.procedure.trim() || null;
  if (form.scheduledStart !== before.scheduledStart) body.scheduled_start = localInputToRfc3339(form.scheduledStart);
  return Object.keys(body).length ? body : null;
}
