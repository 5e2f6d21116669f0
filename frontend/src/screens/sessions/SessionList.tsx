// The sessions the caller may see (the server decides: admins and reviewers see all), newest
// first, a page at a time; surgeons and admins can create one here.
import { useCallback, useEffect, useRef, useState } from "react";
import { Link } from "react-router";
import { call, http } from "../../api/client";
import type { Session } from "../../api/client";
import { useAuth } from "../../auth/AuthContext";
import { Alert, Button, PageTitle, SelectField, messageOf } from "../../components/ui";
import { NewSessionForm } from "./NewSessionForm";
import { StatusBadge } from "./StatusBadge";
import { STATUSES, canCreateSession, readAfter, statusLabel, type Status } from "./rules";
import { formatDateTime } from "./time";

const PAGE = 50;

export function SessionList() {
  const { user } = useAuth();
  const [status, setStatus] = useState<Status | "">("");
  const [items, setItems] = useState<Session[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  // Only the newest request may write the list (the filter can change while one runs).
  const generation = useRef(0);

  const load = useCallback(
    async (opts: { cursor?: string; minPosition?: number | null } = {}) => {
      const mine = opts.cursor ? generation.current : ++generation.current;
      if (opts.cursor) setLoadingMore(true);
      else setLoading(true);
      setError(null);
      try {
        const { data } = await call(() =>
          http.GET("/v1/sessions", {
            params: {
              query: {
                limit: PAGE,
                ...(status ? { status } : {}),
                ...(opts.cursor ? { cursor: opts.cursor } : {}),
                ...readAfter(opts.minPosition),
              },
            },
          }),
        );
        if (mine !== generation.current) return;
        setItems((old) => (opts.cursor ? [...old, ...data.items] : data.items));
        setNext(data.next_cursor ?? null);
      } catch (err) {
        if (mine === generation.current) setError(messageOf(err));
      } finally {
        if (mine === generation.current) {
          setLoading(false);
          setLoadingMore(false);
        }
      }
    },
    [status],
  );

  useEffect(() => {
    void load();
  }, [load]);

  const mayCreate = canCreateSession(user?.role);

  return (
    <main className="p-6">
      <PageTitle
        actions={
          mayCreate && (
            <Button id="new-session-toggle" aria-expanded={creating} aria-controls="new-session" onClick={() => setCreating((c) => !c)}>
              New session
            </Button>
          )
        }
      >
        Sessions
      </PageTitle>

      {creating && (
        <NewSessionForm
          id="new-session"
          onClose={() => {
            setCreating(false);
            // The form is gone: put focus back where the keyboard user opened it.
            document.getElementById("new-session-toggle")?.focus();
          }}
          onCreatedUnseen={(position) => {
            setCreating(false);
            setNotice("The session was created; it appears in the list as soon as the server has it.");
            void load({ minPosition: position });
          }}
        />
      )}

      <div className="mb-4 flex flex-wrap items-end gap-4">
        <SelectField label="Status" value={status} onChange={(e) => setStatus(e.target.value as Status | "")} className="w-48">
          <option value="">All</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {statusLabel(s)}
            </option>
          ))}
        </SelectField>
      </div>

      {notice && (
        <div className="mb-4">
          <Alert kind="info">{notice}</Alert>
        </div>
      )}
      {error && (
        <div className="mb-4 flex flex-col items-start gap-2">
          <Alert>{error}</Alert>
          <Button variant="secondary" onClick={() => void load()}>
            Try again
          </Button>
        </div>
      )}

      {loading ? (
        <p role="status" className="text-slate-300">
          Loading sessions…
        </p>
      ) : items.length === 0 && !error ? (
        <p className="text-slate-300">
          {status ? `No ${statusLabel(status).toLowerCase()} sessions.` : "No sessions yet."}
          {!status && mayCreate && " Create one with “New session”."}
        </p>
      ) : (
        items.length > 0 && (
          <div className="overflow-x-auto">
            <table aria-label="Sessions" className="w-full text-left text-sm lg:min-w-[56rem]">
              <thead className="border-b border-slate-700 text-slate-300">
                <tr>
                  <th scope="col" className="py-2 pr-3 font-medium">Title</th>
                  <th scope="col" className="hidden py-2 pr-3 font-medium sm:table-cell">Procedure</th>
                  <th scope="col" className="py-2 pr-3 font-medium">Status</th>
                  <th scope="col" className="hidden py-2 pr-3 font-medium md:table-cell">Scheduled start</th>
                  <th scope="col" className="hidden py-2 pr-3 font-medium lg:table-cell">Started</th>
                  <th scope="col" className="hidden py-2 pr-3 font-medium lg:table-cell">Ended</th>
                  <th scope="col" className="py-2 pr-3 text-right font-medium">Members</th>
                </tr>
              </thead>
              <tbody>
                {items.map((s) => (
                  <tr key={s.id} className="border-b border-slate-800">
                    <td className="py-2 pr-3">
                      <Link to={`/sessions/${s.id}`} className="text-sky-300 underline hover:text-sky-200">
                        {s.title}
                      </Link>
                    </td>
                    <td className="hidden py-2 pr-3 text-slate-200 sm:table-cell">{s.procedure || "—"}</td>
                    <td className="py-2 pr-3">
                      <StatusBadge status={s.status} />
                    </td>
                    <td className="hidden py-2 pr-3 text-slate-200 md:table-cell">{formatDateTime(s.scheduled_start)}</td>
                    <td className="hidden py-2 pr-3 text-slate-200 lg:table-cell">{formatDateTime(s.started_at)}</td>
                    <td className="hidden py-2 pr-3 text-slate-200 lg:table-cell">{formatDateTime(s.ended_at ?? s.cancelled_at)}</td>
                    <td className="py-2 pr-3 text-right text-slate-200">{s.member_count}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      )}

      {next && !loading && (
        <div className="mt-4">
          <Button variant="secondary" disabled={loadingMore} onClick={() => void load({ cursor: next })}>
            {loadingMore ? "Loading…" : "Load more"}
          </Button>
        </div>
      )}
    </main>
  );
}
