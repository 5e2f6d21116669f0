// The service level indicators the server computes over the last minutes (the same SLIs as the
// Prometheus rules in ops/prometheus, so a small deployment needs no Grafana), and its load:
// read every few seconds while the page is open.
import { useCallback, useEffect, useState } from "react";
import { call, http } from "../../api/client";
import type { Schemas } from "../../api/client";
import { Alert, Badge, Button, messageOf } from "../../components/ui";
import { budgetText, percent, percentileText, seconds, statusWord, valueText } from "./health";

type ServiceHealth = Schemas["ServiceHealth"];

export const HEALTH_POLL_MS = 5000;

const tone = { met: "emerald", missed: "rose", no_data: "slate" } as const;

export function Health() {
  const [health, setHealth] = useState<ServiceHealth | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const { data } = await call(() => http.GET("/v1/admin/health"));
      setError(null);
      setHealth(data);
    } catch (err) {
      setError(messageOf(err));
    }
  }, []);

  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), HEALTH_POLL_MS);
    return () => clearInterval(timer);
  }, [load]);

  return (
    <section aria-labelledby="health-title" className="flex flex-col gap-3">
      <div className="flex items-center justify-between gap-2">
        <h2 id="health-title" className="text-lg font-semibold">
          Service health
        </h2>
        <Button variant="secondary" onClick={() => void load()}>
          Refresh
        </Button>
      </div>
      {error && <Alert>{error}</Alert>}
      {!health ? (
        !error && (
          <p role="status" className="text-slate-300">
            Loading health…
          </p>
        )
      ) : (
        <>
          <p className="text-sm text-slate-300" data-testid="health-window">
            Over the last {seconds(health.window_seconds)} on this server (the objectives hold over 30 days; Prometheus and the
            Grafana dashboard in ops/ keep the longer view).
          </p>
          <div className="overflow-x-auto">
            <table aria-label="Service level indicators" className="w-full text-left text-sm">
              <thead className="border-b border-slate-700 text-slate-300">
                <tr>
                  <th scope="col" className="py-2 pr-3 font-medium">Indicator</th>
                  <th scope="col" className="py-2 pr-3 text-right font-medium">Now</th>
                  <th scope="col" className="py-2 pr-3 text-right font-medium">Objective</th>
                  <th scope="col" className="py-2 pr-3 text-right font-medium">Error budget</th>
                  <th scope="col" className="py-2 pr-3 text-right font-medium">Percentile</th>
                </tr>
              </thead>
              <tbody>
                {health.indicators.map((i) => (
                  <tr key={i.name} className="border-b border-slate-800 align-top" data-testid={`sli-${i.name}`}>
                    <td className="py-2 pr-3">
                      <div className="flex flex-wrap items-center gap-2">
                        <span className="font-medium">{i.title}</span>
                        <Badge tone={tone[i.status as keyof typeof tone] ?? "slate"}>{statusWord(i)}</Badge>
                      </div>
                      <div className="text-xs text-slate-400">
                        {i.name} · {i.good} of {i.valid} good
                      </div>
                    </td>
                    <td className="py-2 pr-3 text-right tabular-nums">{valueText(i)}</td>
                    <td className="py-2 pr-3 text-right tabular-nums">{percent(i.objective)}</td>
                    <td className="py-2 pr-3 text-right tabular-nums">{budgetText(i)}</td>
                    <td className="py-2 pr-3 text-right tabular-nums">{percentileText(i)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <h3 className="text-base font-semibold">Load</h3>
          <dl aria-label="Load" className="grid grid-cols-2 gap-x-6 gap-y-1 text-sm sm:grid-cols-4">
            <dt className="text-slate-400">Publishers</dt>
            <dd className="tabular-nums">{health.load.publishers}</dd>
            <dt className="text-slate-400">Subscribers</dt>
            <dd className="tabular-nums">{health.load.subscribers}</dd>
            <dt className="text-slate-400">Live tracks</dt>
            <dd className="tabular-nums">{health.load.tracks}</dd>
            <dt className="text-slate-400">WebSocket clients</dt>
            <dd className="tabular-nums">{health.load.websocket_clients}</dd>
            <dt className="text-slate-400">Log head</dt>
            <dd className="tabular-nums">{health.load.log_head}</dd>
            <dt className="text-slate-400">Projections lag</dt>
            <dd className="tabular-nums" data-testid="health-lag">
              {health.load.projections_lag} events
            </dd>
            <dt className="text-slate-400">Upload backlog</dt>
            <dd className="tabular-nums">{health.load.recording_upload_backlog} segments</dd>
          </dl>
        </>
      )}
    </section>
  );
}
