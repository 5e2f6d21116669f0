// The Audit screen (reviewers and admins). `/sessions/:id/audit`: one session's trail, with a
// replay scrubber and the hash-chain check. `/audit`: pick a session, or read the trail of the
// whole organisation. Every read here is itself audited by the server (an `AuditTrailRead`
// event), so the screen reads only when the reader asks: no polling. The filters live in the
// URL (`?type=A,B&actor=…`), so a filtered view can be reloaded and shared.
import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { call, http } from "../../api/client";
import type { AuditEvent, Session } from "../../api/client";
import { auditNameOf, useDirectory } from "../../api/directory";
import { Alert, Button, PageTitle, SelectField, messageOf } from "../../components/ui";
import { FiltersForm } from "./FiltersForm";
import { Replay, strokesOf } from "./Replay";
import { ReplayPicture } from "./ReplayPicture";
import { Timeline } from "./Timeline";
import { Verify } from "./Verify";
import { SYSTEM_USER, formatTime, type NameOf } from "./format";
import {
  actorsOf,
  filtersFromParams,
  hasFilters,
  paramsOf,
  pointAt,
  pointOf,
  queryOf,
  spanOf,
  type Filters,
  type ReplayView,
  type ScrubPoint,
} from "./trail";

type Page = { items: AuditEvent[]; next_cursor?: string | null };

function fetchPage(sessionId: string | undefined, filters: Filters, cursor: string | null): Promise<Page> {
  const query = queryOf(filters, cursor);
  const request = sessionId
    ? call(() => http.GET("/v1/sessions/{id}/events", { params: { path: { id: sessionId }, query } }))
    : call(() => http.GET("/v1/audit", { params: { query } }));
  return request.then(({ data }) => data);
}

export function Audit() {
  const { id } = useParams();
  // A new session starts from a clean screen (filters, pages and scrubber belong to one trail).
  return <AuditScreen key={id ?? "all"} sessionId={id} />;
}

function AuditScreen({ sessionId }: { sessionId: string | undefined }) {
  const directory = useDirectory(true);
  const nameOf = useCallback<NameOf>(
    (userId) => (userId === SYSTEM_USER ? "System" : auditNameOf(directory, userId)),
    [directory],
  );
  const [searchParams, setSearchParams] = useSearchParams();
  const search = searchParams.toString();
  const filters = useMemo(() => filtersFromParams(new URLSearchParams(search)), [search]);
  const [reload, setReload] = useState(0);
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [point, setPoint] = useState<ScrubPoint | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [replayed, setReplayed] = useState<ReplayView | null>(null);

  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(null);
    fetchPage(sessionId, filters, null)
      .then((page) => {
        if (!live) return;
        setEvents(page.items);
        setCursor(page.next_cursor ?? null);
      })
      .catch((err: unknown) => {
        if (!live) return;
        setEvents([]);
        setCursor(null);
        setError(err);
      })
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [sessionId, filters, reload]);

  async function loadMore() {
    if (!cursor) return;
    setLoadingMore(true);
    setError(null);
    try {
      const page = await fetchPage(sessionId, filters, cursor);
      setEvents((known) => {
        const seen = new Set(known.map((e) => e.position));
        return [...known, ...page.items.filter((e) => !seen.has(e.position))];
      });
      setCursor(page.next_cursor ?? null);
    } catch (err) {
      setError(err);
    } finally {
      setLoadingMore(false);
    }
  }

  const actors = useMemo(
    () => [...new Set([...actorsOf(events), ...directory.keys()])],
    [events, directory],
  );

  // Until the reader moves it, the scrubber stands on the last event.
  const span = spanOf(events);
  const shown = point ?? (span ? pointAt(events, span.max) : null);

  // New filters change the URL, which reads the trail; the same ones read it again.
  const applyFilters = (next: Filters) => {
    const params = paramsOf(next);
    if (params.toString() === search) setReload((n) => n + 1);
    else setSearchParams(params);
  };

  return (
    <main className="flex-1 p-4 lg:p-6">
      {sessionId ? <SessionHeading sessionId={sessionId} onReload={() => setReload((n) => n + 1)} /> : <AllHeading onReload={() => setReload((n) => n + 1)} />}

      <FiltersForm applied={filters} actors={actors} nameOf={nameOf} onApply={applyFilters} />

      <div className={sessionId ? "grid gap-4 lg:grid-cols-[minmax(0,1fr)_22rem]" : ""}>
        <section aria-labelledby="timeline-title" className="min-w-0">
          <h2 id="timeline-title" className="mb-2 font-semibold">
            Timeline{" "}
            <span className="text-sm font-normal text-slate-400">
              ({events.length} event{events.length === 1 ? "" : "s"}
              {cursor ? ", more to load" : ""}
              {hasFilters(filters) ? ", filtered" : ""})
            </span>
          </h2>
          {error ? <Alert>Could not load the audit trail: {messageOf(error)}</Alert> : null}
          {loading ? (
            <p role="status" className="text-slate-300">
              Loading the audit trail…
            </p>
          ) : events.length === 0 ? (
            error ? null : (
              <p className="text-slate-300">{hasFilters(filters) ? "No events match these filters." : "No events yet."}</p>
            )
          ) : (
            <>
              <Timeline
                events={events}
                nameOf={nameOf}
                selected={selected}
                linkSessions={!sessionId}
                onSelect={
                  sessionId
                    ? (event) => {
                        setPoint(pointOf(event));
                        setSelected(event.position);
                      }
                    : undefined
                }
              />
              {cursor && (
                <div className="mt-3 flex items-center gap-3">
                  <Button variant="secondary" onClick={loadMore} disabled={loadingMore} aria-busy={loadingMore}>
                    Load more
                  </Button>
                  {loadingMore && (
                    <span role="status" className="text-sm text-slate-300">
                      Loading…
                    </span>
                  )}
                </div>
              )}
            </>
          )}
        </section>

        {sessionId && (
          <aside
            aria-label="Replay and integrity"
            className="order-first flex flex-col gap-4 lg:order-none lg:sticky lg:top-4 lg:max-h-[calc(100vh-2rem)] lg:self-start lg:overflow-y-auto"
          >
            <Verify sessionId={sessionId} />
            <Replay
              sessionId={sessionId}
              events={events}
              point={shown}
              onPoint={(p) => {
                setPoint(p);
                setSelected(null);
              }}
              nameOf={nameOf}
              onView={setReplayed}
            />
            <ReplayPicture sessionId={sessionId} point={shown} strokes={strokesOf(replayed)} />
          </aside>
        )}
      </div>
    </main>
  );
}

