// The audit trail as an ordered list, in log order: who, what, when, outcome, and the raw data.
// Runs of quality samples fold into one expandable row, so they do not drown the other events.
import { Link } from "react-router";
import type { AuditEvent } from "../../api/client";
import { Badge, Button } from "../../components/ui";
import { actorLabel, formatTime, outcomeLabel, safeSummary, typeLabel, type NameOf } from "./format";
import { FOLDED_TYPES, foldSamples } from "./trail";

type RowProps = {
  nameOf: NameOf;
  selected: number | null;
  onSelect?: (event: AuditEvent) => void;
  linkSessions?: boolean;
};

export function Timeline({
  events,
  nameOf,
  selected,
  onSelect,
  linkSessions,
}: {
  events: AuditEvent[];
  nameOf: NameOf;
  /** Position of the event the replay stands on, highlighted. */
  selected: number | null;
  /** Replays to an event; absent when there is no single session to replay. */
  onSelect?: (event: AuditEvent) => void;
  /** Offer a link to each event's session trail (the organisation-wide view). */
  linkSessions?: boolean;
}) {
  const props: RowProps = { nameOf, selected, onSelect, linkSessions };
  return (
    <ol aria-label="Audit timeline" className="flex flex-col gap-2">
      {foldSamples(events).map((row) =>
        "event" in row ? (
          <EventRow key={row.event.position} event={row.event} {...props} />
        ) : (
          <SampleRun key={row.samples[0]?.position} samples={row.samples} {...props} />
        ),
      )}
    </ol>
  );
}

/** A run of samples as one row, "12 quality samples", open to list them. */
function SampleRun({ samples, ...props }: { samples: AuditEvent[] } & RowProps) {
  const first = samples[0];
  const last = samples[samples.length - 1];
  const holdsSelected = samples.some((e) => e.position === props.selected);
  if (!first || !last) return null;
  const what = `${samples.length} ${FOLDED_TYPES[first.type] ?? "samples"}`;
  return (
    <li data-testid="audit-fold" data-count={samples.length} className="rounded border border-slate-700 bg-slate-900/60 px-3 py-2">
      <details open={holdsSelected || undefined}>
        <summary className="cursor-pointer select-none text-sm text-slate-300 hover:text-slate-100">
          {what}{" "}
          <span className="text-xs text-slate-400">
            ({formatTime(first.recorded_at)} – {formatTime(last.recorded_at)}, #{first.position}–#{last.position})
          </span>
        </summary>
        <ol aria-label={what} className="mt-2 flex flex-col gap-2">
          {samples.map((event) => (
            <EventRow key={event.position} event={event} {...props} />
          ))}
        </ol>
      </details>
    </li>
  );
}

function EventRow({ event, nameOf, selected, onSelect, linkSessions }: { event: AuditEvent } & RowProps) {
  const denied = event.outcome !== "ok" || event.type === "AccessDenied";
  const summary = safeSummary(event, nameOf);
  const isSelected = selected === event.position;
  const time = formatTime(event.recorded_at);
  return (
    <li
      key={event.position}
      data-testid="audit-item"
      data-type={event.type}
      data-position={event.position}
      aria-current={isSelected ? "step" : undefined}
      className={`rounded border px-3 py-2 ${
        denied ? "border-rose-500 bg-rose-950/60" : isSelected ? "border-sky-400 bg-slate-800" : "border-slate-700 bg-slate-900"
      }`}
    >
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1 text-sm">
        <time dateTime={event.recorded_at} className="font-mono text-xs text-slate-300" title={event.recorded_at}>
          {time}
        </time>
        <span className="text-xs text-slate-400">#{event.position}</span>
        <span className="font-semibold text-slate-100">{typeLabel(event.type)}</span>
        <Badge tone={denied ? "rose" : "emerald"}>{outcomeLabel(event.outcome)}</Badge>
        <span className="text-slate-300">{actorLabel(event, nameOf)}</span>
        <span className="ml-auto flex gap-2">
          {onSelect && (
            <Button
              variant="ghost"
              className="px-2! py-0.5! text-xs"
              aria-label={`Replay here: ${typeLabel(event.type)} at ${time}`}
              aria-pressed={isSelected}
              onClick={() => onSelect(event)}
            >
              Replay here
            </Button>
          )}
          {linkSessions && event.session_id && (
            <Link
              to={`/sessions/${event.session_id}/audit`}
              className="rounded px-2 py-0.5 text-xs text-sky-300 underline hover:bg-slate-800"
            >
              Session trail
            </Link>
          )}
        </span>
      </div>
      {summary && (
        <p data-testid="audit-summary" className={`mt-1 text-sm ${denied ? "text-rose-100" : "text-slate-200"}`}>
          {summary}
        </p>
      )}
      <details className="mt-1 text-xs text-slate-300">
        <summary className="cursor-pointer select-none text-slate-400 hover:text-slate-200">Details</summary>
        <dl className="mt-1 grid grid-cols-[max-content_minmax(0,1fr)] gap-x-3 gap-y-0.5">
          <dt className="text-slate-400">Stream</dt>
          <dd className="break-all font-mono">{event.stream}</dd>
          <dt className="text-slate-400">Correlation id</dt>
          <dd className="break-all font-mono">{event.correlation_id}</dd>
          {event.participant_id && (
            <>
              <dt className="text-slate-400">Participant</dt>
              <dd className="break-all font-mono">{event.participant_id}</dd>
            </>
          )}
          <dt className="text-slate-400">Recorded at</dt>
          <dd className="font-mono">{event.recorded_at}</dd>
        </dl>
        <pre className="mt-1 max-h-64 overflow-auto rounded bg-slate-950 p-2 font-mono text-slate-200">
          {JSON.stringify(event.data, null, 2)}
        </pre>
      </details>
    </li>
  );
}
