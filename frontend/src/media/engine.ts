// The media layer of one join: every RTCPeerConnection of the workspace (one WHIP per published
// camera, one WHEP subscription for every panel), the session's source list, the first-frame
// report. Plain TypeScript with a subscribe/snapshot pair so React only reads it. This file
// composes the two sides (publishing.ts, subscriptions.ts) and follows the session's sources.
import { ApiError, call, http } from "../api/client";
import { EngineCore, type EngineOptions, type EngineSnapshot } from "./core";
import { Publishing } from "./publishing";
import { sameSlots } from "./slots";
import { Subscriptions, type InboundSlot } from "./subscriptions";
import type { AudioChoice } from "./types";

export type { EngineOptions, EngineSnapshot } from "./core";
export { FIRST_FRAME_POLL_MS } from "./subscriptions";

/** What the E2E test reads on `window.__livesurgeryMedia` (no tokens, no URLs). */
export interface MediaDebugHook {
  inbound(): Promise<InboundSlot[]>;
  /** Sources this browser publishes whose connection is up (`state: "live"`). */
  published(): string[];
}

declare global {
  interface Window {
    __livesurgeryMedia?: MediaDebugHook;
  }
}

/** Coalesces bursts of media events into one `GET .../media`. */
const SOURCES_REFRESH_MS = 50;

export class MediaEngine {
  private readonly core: EngineCore;
  private readonly publishing: Publishing;
  private readonly subscriptions: Subscriptions;
  private readonly listeners = new Set<() => void>();
  private snapshot: EngineSnapshot;

  private sessionSources: string[] = [];
  /** Who publishes each source (user id), from the same answers and events as `sessionSources`. */
  private sourcePublishers: Readonly<Record<string, string>> = {};
  private sourceStalledSince: Readonly<Record<string, number>> = {};
  /** Sources seen unpublished (and not back since): their panels show the placeholder, not a frozen frame. */
  private readonly gone = new Set<string>();
  private sourcesTimer: ReturnType<typeof setTimeout> | null = null;
  private sourcesInFlight = false;
  private sourcesAgain = false;

  constructor(opts: EngineOptions) {
    this.core = new EngineCore(opts, () => this.emit());
    this.publishing = new Publishing(this.core);
    this.subscriptions = new Subscriptions(this.core);
    this.snapshot = this.makeSnapshot();
  }

  // ---- React's view ----

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getSnapshot = (): EngineSnapshot => this.snapshot;

  private makeSnapshot(): EngineSnapshot {
    return {
      published: this.publishing.published(),
      devices: this.publishing.devices,
      sessionSources: this.sessionSources,
      sourcePublishers: this.sourcePublishers,
      sourceStalledSince: this.sourceStalledSince,
      error: this.core.error?.text ?? null,
      slotsVersion: this.core.slotsVersion,
    };
  }

  private emit(): void {
    if (this.core.disposed) return;
    this.snapshot = this.makeSnapshot();
    for (const l of [...this.listeners]) l();
  }

  // ---- Life ----

  start(): void {
    if (typeof window !== "undefined") {
      window.__livesurgeryMedia = this.hook;
      window.addEventListener("pagehide", this.onPageHide);
    }
    this.publishing.start();
    void this.refreshSources();
    this.subscriptions.start();
  }

  /** Whether `dispose` ran: nothing of this join may start any more. */
  get disposed(): boolean {
    return this.core.disposed;
  }

  /** Ends everything: DELETEs every resource (`keepalive`, so it also works on unload). */
  dispose(): void {
    if (this.core.disposed) return;
    this.core.disposed = true;
    this.listeners.clear();
    if (this.sourcesTimer) clearTimeout(this.sourcesTimer);
    if (typeof window !== "undefined") {
      if (window.__livesurgeryMedia === this.hook) delete window.__livesurgeryMedia;
      window.removeEventListener("pagehide", this.onPageHide);
    }
    this.publishing.dispose();
    this.subscriptions.dispose();
  }

  private readonly onPageHide = () => this.dispose();

  private readonly hook: MediaDebugHook = {
    inbound: () => this.subscriptions.inbound(),
    published: () => this.publishing.live(),
  };

  // ---- The session's sources ----

  private scheduleSourcesRefresh(): void {
    if (this.sourcesTimer || this.core.disposed) return;
    this.sourcesTimer = setTimeout(() => {
      this.sourcesTimer = null;
      void this.refreshSources();
    }, SOURCES_REFRESH_MS);
  }

