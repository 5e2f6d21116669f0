// What this browser publishes: each source's state, its microphone's mute, and Stop (confirmed:
// it cuts the feed for everyone).
import { useEffect, useState } from "react";
import { Badge, Button, messageOf } from "../../components/ui";
import type { SessionMedia } from "../../media/types";
import { ConfirmDialog } from "../sessions/ConfirmDialog";
import { healthOf, type FeedHealth } from "./feedHealth";

/** Seconds since `since` (ms epoch), counting up once a second; null when `since` is null. */
function useSecondsSince(since: number | null): number | null {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (since === null) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [since]);
  return since === null ? null : Math.max(0, Math.floor((now - since) / 1000));
}

/** The state of one published source: the server's stall outranks the browser's "live". */
function PublishedState({ state, stalledSince }: { state: string; stalledSince: number | null }) {
  const seconds = useSecondsSince(state === "live" ? stalledSince : null);
  if (seconds !== null) {
    return (
      <>
        <Badge tone="amber">stalled</Badge>
        <span role="status" className="w-full text-xs text-amber-300">
          The server has received no video of it for {seconds} s: check the camera.
        </span>
      </>
    );
  }
  return <Badge tone={state === "live" ? "emerald" : state === "failed" ? "rose" : "amber"}>{state}</Badge>;
}

export function PublishedList({ media, health, onError }: { media: SessionMedia; health: FeedHealth; onError(text: string): void }) {
  const [stopping, setStopping] = useState<string | null>(null);
  if (media.published.length === 0) return null;
  return (
    <>
      <ul aria-label="Published by this browser" className="flex flex-col gap-1.5">
        {media.published.map((p) => (
          <li key={p.source} data-testid={`published-${p.source}`} className="flex flex-wrap items-center gap-1.5 text-sm">
            <span className="font-medium text-slate-100">{p.source}</span>
            <PublishedState state={p.state} stalledSince={healthOf(health, p.source).stalledSince} />
            <span className="w-full truncate text-xs text-slate-400">{p.deviceLabel}</span>
            {p.error && <span className="w-full text-xs text-rose-300">{p.error}</span>}
            {p.audio && p.state !== "failed" && (
              <Button
                variant="secondary"
                aria-pressed={p.muted}
                aria-label={`${p.muted ? "Unmute" : "Mute"} the microphone of ${p.source}`}
                onClick={() => media.setMuted(p.source, !p.muted)}
              >
                {p.muted ? "Unmute" : "Mute"}
              </Button>
            )}
            <Button variant="secondary" aria-label={`Stop publishing ${p.source}`} onClick={() => setStopping(p.source)}>
              Stop
            </Button>
          </li>
        ))}
      </ul>
      {stopping && (
        <ConfirmDialog
          title={`Stop publishing ${stopping}?`}
          confirmLabel="Stop publishing"
          cancelLabel="Keep publishing"
          onConfirm={() => {
            const source = stopping;
            setStopping(null);
            void media.unpublish(source).catch((err: unknown) => onError(messageOf(err)));
          }}
          onCancel={() => setStopping(null)}
        >
          <p className="text-sm text-slate-300">Everyone in the session stops seeing {stopping}.</p>
        </ConfirmDialog>
      )}
    </>
  );
}
