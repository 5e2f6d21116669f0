// The audit screen's pure logic: filters to query parameters, the replayed session's shape,
// and stepping the scrubber between event times.
import type { AuditEvent, Schemas } from "../../api/client";
import type { operations } from "../../api/generated/openapi";
import { localInputToRfc3339, msOf, replayAtOf } from "./format";

/** What the filters form holds (datetime-local strings for the times). */
export interface Filters {
  actor: string;
  /** Event types, comma-separated (the API's `type` takes the same list); empty: any type. */
  type: string;
  outcome: string;
  from: string;
  to: string;
}

export const NO_FILTERS: Filters = { actor: "", type: "", outcome: "", from: "", to: "" };

export type AuditQuery = NonNullable<operations["session_events"]["parameters"]["query"]>;

/** Page size of the timeline: big enough that a whole short session fits on one page. */
export const PAGE_SIZE = 200;

/** The query parameters for the filters (empty ones left out), a page size and a cursor. */
export function queryOf(filters: Filters, cursor?: string | null): AuditQuery {
  const query: AuditQuery = {};
  if (filters.actor) query.actor = filters.actor;
  if (filters.type) query.type = filters.type;
  if (filters.outcome) query.outcome = filters.outcome;
  const from = localInputToRfc3339(filters.from);
  if (from) query.from = from;
  const to = localInputToRfc3339(filters.to);
  if (to) query.to = to;
  query.limit = PAGE_SIZE;
  if (cursor) query.cursor = cursor;
  return query;
}

const FILTER_KEYS = Object.keys(NO_FILTERS) as (keyof Filters)[];

/** The filters a URL's search params hold (`?type=A,B&actor=…`), so a filtered view can be shared. */
export function filtersFromParams(params: URLSearchParams): Filters {
  const filters = { ...NO_FILTERS };
  for (const key of FILTER_KEYS) filters[key] = params.get(key) ?? "";
  return filters;
}

/** The search params for the filters (empty ones left out). */
export function paramsOf(filters: Filters): URLSearchParams {
  const params = new URLSearchParams();
  for (const key of FILTER_KEYS) if (filters[key]) params.set(key, filters[key]);
  return params;
}

/** The types a filter's comma-separated list names. */
export function typesOf(filters: Filters): string[] {
  return filters.type.split(",").filter(Boolean);
}

/** One row of the timeline: an event, or a run of samples of one type folded into one row. */
export type TimelineRow = { event: AuditEvent } | { samples: AuditEvent[] };

/** The event types that flood a trail, with what a folded run of them is called. */
export const FOLDED_TYPES: Record<string, string> = {
  // One sample per source every few seconds.
  MediaQualitySampled: "quality samples",
  // A laser pointer in use: up to five batches a second (issue 21).
  PointerMoved: "pointer movements",
};

/** The events as timeline rows, each run of two or more consecutive samples of one folded type folded. */
export function foldSamples(events: AuditEvent[]): TimelineRow[] {
  const rows: TimelineRow[] = [];
  let run: AuditEvent[] = [];
  const flush = () => {
    const [only] = run;
    if (run.length === 1 && only) rows.push({ event: only });
    else if (run.length > 1) rows.push({ samples: run });
    run = [];
  };
  for (const event of events) {
    if (FOLDED_TYPES[event.type] !== undefined) {
      if (run[0] && run[0].type !== event.type) flush();
      run.push(event);
      continue;
    }
    flush();
    rows.push({ event });
  }
  flush();
  return rows;
}

export function hasFilters(filters: Filters): boolean {
  return Object.values(filters).some((v) => v !== "");
}

/** A problem with the filters the reader should fix before applying them, or null. */
export function filtersProblem(filters: Filters): string | null {
  const from = localInputToRfc3339(filters.from);
  const to = localInputToRfc3339(filters.to);
  if (from && to && from >= to) return "“From” must be before “To”.";
  return null;
}

/** `GET /v1/sessions/{id}/state`: the session replayed from its stream at a moment. */
export type ReplayView = Schemas["Replay"];

/** Where the scrubber stands: the slider's millisecond and the exact `at` sent to the server. */
export interface ScrubPoint {
  ms: number;
  at: string;
}

/** The distinct event times (ms), ascending. */
export function eventTimes(events: AuditEvent[]): number[] {
  const times = new Set<number>();
  for (const e of events) {
    const t = msOf(e.recorded_at);
    if (!Number.isNaN(t)) times.add(t);
  }
  return [...times].sort((a, b) => a - b);
}

/** The slider's span: first to last event time, or null when there are no events. */
export function spanOf(events: AuditEvent[]): { min: number; max: number } | null {
  const times = eventTimes(events);
  const min = times[0];
  const max = times[times.length - 1];
  return min === undefined || max === undefined ? null : { min, max };
}

/**
 * The point for a slider value. On an event's millisecond the event's own `recorded_at`
 * (microseconds) is used, the latest one in the log if several share it, so replaying to it
 * includes exactly the events shown at or before it.
 */
export function pointAt(events: AuditEvent[], ms: number): ScrubPoint {
  let best: AuditEvent | null = null;
  for (const e of events) {
    if (msOf(e.recorded_at) === ms && (best === null || e.position > best.position)) best = e;
  }
  return { ms, at: best ? best.recorded_at : replayAtOf(ms) };
}

/** The point of one event (selecting it in the timeline). */
export function pointOf(event: AuditEvent): ScrubPoint {
  return { ms: msOf(event.recorded_at), at: event.recorded_at };
}

/** The next (+1) or previous (-1) event time from `ms`, or null at the end. */
export function stepTime(events: AuditEvent[], ms: number, direction: 1 | -1): number | null {
  const times = eventTimes(events);
  if (direction > 0) return times.find((t) => t > ms) ?? null;
  for (let i = times.length - 1; i >= 0; i--) {
    const t = times[i];
    if (t !== undefined && t < ms) return t;
  }
  return null;
}

/** Actor ids seen in the events, in order of first appearance. */
export function actorsOf(events: AuditEvent[]): string[] {
  const seen = new Set<string>();
  for (const e of events) if (e.actor_user_id) seen.add(e.actor_user_id);
  return [...seen];
}
