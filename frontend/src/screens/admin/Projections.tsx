// The read models' positions and lag, and rebuilding one: the server answers 202 at once and
// the status shows the progress, so the list is polled every second while a rebuild runs, and
// every few seconds otherwise, so the log head never goes stale while the page is open.
import { useCallback, useEffect, useRef, useState } from "react";
import { call, http } from "../../api/client";
import type { Schemas } from "../../api/client";
import { Alert, Button, messageOf } from "../../components/ui";
import { rebuildOutcome, rebuildProgress, statusText } from "./projections";

type ProjectionList = Schemas["ProjectionList"];

export const POLL_MS = 1000;
/** How often the list is read while no rebuild runs. */
export const IDLE_POLL_MS = 5000;

/** "updated 3 s ago" for the last successful read, ticking every second. */
function UpdatedAgo({ at }: { at: number }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const seconds = Math.max(0, Math.floor((now - at) / 1000));
  return <span data-testid="projections-updated">updated {seconds} s ago</span>;
}

export function Projections() {
  const [list, setList] = useState<ProjectionList | null>(null);
  const [loadedAt, setLoadedAt] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [results, setResults] = useState<{ kind: "success" | "error"; text: string }[]>([]);
  // Rebuilds this page started, with the generation they started from.
  const [pending, setPending] = useState<Record<string, number>>({});
  const pendingRef = useRef(pending);
  pendingRef.current = pending;

  const apply = useCallback((next: ProjectionList) => {
    setList(next);
    setLoadedAt(Date.now());
    const finished: { kind: "success" | "error"; text: string }[] = [];
    const still: Record<string, number> = {};
    for (const [name, start] of Object.entries(pendingRef.current)) {
      const item = next.items.find((p) => p.name === name);
      const outcome = rebuildOutcome(item, start);
      if (outcome === "running") still[name] = start;
      else if (outcome === "done") finished.push({ kind: "success", text: `Rebuilt ${name} (generation ${item?.generation}).` });
      else finished.push({ kind: "error", text: `The rebuild of ${name} stopped before it finished; the server log says why.` });
    }
    if (finished.length) {
      setPending(still);
      setResults((r) => [...finished, ...r].slice(0, 5));
    }
  }, []);

  const load = useCallback(async () => {
    try {
      const { data } = await call(() => http.GET("/v1/admin/projections"));
      setError(null);
      apply(data);
    } catch (err) {
      setError(messageOf(err));
    }
  }, [apply]);

  useEffect(() => {
    void load();
  }, [load]);

  const running = Object.keys(pending).length > 0 || (list?.items.some((p) => p.rebuilding) ?? false);
  useEffect(() => {
    const timer = setInterval(() => void load(), running ? POLL_MS : IDLE_POLL_MS);
    return () => clearInterval(timer);
  }, [running, load]);

  async function rebuild(name: string, generation: number) {
    setError(null);
    try {
      setPending((p) => ({ ...p, [name]: generation }));
      pendingRef.current = { ...pendingRef.current, [name]: generation };
      const { data } = await call(() => http.POST("/v1/admin/projections/{name}:rebuild", { params: { path: { name } } }));
      apply(data);
    } catch (err) {
      setPending(({ [name]: _dropped, ...rest }) => rest);
      pendingRef.current = Object.fromEntries(Object.entries(pendingRef.current).filter(([n]) => n !== name));
      setError(messageOf(err));
    }
  }

  return (
    <section aria-labelledby="projections-title" className="flex flex-col gap-3">
      <div className="flex items-center justify-between gap-2">
        <h2 id="projections-title" className="text-lg font-semibold">
          Projections
        </h2>
        <Button variant="secondary" onClick={() => void load()}>
          Refresh
        </Button>
      </div>
      {error && <Alert>{error}</Alert>}
      {results.map((r, i) => (
        <Alert key={`${i}-${r.text}`} kind={r.kind}>
          {r.text}
        </Alert>
      ))}
      {!list ? (
        !error && (
          <p role="status" className="text-slate-300">
            Loading projections…
          </p>
        )
      ) : (
        <>
          <p className="text-sm text-slate-300">
            Log head: position {list.head}
            {loadedAt !== null && (
              <>
                {" · "}
                <UpdatedAgo key={loadedAt} at={loadedAt} />
              </>
            )}
          </p>
          <div className="overflow-x-auto">
            <table aria-label="Projections" className="w-full text-left text-sm">
              <thead className="border-b border-slate-700 text-slate-300">
                <tr>
                  <th scope="col" className="py-2 pr-3 font-medium">Name</th>
                  <th scope="col" className="py-2 pr-3 text-right font-medium">Position</th>
                  <th scope="col" className="py-2 pr-3 text-right font-medium">Lag</th>
                  <th scope="col" className="py-2 pr-3 text-right font-medium">Generation</th>
                  <th scope="col" className="py-2 pr-3 font-medium">Status</th>
                  <th scope="col" className="py-2 pr-3 font-medium">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.items.map((p) => {
                  const progress = p.rebuilding ? rebuildProgress(p, list.head) : null;
                  const busy = p.rebuilding || p.name in pending;
                  return (
                    <tr key={p.name} className="border-b border-slate-800 align-top">
                      <td className="py-2 pr-3 font-medium">{p.name}</td>
                      <td className="py-2 pr-3 text-right tabular-nums">{p.position}</td>
                      <td className="py-2 pr-3 text-right tabular-nums">{p.lag}</td>
                      <td className="py-2 pr-3 text-right tabular-nums">{p.generation}</td>
                      <td className="py-2 pr-3">
                        <div>{statusText(p)}</div>
                        {progress && (
                          <div className="mt-1 flex flex-col gap-1">
                            <progress
                              aria-label={`Rebuild progress of ${p.name}`}
                              max={progress.max}
                              {...(progress.value === null ? {} : { value: progress.value })}
                              className="w-48"
                            />
                            <span className="text-xs text-slate-300">{progress.text}</span>
                          </div>
                        )}
                      </td>
                      <td className="py-2 pr-3 text-right">
                        <Button variant="secondary" disabled={busy} onClick={() => void rebuild(p.name, p.generation)}>
                          Rebuild {p.name}
                        </Button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
