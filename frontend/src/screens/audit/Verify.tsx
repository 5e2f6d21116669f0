// "Verify integrity": the server recomputes the session's hash chain and names the first broken link.
import { useState } from "react";
import { call, http } from "../../api/client";
import type { VerifyResult } from "../../api/client";
import { Alert, Button, messageOf } from "../../components/ui";
import { verifyMessage } from "./format";

export function Verify({ sessionId }: { sessionId: string }) {
  const [result, setResult] = useState<VerifyResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function verify() {
    setBusy(true);
    setError(null);
    try {
      const { data } = await call(() => http.POST("/v1/sessions/{id}/audit:verify", { params: { path: { id: sessionId } } }));
      setResult(data);
    } catch (err) {
      setResult(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="verify-title" className="rounded border border-slate-700 bg-slate-900 p-3">
      <h2 id="verify-title" className="font-semibold">
        Integrity
      </h2>
      <p className="mt-1 text-sm text-slate-400">Recomputes the session's hash chain from the log.</p>
      <Button className="mt-2" onClick={verify} disabled={busy}>
        {busy ? "Verifying…" : "Verify integrity"}
      </Button>
      <div className="mt-2">
        {error ? <Alert>Could not verify: {messageOf(error)}</Alert> : null}
        {result &&
          (result.ok ? (
            <div
              data-testid="verify-result"
              data-ok="true"
              role="status"
              className="rounded border border-emerald-500 bg-emerald-950 px-3 py-2 text-sm text-emerald-100"
            >
              {verifyMessage(result)}
            </div>
          ) : (
            <div
              data-testid="verify-result"
              data-ok="false"
              role="alert"
              className="rounded border border-rose-500 bg-rose-950 px-3 py-2 text-sm text-rose-100"
            >
              <p className="break-all font-semibold">{verifyMessage(result)}</p>
              {result.broken && (
                <dl className="mt-1 grid grid-cols-[max-content_minmax(0,1fr)] gap-x-3">
                  <dt>Stream</dt>
                  <dd className="break-all font-mono">{result.broken.stream}</dd>
                  <dt>Version</dt>
                  <dd className="font-mono">{result.broken.version}</dd>
                  <dt>Position</dt>
                  <dd className="font-mono">{result.broken.position}</dd>
                  <dt>Event id</dt>
                  <dd className="break-all font-mono">{result.broken.event_id}</dd>
                  <dt>What</dt>
                  <dd className="break-all">{result.broken.reason}</dd>
                </dl>
              )}
            </div>
          ))}
      </div>
    </section>
  );
}
