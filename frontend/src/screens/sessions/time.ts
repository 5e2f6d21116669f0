// Times as people read them (their locale and zone) and as the API takes them (RFC 3339, UTC).
// `<input type="datetime-local">` speaks local wall-clock time without a zone, so the two
// conversions below are the only place where a zone is applied.

/** A timestamp in the reader's locale, or an em dash when there is none. */
export function formatDateTime(iso: string | null | undefined, locale?: string, timeZone?: string): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(date);
}

/**
 * A datetime-local value (`2026-12-03T08:00`, the reader's local time) as RFC 3339 UTC
 * (`2026-12-03T07:00:00Z`); `null` for an empty field. Throws on a value that is not a time.
 */
export function localInputToRfc3339(value: string): string | null {
  const trimmed = value.trim();
  if (trimmed === "") return null;
  // Only date-time forms without an offset are parsed as local time by Date; reject the rest.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(trimmed)) {
    throw new RangeError(`not a date and time: ${value}`);
  }
  const date = new Date(trimmed);
  if (Number.isNaN(date.getTime())) throw new RangeError(`not a date and time: ${value}`);
  return date.toISOString().replace(/\.000Z$/, "Z");
}

/** An RFC 3339 timestamp as a datetime-local value in the reader's zone; "" for none. */
export function rfc3339ToLocalInput(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
