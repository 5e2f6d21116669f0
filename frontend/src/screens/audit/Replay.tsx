// The scrubber: pick a moment between the first and the last event, and see the session as the
// log says it was then (GET /v1/sessions/{id}/state?at=).
import { useEffect, useRef, useState } from "react";
import { call, http } from "../../api/client";
import type { AuditEvent } from "../../api/client";
import { Alert, Badge, Button, messageOf } from "../../components/ui";
import { formatTime, words, type NameOf } from "./format";
import { pointAt, spanOf, stepTime, type ReplayView, type ScrubPoint } from "./trail";
import { OutlineStrokes } from "../../teaching/ReplayStrokes";
import { onPanel } from "../../teaching/state";
import type { TeachingStroke, TeachingView } from "../../teaching/types";

/** The strokes a replayed view holds (issue 21's `teaching`; none from a server without it). */
export function strokesOf(view: ReplayView | null): TeachingStroke[] {
  const teaching = (view as (ReplayView & { teaching?: Partial<TeachingView> }) | null)?.teaching;
  const strokes = teaching?.strokes;
  return Array.isArray(strokes) ? strokes : [];
}

/** Waits this long after the last slider move before asking the server (each ask is audited). */
export const REPLAY_DEBOUNCE_MS = 250;

export function Replay({
  sessionId,
  events,
  point,
  onPoint,
  nameOf,
  onView,
}: {
  sessionId: string;
  events: AuditEvent[];
  point: ScrubPoint | null;
  onPoint: (point: ScrubPoint) => void;
  nameOf: NameOf;
  /** Hears each replayed view (the recorded picture draws its strokes). */
  onView?: (view: ReplayView) => void;
}) {
  const span = spanOf(events);
  const [view, setView] = useState<ReplayView | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const asked = useRef(0);
  const at = point?.at ?? null;

  useEffect(() => {
    if (at === null) return;
    const ask = ++asked.current;
    const timer = setTimeout(() => {
      setLoading(true);
      call(() => http.GET("/v1/sessions/{id}/state", { params: { path: { id: sessionId }, query: { at } } }))
        .then(({ data }) => {
          if (ask !== asked.current) return;
          setView(data);
          onView?.(data);
          setError(null);
        })
        .catch((err: unknown) => ask === asked.current && setError(err))
        .finally(() => ask === asked.current && setLoading(false));
    }, REPLAY_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [sessionId, at]);

  if (!span || !point) {
    return (
      <section aria-labelledby="replay-title" className="rounded border border-slate-700 bg-slate-900 p-3">
        <h2 id="replay-title" className="font-semibold">
          Replay
        </h2>
        <p className="mt-1 text-sm text-slate-400">No events to replay yet.</p>
      </section>
    );
  }

  const step = (direction: 1 | -1) => {
    const t = stepTime(events, point.ms, direction);
    if (t !== null) onPoint(pointAt(events, t));
  };
  const previous = stepTime(events, point.ms, -1);
  const next = stepTime(events, point.ms, 1);

  return (
    <section aria-labelledby="replay-title" className="rounded border border-slate-700 bg-slate-900 p-3">
      <h2 id="replay-title" className="font-semibold">
        Replay
      </h2>
      <div className="mt-2 flex flex-col gap-2">
        <input
          type="range"
          aria-label="Replay time"
          aria-valuetext={formatTime(point.at)}
          min={span.min}
          max={span.max}
          step={1}
          value={Math.min(Math.max(point.ms, span.min), span.max)}
          onChange={(e) => onPoint(pointAt(events, Number(e.target.value)))}
          onKeyDown={(e) => {
            // The slider moves by milliseconds; from the keyboard, whole events are what matter.
            const direction = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1 }[e.key] as 1 | -1 | undefined;
            if (direction) {
              e.preventDefault();
              step(direction);
            }
          }}
          aria-describedby="replay-hint"
          className="w-full accent-sky-500"
        />
        <p id="replay-hint" className="text-xs text-slate-400">
          Drag to any moment; arrow keys step from event to event.
        </p>
        <div className="flex flex-wrap justify-between gap-x-3 text-xs text-slate-400">
          <span>{formatTime(new Date(span.min).toISOString())}</span>
          <span>{formatTime(new Date(span.max).toISOString())}</span>
        </div>
        <div className="flex flex-wrap items-center gap-2">
          <Button variant="secondary" onClick={() => step(-1)} disabled={previous === null}>
            Previous event
          </Button>
          <Button variant="secondary" onClick={() => step(1)} disabled={next === null}>
            Next event
          </Button>
        </div>
        <p className="text-sm text-slate-200">
          At <time dateTime={point.at}>{formatTime(point.at)}</time>
        </p>
      </div>
      <div className="mt-3" aria-live="polite" aria-busy={loading}>
        {error ? (
          <Alert>Could not replay the session: {messageOf(error)}</Alert>
        ) : view ? (
          <StateView view={view} nameOf={nameOf} stale={loading} />
        ) : (
          <p role="status" className="text-sm text-slate-400">
            Replaying…
          </p>
        )}
      </div>
    </section>
  );
}

function StateView({ view, nameOf, stale }: { view: ReplayView; nameOf: NameOf; stale: boolean }) {
  if (view.status === null) {
    return <p className="text-sm text-slate-300">The session did not exist yet at this time.</p>;
  }
  const panels = [...view.layout.panels].sort((a, b) => a.z - b.z);
  const strokes = strokesOf(view);
  const members = new Map(view.members.map((m) => [m.user_id, m.role]));
  return (
    <div data-testid="replay-state" className={`flex flex-col gap-3 text-sm ${stale ? "opacity-70" : ""}`}>
      <p className="text-slate-300" data-testid="replay-position">
        {view.last_position > 0 ? (
          <>
            Reflects log position {view.last_position} (stream version {view.last_version})
            {view.last_recorded_at && (
              <>
                , recorded <time dateTime={view.last_recorded_at}>{formatTime(view.last_recorded_at)}</time>
              </>
            )}
          </>
        ) : (
          "No session event yet."
        )}
      </p>
      <div className="flex flex-wrap gap-2">
        <Badge tone={view.status === "live" ? "emerald" : "slate"}>Status: {view.status}</Badge>
        <Badge tone={view.recording.state === "recording" ? "rose" : "slate"}>
          Recording: {words(view.recording.state)}
        </Badge>
      </div>

      <div>
        <h3 className="font-medium text-slate-200">Present ({view.participants.length})</h3>
        {view.participants.length === 0 ? (
          <p className="text-slate-400">Nobody present.</p>
        ) : (
          <ul aria-label="Participants present" className="mt-1 flex flex-col gap-0.5">
            {view.participants.map((p) => (
              <li key={p.participant_id}>
                {nameOf(p.user_id)} <span className="text-slate-400">({p.role})</span>
                {p.device && <span className="text-slate-400"> · {p.device}</span>}
              </li>
            ))}
          </ul>
        )}
      </div>

      <div>
        <h3 className="font-medium text-slate-200">Members ({view.members.length})</h3>
        <ul aria-label="Members" className="mt-1 flex flex-wrap gap-x-3 gap-y-0.5">
          {[...members].map(([userId, role]) => (
            <li key={userId}>
              {nameOf(userId)} <span className="text-slate-400">({role})</span>
            </li>
          ))}
        </ul>
      </div>

      <figure>
        <figcaption className="font-medium text-slate-200">Layout (version {view.layout.version})</figcaption>
        <div
          data-testid="replay-layout"
          className="relative mt-1 aspect-square w-full max-w-72 rounded border border-slate-600 bg-slate-950"
          style={{
            backgroundImage:
              "linear-gradient(to right, rgb(51 65 85 / 0.5) 1px, transparent 1px), linear-gradient(to bottom, rgb(51 65 85 / 0.5) 1px, transparent 1px)",
            backgroundSize: `${100 / 12}% ${100 / 12}%`,
          }}
        >
          {panels.map((p) => (
            <div
              key={p.id}
              data-testid="replay-panel"
              data-panel-id={p.id}
              className="absolute overflow-hidden rounded-sm border border-sky-400 bg-sky-950/85 p-0.5 text-xs leading-tight text-sky-50"
              style={{
                left: `${(p.x / 12) * 100}%`,
                top: `${(p.y / 12) * 100}%`,
                width: `${(p.w / 12) * 100}%`,
                height: `${(p.h / 12) * 100}%`,
                zIndex: p.z,
              }}
              title={`${p.id}: ${p.w}x${p.h} at ${p.x},${p.y}, layer ${p.z}`}
            >
              <span className="font-semibold">{p.id}</span>
              <br />
              <span>{p.source_id ?? "no source"}</span>
              <OutlineStrokes panelId={p.id} strokes={strokes.filter((s) => onPanel(s, p.id, p.source_id ?? null))} />
            </div>
          ))}
        </div>
      </figure>

      {strokes.length > 0 && (
        <p className="text-slate-300" data-testid="replay-drawings">
          {strokes.length} drawing{strokes.length === 1 ? "" : "s"} on screen:{" "}
          {[...new Set(strokes.map((s) => s.user_id))].map(nameOf).join(", ")}
        </p>
      )}

      <div>
        <h3 className="font-medium text-slate-200">Sources shown</h3>
        <ul aria-label="Sources shown" className="mt-1">
          {Object.entries(view.sources).map(([panel, source]) => (
            <li key={panel}>
              {panel}: {source ?? <span className="text-slate-400">nothing</span>}
            </li>
          ))}
        </ul>
      </div>

      <div>
        <h3 className="font-medium text-slate-200">Published media</h3>
        {view.media.sources.length === 0 ? (
          <p className="text-slate-400">Nothing published.</p>
        ) : (
          <ul aria-label="Published media" className="mt-1">
            {view.media.sources.map((s) => (
              <li key={s.resource_id}>
                {s.source} <span className="text-slate-400">by {nameOf(s.user_id)}</span>
                {s.tracks.length > 0 && (
                  <span className="text-slate-400"> · {s.tracks.map((t) => `${t.kind} ${t.codec}`).join(", ")}</span>
                )}
              </li>
            ))}
          </ul>
        )}
        {view.media.subscribers.length > 0 && (
          <p className="mt-1 text-slate-300">
            {view.media.subscribers.length} subscriber{view.media.subscribers.length === 1 ? "" : "s"} watching
          </p>
        )}
      </div>
    </div>
  );
}
