// The media layer of one join: every RTCPeerConnection of the workspace (one WHIP per published
// camera, one WHEP subscription for every panel), the session's source list, the first-frame
// report. Plain TypeScript with a subscribe/snapshot pair so React only reads it.
import { ApiError, call, http } from "../api/client";
import type { JoinResponse } from "../api/client";
import type { MediaOptions, LocalSource } from "./types";
import {
  cameraErrorText,
  connectionFailedText,
  isRetryable,
  publishErrorText,
  receiveErrorText,
} from "./errors";
import { countMedia } from "./sdp";
import { deleteResource, postOffer, selectSlots } from "./signal";
import { initialSlots, overflowOf, planSlots, sameSlots, uniqueWanted, type Slots } from "./slots";
import { SOURCE_LABEL, resourceIdOf, subscribeUrlFor, whepUrlFor, whipUrlFor } from "./url";
import { emptyStream, iceServersOf, inboundVideoStats, offerWhenGathered, preferSfuCodecs } from "./webrtc";

/** What the E2E test reads on `window.__livesurgeryMedia` (no tokens, no URLs). */
export interface MediaDebugHook {
  inbound(): Promise<Array<{ slot: number; source: string | null; framesDecoded: number; frameWidth?: number; frameHeight?: number }>>;
  /** Sources this browser publishes whose connection is up (`state: "live"`). */
  published(): string[];
}

declare global {
  interface Window {
    __livesurgeryMedia?: MediaDebugHook;
  }
}

export interface EngineSnapshot {
  published: LocalSource[];
  devices: MediaDeviceInfo[];
  sessionSources: string[];
  error: string | null;
  /** Grows whenever what `streamFor` answers may have changed. */
  slotsVersion: number;
}

export interface EngineOptions {
  sessionId: string;
  join: JoinResponse;
  joinedAt: number;
  canPublish: boolean;
  sendFirstFrame: MediaOptions["sendFirstFrame"];
  /** The wanted sources already known (set before this join). */
  wanted?: readonly string[];
}

/** Poll period for the first decoded frame of each received source. */
export const FIRST_FRAME_POLL_MS = 200;
/** How long `disconnected` may last before the subscription counts as lost. */
const DISCONNECTED_GRACE_MS = 8000;
/** Retry delays of the subscription after a retryable failure. */
const RETRY_MS = [500, 1000, 2000, 4000, 8000, 15000];
/** Coalesces bursts of media events into one `GET .../media`. */
const SOURCES_REFRESH_MS = 50;

interface Publication {
  source: string;
  deviceLabel: string;
  stream: MediaStream;
  state: LocalSource["state"];
  error?: string;
  pc: RTCPeerConnection | null;
  /** The WHIP resource, once the server answered. */
  url: string | null;
  resourceId: string | null;
  /** Set when unpublished or failed: late callbacks of this publication do nothing. */
  ended: boolean;
}

interface Subscription {
  pc: RTCPeerConnection;
  transceivers: RTCRtpTransceiver[];
  /** One stream per slot, made once, so a panel's `<video>` is not re-attached on every render. */
  streams: MediaStream[];
  /** The source of each slot as the server confirmed it. */
  slots: Slots;
  /** `framesDecoded` of each slot when its source last changed (a reused slot counts on). */
  baseline: number[];
  url: string | null;
  resourceId: string | null;
  disconnectedTimer: ReturnType<typeof setTimeout> | null;
  ended: boolean;
}

type ErrorOwner = "receive" | "sources" | "publish";

export class MediaEngine {
  private readonly opts: EngineOptions;
  private readonly iceServers: RTCIceServer[];
  private readonly listeners = new Set<() => void>();
  private snapshot: EngineSnapshot;
  private disposed = false;

  private readonly pubs = new Map<string, Publication>();
  private devices: MediaDeviceInfo[] = [];
  private sessionSources: string[] = [];
  private error: { owner: ErrorOwner; text: string } | null = null;
  private slotsVersion = 0;

  private wanted: string[];
  /** Wanted sources past `MAX_SLOTS` (not shown; the person is told). */
  private overflow: string[] = [];
  private sub: Subscription | null = null;
  private reconciling = false;
  private dirty = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private retries = 0;
  /** A refusal a retry cannot fix (403, expired token): stop until the wanted set changes. */
  private receiveBlocked = false;
  /** The session ended: no new media at all for this join. */
  private over = false;