  private async refreshSources(): Promise<void> {
    if (this.sourcesInFlight) {
      this.sourcesAgain = true;
      return;
    }
    this.sourcesInFlight = true;
    const core = this.core;
    try {
      do {
        this.sourcesAgain = false;
        const { data } = await call(() =>
          http.GET("/v1/sessions/{id}/media", { params: { path: { id: core.opts.sessionId } } }),
        );
        if (core.disposed) return;
        // An event came in meanwhile: this answer may predate it, ask again before using it.
        if (this.sourcesAgain) continue;
        const next = data.sources.map((s) => s.source);
        const publishers = Object.fromEntries(data.sources.map((s) => [s.source, s.user_id]));
        const stalled = stalledSince(data.sources);
        const publishersChanged = !samePublishers(publishers, this.sourcePublishers) || !sameStalls(stalled, this.sourceStalledSince);
        if (publishersChanged) {
          this.sourcePublishers = publishers;
          this.sourceStalledSince = stalled;
        }
        let back = false;
        for (const s of next) if (this.gone.delete(s)) back = true;
        if (back) core.slotsVersion += 1;
        if (back || !sameSlots(next, this.sessionSources)) {
          this.sessionSources = next;
          this.emit();
        } else if (publishersChanged) {
          this.emit();
        }
        core.clearError("sources");
      } while (this.sourcesAgain && !core.disposed);
    } catch (err) {
      if (!core.disposed) {
        core.setError("sources", `The list of video sources could not be loaded: ${err instanceof ApiError ? err.describe() : String(err)}`);
      }
    } finally {
      this.sourcesInFlight = false;
    }
  }

  /** Follows media events: the source list, and the server ending one of our resources. */
  onSessionEvent(eventType: string, data: unknown): void {
    if (this.core.disposed) return;
    const d = (data ?? {}) as { source?: unknown; resource_id?: unknown; reason?: unknown; kind?: unknown };
    const source = typeof d.source === "string" ? d.source : null;
    switch (eventType) {
      case "PublisherConnected":
      case "TrackPublished":
        if (source && this.gone.delete(source)) this.core.slotsVersion += 1;
        if (source && !this.sessionSources.includes(source)) this.sessionSources = [...this.sessionSources, source];
        this.emit();
        this.scheduleSourcesRefresh();
        break;
      case "PublisherDisconnected":
        if (source) {
          this.gone.add(source);
          this.core.slotsVersion += 1;
          this.sessionSources = this.sessionSources.filter((s) => s !== source);
          this.emit();
        }
        this.scheduleSourcesRefresh();
        this.publishing.onPublisherEnded(d.resource_id, d.reason);
        break;
      case "TrackUnpublished":
        this.scheduleSourcesRefresh();
        break;
      case "SubscriberDisconnected":
        this.subscriptions.onSubscriberEnded(d.resource_id, d.reason);
        break;
      case "SessionEnded":
      case "SessionCancelled":
        // The server ends all media of a session that is over; its media events may come after
        // this one. DELETEs now would only be refused (409), so every resource is let go without one.
        this.publishing.onSessionOver();
        this.subscriptions.onSessionOver();
        this.core.over = true;
        break;
    }
  }

  // ---- Receiving (WHEP) ----

  /** The sources the panels show (at most 16 at once; the rest is named in the error). */
  setWanted(sources: readonly string[]): void {
    this.subscriptions.setWanted(sources);
  }

  /** What shows `source` now, or null (not received yet, or unpublished: the placeholder). */
  streamFor(source: string): MediaStream | null {
    return this.gone.has(source) ? null : this.subscriptions.streamFor(source);
  }

  /** Frames decoded so far of `source` (the receiver's stats), or null while it is not received. */
  framesDecoded(source: string): Promise<number | null> {
    return this.gone.has(source) ? Promise.resolve(null) : this.subscriptions.framesDecoded(source);
  }

  // ---- Publishing (WHIP) ----

  /** Publishes a camera as `source`; rejects with a sentence to show (also kept on the source). */
  publish(source: string, deviceId?: string, audio?: AudioChoice | null): Promise<void> {
    return this.publishing.publish(source, deviceId, audio);
  }

  /** Mutes or unmutes the microphone published with `source`. */
  setMuted(source: string, muted: boolean): void {
    this.publishing.setMuted(source, muted);
  }

  /** Stops `source`: DELETE of its WHIP resource (awaited, so a refusal reaches the caller). */
  unpublish(source: string): Promise<void> {
    return this.publishing.unpublish(source);
  }
}

/** The stalled sources of a `GET .../media` answer: source label -> since (ms epoch). */
function stalledSince(sources: readonly { source: string; stalled?: boolean; stalled_since?: string | null }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of sources) {
    if (!s.stalled) continue;
    const since = s.stalled_since ? Date.parse(s.stalled_since) : NaN;
    out[s.source] = Number.isFinite(since) ? since : Date.now();
  }
  return out;
}

function sameStalls(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** Whether two source -> publisher maps say the same. */
function samePublishers(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
