// What the session's events say about each source's feed: stalled (the SFU saw its video stop),
// stopped publishing, and its latest measured picture quality. Folded from the events this
// workspace receives over its WebSocket; the panels read it.
import { useCallback, useState } from "react";

/** The latest `MediaQualitySampled` of a source's video, as the SFU measured its reception. */
export interface VideoQuality {
  bitrateBps: number;
  /** Lost packets over the interval, in percent of those expected. */
  lossPercent: number;
  rttMs: number | null;
  jitterMs: number | null;
}

export interface SourceHealth {
  /** `Date.now()` when a `SourceStalled` came (and no `SourceResumed` since), else null. */
  stalledSince: number | null;
  /** A `PublisherDisconnected` came for it (and no `PublisherConnected` since). */
  stopped: boolean;
  quality: VideoQuality | null;
  /** An event since the workspace opened said whether it is stalled or publishing (then it outranks the server's earlier answer). */
  heard: boolean;
}

const HEALTHY: SourceHealth = { stalledSince: null, stopped: false, quality: null, heard: false };

export type FeedHealth = ReadonlyMap<string, SourceHealth>;

/** The health of `source` (a source never heard of is healthy, unmeasured). */
export function healthOf(health: FeedHealth, source: string | null): SourceHealth {
  return (source && health.get(source)) || HEALTHY;
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** `health` after one session event (the same map when the event changes nothing). */
export function foldFeedHealth(health: FeedHealth, eventType: string, data: unknown, now: number): FeedHealth {
  const d = (data ?? {}) as Record<string, unknown>;
  const source = typeof d.source === "string" ? d.source : null;
  if (eventType === "SessionEnded" || eventType === "SessionCancelled") return new Map();
  if (!source) return health;
  const current = healthOf(health, source);
  let next: SourceHealth;
  switch (eventType) {
    case "SourceStalled":
      next = { ...current, stalledSince: current.stalledSince ?? now, heard: true };
      break;
    case "SourceResumed":
      next = { ...current, stalledSince: null, heard: true };
      break;
    case "PublisherConnected":
      next = { ...current, stopped: false, stalledSince: null, heard: true };
      break;
    case "PublisherDisconnected":
      next = { stopped: true, stalledSince: null, quality: null, heard: true };
      break;
    case "MediaQualitySampled": {
      if (d.kind !== "video") return health;
      const packets = num(d.packets) ?? 0;
      const lost = num(d.packets_lost) ?? 0;
      const jitterUs = num(d.jitter_us);
      next = {
        ...current,
        quality: {
          bitrateBps: num(d.bitrate_bps) ?? 0,
          lossPercent: packets + lost > 0 ? (100 * lost) / (packets + lost) : 0,
          rttMs: num(d.rtt_ms),
          jitterMs: jitterUs === null ? null : jitterUs / 1000,
        },
      };
      break;
    }
    default:
      return health;
  }
  const out = new Map(health);
  out.set(source, next);
  return out;
}

/**
 * `health` completed by the server's own list of stalled sources (`GET .../media`): a source
 * that stalled before this workspace opened has sent no `SourceStalled` here, yet is stalled.
 * An event heard since outranks that answer.
 */
export function withServerStalls(health: FeedHealth, serverStalledSince: Readonly<Record<string, number>>): FeedHealth {
  const sources = Object.keys(serverStalledSince).filter((s) => !healthOf(health, s).heard);
  if (sources.length === 0) return health;
  const out = new Map(health);
  for (const s of sources) out.set(s, { ...healthOf(health, s), stalledSince: serverStalledSince[s] ?? null });
  return out;
}

/** The feed health of the session's sources, and the listener to hand every session event. */
export function useFeedHealth(): { health: FeedHealth; onEvent: (eventType: string, data: unknown) => void } {
  const [health, setHealth] = useState<FeedHealth>(() => new Map());
  const onEvent = useCallback((eventType: string, data: unknown) => {
    setHealth((h) => foldFeedHealth(h, eventType, data, Date.now()));
  }, []);
  return { health, onEvent };
}

/** Why a panel shows no picture, most decisive first. */
export type WaitingReason = "ended" | "not-started" | "no-source" | "stopped" | "not-published" | "connecting";

export function waitingReason({
  source,
  sessionStatus,
  published,
  stopped,
}: {
  source: string | null;
  /** The session's status (`scheduled`, `live`, `ended`, `cancelled`). */
  sessionStatus: string;
  /** The server lists `source` among the session's published sources. */
  published: boolean;
  stopped: boolean;
}): WaitingReason {
  if (sessionStatus === "ended" || sessionStatus === "cancelled") return "ended";
  if (sessionStatus !== "live") return "not-started";
  if (source === null) return "no-source";
  if (!published) return stopped ? "stopped" : "not-published";
  return "connecting";
}

/** What a panel without a picture says. */
export function waitingText(reason: WaitingReason, source: string | null): string {
  switch (reason) {
    case "ended":
      return "The session has ended";
    case "not-started":
      return "The session has not started yet";
    case "no-source":
      return "No source";
    case "stopped":
      return `${source} stopped publishing`;
    case "not-published":
      return `${source} is not published yet`;
    case "connecting":
      return `Waiting for ${source}…`;
  }
}