  /** Sources seen unpublished (and not back since): their panels show the placeholder, not a frozen frame. */
  private readonly gone = new Set<string>();
  private readonly reported = new Set<string>();
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private polling = false;

  private sourcesTimer: ReturnType<typeof setTimeout> | null = null;
  private sourcesInFlight = false;
  private sourcesAgain = false;

  constructor(opts: EngineOptions) {
    this.opts = opts;
    this.iceServers = iceServersOf(opts.join.ice_servers);
    this.wanted = uniqueWanted(opts.wanted ?? []);
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
      published: [...this.pubs.values()].map((p) => ({
        source: p.source,
        deviceLabel: p.deviceLabel,
        stream: p.stream,
        state: p.state,
        ...(p.error ? { error: p.error } : {}),
      })),
      devices: this.devices,
      sessionSources: this.sessionSources,
      error: this.error?.text ?? null,
      slotsVersion: this.slotsVersion,
    };
  }

  private emit(): void {
    if (this.disposed) return;
    this.snapshot = this.makeSnapshot();
    for (const l of [...this.listeners]) l();
  }

  private setError(owner: ErrorOwner, text: string): void {
    if (this.error?.owner === owner && this.error.text === text) return;
    this.error = { owner, text };
    this.emit();
  }

  private clearError(owner: ErrorOwner): void {
    if (this.error?.owner !== owner) return;
    this.error = null;
    this.emit();
  }

  // ---- Life ----

  start(): void {
    if (typeof window !== "undefined") {
      window.__livesurgeryMedia = this.hook;
      window.addEventListener("pagehide", this.onPageHide);
    }
    const md = globalThis.navigator?.mediaDevices;
    if (this.opts.canPublish && md?.addEventListener) {
      md.addEventListener("devicechange", this.onDeviceChange);
      void this.refreshDevices();
    }
    void this.refreshSources();
    if (this.wanted.length > 0) this.reconcile();
  }

  /** Ends everything: DELETEs every resource (`keepalive`, so it also works on unload). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.listeners.clear();
    for (const t of [this.retryTimer, this.sourcesTimer]) if (t) clearTimeout(t);
    this.stopPolling();
    if (typeof window !== "undefined") {
      if (window.__livesurgeryMedia === this.hook) delete window.__livesurgeryMedia;
      window.removeEventListener("pagehide", this.onPageHide);
    }
    globalThis.navigator?.mediaDevices?.removeEventListener?.("devicechange", this.onDeviceChange);
    for (const pub of this.pubs.values()) this.endPublication(pub);
    this.pubs.clear();
    if (this.sub) this.endSubscription(this.sub);
    this.sub = null;
  }

  private readonly onPageHide = () => this.dispose();
  private readonly onDeviceChange = () => void this.refreshDevices();

  private get token(): string {
    return this.opts.join.sfu.token;
  }

  // ---- Devices and the session's sources ----

  private async refreshDevices(): Promise<void> {
    const md = globalThis.navigator?.mediaDevices;
    if (!md?.enumerateDevices) return;
    try {
      const all = await md.enumerateDevices();
      if (this.disposed) return;
      this.devices = all.filter((d) => d.kind === "videoinput");
      this.emit();
    } catch {
      // No list of cameras: publishing still uses the default one.
    }
  }

  private scheduleSourcesRefresh(): void {
    if (this.sourcesTimer || this.disposed) return;
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
    try {
      do {
        this.sourcesAgain = false;
        const { data } = await call(() =>
          http.GET("/v1/sessions/{id}/media", { params: { path: { id: this.opts.sessionId } } }),
        );
        if (this.disposed) return;
        // An event came in meanwhile: this answer may predate it, ask again before using it.
        if (this.sourcesAgain) continue;
        const next = data.sources.map((s) => s.source);
        let back = false;
        for (const s of next) if (this.gone.delete(s)) back = true;
        if (back) this.slotsVersion += 1;
        if (back || !sameSlots(next, this.sessionSources)) {
          this.sessionSources = next;
          this.emit();
        }
        this.clearError("sources");
      } while (this.sourcesAgain && !this.disposed);
    } catch (err) {
      if (!this.disposed) {
        this.setError("sources", `The list of video sources could not be loaded: ${err instanceof ApiError ? err.describe() : String(err)}`);
      }
    } finally {
      this.sourcesInFlight = false;
    }
  }

  /** Follows media events: the source list, and the server ending one of our resources. */
  onSessionEvent(eventType: string, data: unknown): void {
    if (this.disposed) return;
    const d = (data ?? {}) as { source?: unknown; resource_id?: unknown; reason?: unknown; kind?: unknown };
    const source = typeof d.source === "string" ? d.source : null;
    switch (eventType) {
      case "PublisherConnected":
      case "TrackPublished":
        if (source && this.gone.delete(source)) this.slotsVersion += 1;
        if (source && !this.sessionSources.includes(source)) this.sessionSources = [...this.sessionSources, source];
        this.emit();
        this.scheduleSourcesRefresh();
        break;
      case "PublisherDisconnected":
        if (source) {
          this.gone.add(source);
          this.slotsVersion += 1;
          this.sessionSources = this.sessionSources.filter((s) => s !== source);
          this.emit();
        }
        this.scheduleSourcesRefresh();
        this.onPublisherEnded(d.resource_id, d.reason);
        break;
      case "TrackUnpublished":
        this.scheduleSourcesRefresh();
        break;
      case "SubscriberDisconnected":
        this.onSubscriberEnded(d.resource_id, d.reason);
        break;
      case "SessionEnded":
      case "SessionCancelled":
        this.onSessionOver();
        break;
    }
  }

  // A resource of ours still in use ended without us (our own DELETEs come after it left our
  // books), e.g. another tab of this user deleted it, or the server dropped it.
  private onPublisherEnded(resourceId: unknown, reason: unknown): void {
    const pub = [...this.pubs.values()].find((p) => !p.ended && p.resourceId !== null && p.resourceId === resourceId);
    if (!pub) return;
    const text =
      reason === "removed"
        ? `The server stopped "${pub.source}": you may no longer publish in this session.`
        : reason === "session_ended"
          ? `"${pub.source}" stopped: the session has ended.`
          : reason === "deleted"
            ? `"${pub.source}" was stopped from elsewhere (another tab or device). Publish it again to resume.`
            : `The server stopped "${pub.source}" (${String(reason)}). Publish it again to resume.`;
    pub.url = null; // gone on the server: a DELETE would only answer 404
    this.failPublication(pub, text);
  }

  /**
   * The server ends all media of a session that is over; its media events may come after this
   * one. DELETEs now would only be refused (409), so every resource is let go without one.
   */
  private onSessionOver(): void {
    for (const pub of this.pubs.values()) {
      if (pub.ended) continue;
      pub.url = null;
      this.failPublication(pub, `"${pub.source}" stopped: the session has ended.`);
    }
    if (this.sub) this.onSubscriberEnded(this.sub.resourceId, "session_ended");
    this.over = true;
  }

  private onSubscriberEnded(resourceId: unknown, reason: unknown): void {
    const sub = this.sub;
    if (!sub || sub.resourceId === null || sub.resourceId !== resourceId) return;
    sub.url = null; // gone on the server
    this.dropSubscription(sub);
    if (reason === "removed" || reason === "session_ended") {
      this.receiveBlocked = true;
      this.setError(
        "receive",
        reason === "removed" ? "Live video stopped: you are no longer allowed in this session." : "Live video stopped: the session has ended.",
      );
      return;
    }
    this.setError("receive", connectionFailedText(null));
    this.scheduleRetry();
  }

  // ---- Receiving (WHEP) ----

  setWanted(sources: readonly string[]): void {
    const next = uniqueWanted(sources);
    const over = overflowOf(sources);
    if (sameSlots(next, this.wanted) && sameSlots(over, this.overflow)) return;
    this.wanted = next;
    this.overflow = over;
    this.receiveBlocked = false;
    if (over.length > 0) {
      this.setError("receive", `At most 16 different sources can be shown at once; not shown: ${over.join(", ")}.`);
    }
    this.reconcile();
  }

  streamFor(source: string): MediaStream | null {
    const sub = this.sub;
    if (!sub || this.gone.has(source)) return null;
    const slot = sub.slots.indexOf(source);
    return slot < 0 ? null : (sub.streams[slot] ?? null);
  }

  /** Brings the server's assignment to the wanted sources, one step at a time, never two at once. */
  private reconcile(): void {
    if (this.disposed) return;
    if (this.reconciling) {
      this.dirty = true;
      return;
    }
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.reconciling = true;
    void this.reconcileLoop().finally(() => {
      this.reconciling = false;
      // A change that arrived as the loop was returning.
      if (this.dirty && !this.disposed) this.reconcile();
    });
  }

  private async reconcileLoop(): Promise<void> {
    try {
      for (;;) {
        this.dirty = false;
        if (this.disposed || this.receiveBlocked || this.over) return;
        const wanted = this.wanted;
        if (!this.sub) {
          // No subscription until a panel wants a source: an empty `?slots=` would get every source.
          if (wanted.length === 0) return;
          if (typeof RTCPeerConnection !== "function") {
            this.setError("receive", "This browser cannot receive live video (WebRTC is not available).");
            return;
          }
          await this.replaceSubscription(initialSlots(wanted));
        } else {
          const plan = planSlots(this.sub.slots, wanted);
          if (plan.renegotiate) {
            await this.replaceSubscription(plan.slots);
          } else if (!sameSlots(plan.slots, this.sub.slots)) {
            await this.select(this.sub, plan.slots);
          } else if (!this.dirty) {
            this.retries = 0;
            if (this.error?.owner === "receive" && this.overflow.length === 0 && this.sub.pc.connectionState !== "failed") {
              this.clearError("receive");
            }
            return;
          }
        }
      }
    } catch (err) {
      if (this.disposed) return;
      this.setError("receive", receiveErrorText(err));
      if (isRetryable(err)) {
        this.scheduleRetry();
      } else {
        this.receiveBlocked = true;
      }
    }
  }

  private scheduleRetry(): void {
    if (this.disposed || this.retryTimer) return;
    const delay = RETRY_MS[Math.min(this.retries, RETRY_MS.length - 1)] ?? 15000;
    this.retries += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.reconcile();
    }, delay);
  }

  /** A new WHEP subscription with `slots`; the old one (too small, or lost) is deleted after. */
  private async replaceSubscription(slots: Slots): Promise<void> {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const transceivers = slots.map(() => pc.addTransceiver("video", { direction: "recvonly" }));
    const sub: Subscription = {
      pc,
      transceivers,
      streams: transceivers.map((t) => new MediaStream([t.receiver.track])),
      slots,
      baseline: slots.map(() => 0),
      url: null,
      resourceId: null,
      disconnectedTimer: null,
      ended: false,
    };
    pc.addEventListener("connectionstatechange", () => this.onSubscriptionState(sub));
    try {
      const offer = await offerWhenGathered(pc);
      const asked = slots.filter((s): s is string => s !== null);
      const answer = await postOffer(whepUrlFor(this.opts.join.sfu.whep_url, asked), this.token, offer);
      sub.url = answer.location;
      sub.resourceId = resourceIdOf(answer.location);
      if (this.disposed) throw new Error("disposed");
      if (countMedia(answer.sdp, "video") !== slots.length) {
        throw new ApiError(422, "sdp_refused", "The media server answered with a different number of video slots.", null);
      }
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    } catch (err) {
      this.endSubscription(sub);
      throw err;
    }
    const old = this.sub;
    this.sub = sub;
    this.slotsVersion += 1;
    this.emit();
    if (old) this.endSubscription(old);
    this.startPolling();
  }

  /** `media:subscribe`: switches slots of the existing subscription without renegotiating. */
  private async select(sub: Subscription, slots: Slots): Promise<void> {
    // Frames decoded so far belong to the previous sources of the switched slots.
    const before = await inboundVideoStats(sub.pc, sub.transceivers).catch(() => new Map<number, { framesDecoded: number }>());
    let answer;
    try {
      answer = await selectSlots(subscribeUrlFor(this.opts.join.sfu.whep_url, this.opts.sessionId), this.token, slots);
    } catch (err) {
      // No subscription on the server any more (it ended it): subscribe anew.
      if (err instanceof ApiError && err.status === 404 && this.sub === sub) {
        sub.url = null;
        this.dropSubscription(sub);
      }
      throw err;
    }
    if (this.disposed || this.sub !== sub) return;
    const mine = answer.resources.find((r) => r.resource_id === sub.resourceId);
    const confirmed = mine ? mine.slots.slice(0, sub.slots.length) : slots;
    while (confirmed.length < sub.slots.length) confirmed.push(null);
    confirmed.forEach((s, i) => {
      if (s !== sub.slots[i]) sub.baseline[i] = before.get(i)?.framesDecoded ?? 0;
    });
    sub.slots = confirmed;
    this.slotsVersion += 1;
    this.emit();
    this.startPolling();
  }

  private onSubscriptionState(sub: Subscription): void {
    if (sub.ended || this.disposed) return;
    const state = sub.pc.connectionState;
    if (state === "connected") {
      if (sub.disconnectedTimer) clearTimeout(sub.disconnectedTimer);
      sub.disconnectedTimer = null;
      if (this.error?.owner === "receive" && this.error.text === connectionFailedText(null)) this.clearError("receive");
    } else if (state === "disconnected") {
      // Often a passing loss; the server ends a peer that stays away, so do not wait for `failed`.
      sub.disconnectedTimer ??= setTimeout(() => this.lose(sub), DISCONNECTED_GRACE_MS);
    } else if (state === "failed" || state === "closed") {
      this.lose(sub);
    }
  }

  /** The subscription is gone: a new one with the current assignment, after a short wait. */
  private lose(sub: Subscription): void {
    if (sub.ended || this.disposed || this.sub !== sub) return;
    this.dropSubscription(sub);
    this.setError("receive", connectionFailedText(null));
    this.scheduleRetry();
  }

  private dropSubscription(sub: Subscription): void {
    this.endSubscription(sub);
    if (this.sub === sub) {
      this.sub = null;
      this.slotsVersion += 1;
      this.emit();
    }
  }

  private endSubscription(sub: Subscription): void {
    if (sub.ended) return;
    sub.ended = true;
    if (sub.disconnectedTimer) clearTimeout(sub.disconnectedTimer);
    this.deleteThenClose(sub.url, sub.pc);
  }

  /**
   * DELETEs a resource, then closes its connection: closing first lets the server end the
   * peer on its own, and the DELETE would then answer 404 (a console error in the page).
   */
  private deleteThenClose(url: string | null, pc: RTCPeerConnection | null): void {
    if (!url) {
      pc?.close();
      return;
    }
    void deleteResource(url, this.token, true)
      .catch(() => {})
      .finally(() => pc?.close());
  }

  // ---- First frame ----

  private startPolling(): void {
    if (this.pollTimer || this.disposed) return;
    this.pollTimer = setInterval(() => void this.pollFirstFrames(), FIRST_FRAME_POLL_MS);
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  private async pollFirstFrames(): Promise<void> {
    const sub = this.sub;
    if (this.polling || !sub) return;
    const pending = sub.slots.flatMap((s, i) => (s !== null && !this.reported.has(s) ? [i] : []));
    if (pending.length === 0) {
      this.stopPolling();
      return;
    }
    this.polling = true;
    try {
      const stats = await inboundVideoStats(sub.pc, sub.transceivers);
      if (this.disposed || this.sub !== sub) return;
      for (const i of pending) {
        const source = sub.slots[i];
        const decoded = stats.get(i)?.framesDecoded ?? 0;
        if (source && !this.reported.has(source) && decoded > (sub.baseline[i] ?? 0)) {
          this.reported.add(source);
          this.opts.sendFirstFrame({ source_id: source, join_to_first_frame_ms: Date.now() - this.opts.joinedAt });
        }
      }
    } catch {
      // Stats of a closing connection: the next poll (or subscription) tries again.
    } finally {
      this.polling = false;
    }
  }

  private readonly hook: MediaDebugHook = {
    inbound: async () => {
      const sub = this.sub;
      if (!sub || sub.ended) return [];
      const stats = await inboundVideoStats(sub.pc, sub.transceivers);
      return sub.slots.map((source, slot) => {
        const s = stats.get(slot);
        return {
          slot,
          source,
          framesDecoded: s?.framesDecoded ?? 0,
          ...(s?.frameWidth !== undefined ? { frameWidth: s.frameWidth } : {}),
          ...(s?.frameHeight !== undefined ? { frameHeight: s.frameHeight } : {}),
        };
      });
    },
    published: () => [...this.pubs.values()].filter((p) => p.state === "live").map((p) => p.source),
  };

  // ---- Publishing (WHIP) ----

  /** Publishes a camera as `source`; rejects with a sentence to show (also kept on the source). */
  async publish(source: string, deviceId?: string): Promise<void> {
    if (this.disposed) throw new Error("The workspace is closing.");
    if (this.over) throw new Error("The session has ended: cameras can no longer be published.");
    if (!this.opts.canPublish) throw new Error("You may not publish cameras in this session (observers can only watch).");
    if (!SOURCE_LABEL.test(source)) {
      throw new Error("A source name is 1 to 64 characters: lowercase letters, digits, dot, underscore or dash.");
    }
    const existing = this.pubs.get(source);
    if (existing && existing.state !== "failed") throw new Error(`"${source}" is already published from this browser.`);
    if (existing) {
      this.endPublication(existing);
      this.pubs.delete(source);
    }
    const md = globalThis.navigator?.mediaDevices;
    let stream: MediaStream;
    try {
      if (!md?.getUserMedia) throw new TypeError("no mediaDevices");
      stream = await md.getUserMedia({ video: deviceId ? { deviceId: { exact: deviceId } } : true, audio: false });
    } catch (err) {
      const text =
        err instanceof TypeError
          ? "This browser cannot use cameras on this page (a secure connection, https, is needed)."
          : cameraErrorText(err);
      if (this.disposed) throw new Error(text);
      this.pubs.set(source, { source, deviceLabel: "", stream: emptyStream(), state: "failed", error: text, pc: null, url: null, resourceId: null, ended: true });
      this.emit();
      throw new Error(text);
    }
    // Permission is granted now: the camera list gains its labels.
    void this.refreshDevices();
    const track = stream.getVideoTracks()[0];
    const pub: Publication = {
      source,
      deviceLabel: track?.label ?? "",
      stream,
      state: "connecting",
      pc: null,
      url: null,
      resourceId: null,
      ended: false,
    };
    if (this.disposed || this.pubs.has(source) || !track) {
      stream.getTracks().forEach((t) => t.stop());
      throw new Error(track ? `"${source}" is already being published.` : "The camera gave no video.");
    }
    this.pubs.set(source, pub);
    this.emit();
    try {
      const pc = new RTCPeerConnection({ iceServers: this.iceServers });
      pub.pc = pc;
      pc.addEventListener("connectionstatechange", () => this.onPublicationState(pub));
      track.addEventListener("ended", () => {
        if (!pub.ended) this.failPublication(pub, `The camera of "${source}" stopped (unplugged, or taken by another application). Publish it again.`);
      });
      preferSfuCodecs(pc.addTransceiver(track, { direction: "sendonly", streams: [stream] }));
      const offer = await offerWhenGathered(pc);
      if (pub.ended) return;
      const answer = await postOffer(whipUrlFor(this.opts.join.sfu.whip_url, source), this.token, offer);
      pub.url = answer.location;
      pub.resourceId = resourceIdOf(answer.location);
      if (pub.ended) {
        // Unpublished (or the workspace closed) while the offer was out.
        this.deleteThenClose(answer.location, pc);
        return;
      }
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    } catch (err) {
      const text = publishErrorText(err, source);
      if (!pub.ended) this.failPublication(pub, text);
      throw new Error(text);
    }
  }

  private onPublicationState(pub: Publication): void {
    if (pub.ended || !pub.pc) return;
    const state = pub.pc.connectionState;
    if (state === "connected" && pub.state !== "live") {
      pub.state = "live";
      this.emit();
    } else if (state === "failed") {
      const text = connectionFailedText(pub.source);
      this.failPublication(pub, text);
      this.setError("publish", text);
    }
  }

  /** Keeps the source listed as failed (with why), frees the camera and the server's name. */
  private failPublication(pub: Publication, text: string): void {
    this.endPublication(pub);
    pub.state = "failed";
    pub.error = text;
    this.emit();
  }

  private endPublication(pub: Publication): void {
    if (pub.ended && !pub.pc) return;
    pub.ended = true;
    pub.stream.getTracks().forEach((t) => t.stop());
    const { url, pc } = pub;
    pub.pc = null;
    pub.url = null;
    this.deleteThenClose(url, pc);
  }

  /** Stops `source`: DELETE of its WHIP resource (awaited, so a refusal reaches the caller). */
  async unpublish(source: string): Promise<void> {
    const pub = this.pubs.get(source);
    if (!pub) return;
    this.pubs.delete(source);
    const { url, pc } = pub;
    pub.url = null;
    pub.pc = null;
    this.endPublication(pub);
    if (this.error?.owner === "publish" && this.error.text.includes(`"${source}"`)) this.error = null;
    this.emit();
    try {
      if (url) await deleteResource(url, this.token);
    } finally {
      pc?.close();
    }
  }
}