function SessionHeading({ sessionId, onReload }: { sessionId: string; onReload: () => void }) {
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    call(() => http.GET("/v1/sessions/{id}", { params: { path: { id: sessionId } } }))
      .then(({ data }) => live && setSession(data))
      .catch((err: unknown) => live && setError(err));
    return () => {
      live = false;
    };
  }, [sessionId]);
  return (
    <>
      <PageTitle
        actions={
          <>
            <Button variant="secondary" onClick={onReload}>
              Reload trail
            </Button>
            <Link to="/audit" className="rounded bg-slate-700 px-3 py-1.5 text-sm font-medium text-slate-100 hover:bg-slate-600">
              All sessions
            </Link>
          </>
        }
      >
        Audit: {session ? session.title : "session"}
      </PageTitle>
      {session && (
        <p className="-mt-2 mb-4 text-sm text-slate-300">
          {session.procedure ? `${session.procedure} · ` : ""}
          {session.status} · created {formatTime(session.created_at)} ·{" "}
          <Link to={`/sessions/${session.id}`} className="text-sky-300 underline">
            session page
          </Link>
        </p>
      )}
      {error ? (
        <div className="mb-4">
          <Alert>Could not load the session: {messageOf(error)}</Alert>
        </div>
      ) : null}
    </>
  );
}

function AllHeading({ onReload }: { onReload: () => void }) {
  const navigate = useNavigate();
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const [picked, setPicked] = useState("");
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    call(() => http.GET("/v1/sessions", { params: { query: { limit: 200 } } }))
      .then(({ data }) => live && setSessions(data.items))
      .catch((err: unknown) => live && setError(err));
    return () => {
      live = false;
    };
  }, []);
  return (
    <>
      <PageTitle
        actions={
          <Button variant="secondary" onClick={onReload}>
            Reload trail
          </Button>
        }
      >
        Audit
      </PageTitle>
      <form
        aria-label="Pick a session"
        className="mb-4 flex max-w-2xl flex-wrap items-end gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          if (picked) navigate(`/sessions/${picked}/audit`);
        }}
      >
        <SelectField
          label="Session"
          className="min-w-0 flex-1"
          value={picked}
          disabled={sessions === null}
          onChange={(e) => setPicked(e.target.value)}
        >
          <option value="">{sessions === null ? "Loading sessions…" : "All sessions (organisation-wide trail)"}</option>
          {(sessions ?? []).map((s) => (
            <option key={s.id} value={s.id}>
              {s.title} · {s.status} · {formatTime(s.created_at)}
            </option>
          ))}
        </SelectField>
        <Button type="submit" disabled={!picked}>
          Open session trail
        </Button>
      </form>
      <div className="mb-4 max-w-2xl">
        {sessions && sessions.length === 0 && <p className="mt-1 text-sm text-slate-400">No sessions yet.</p>}
        {error ? (
          <div className="mt-2">
            <Alert>Could not load the sessions: {messageOf(error)}</Alert>
          </div>
        ) : null}
      </div>
    </>
  );
}
