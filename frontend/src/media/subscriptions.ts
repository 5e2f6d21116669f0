// The receiving side of the media engine: the one WHEP subscription for every panel, its slots
// switched with `media:subscribe`, grown by subscribing anew, and each source's first frame.
import { ApiError } from "../api/client";
import type { EngineCore } from "./core";
import { connectionFailedText, isRetryable, receiveErrorText } from "./errors";
import { countMedia } from "./sdp";
import { postOffer, selectSlots } from "./signal";
import { initialSlots, overflowOf, planSlots, sameSlots, uniqueWanted, type Slots } from "./slots";
import { resourceIdOf, subscribeUrlFor, whepUrlFor } from "./url";
import { inboundVideoStats, offerWhenGathered } from "./webrtc";

/** Poll period for the first decoded frame of each received source. */
export const FIRST_FRAME_POLL_MS = 200;
/** How long `disconnected` may last before the subscription counts as lost. */
const DISCONNECTED_GRACE_MS = 8000;
/** Retry delays of the subscription after a retryable failure. */
const RETRY_MS = [500, 1000, 2000, 4000, 8000, 15000];

/** One slot's inbound video as the E2E test reads it. */
export interface InboundSlot {
  slot: number;
  source: string | null;
  framesDecoded: number;
  frameWidth?: number;
  frameHeight?: number;
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

/** What this browser receives (WHEP): the wanted sources brought onto one subscription's slots. */
export class Subscriptions {
  private readonly core: EngineCore;
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

  private readonly reported = new Set<string>();
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private polling = false;

  constructor(core: EngineCore) {
    this.core = core;
    this.wanted = uniqueWanted(core.opts.wanted ?? []);
  }

  /** Subscribes to the sources already wanted before this join. */
  start(): void {
    if (this.wanted.length > 0) this.reconcile();
  }

  /** Stops retrying and polling, and DELETEs the subscription (`keepalive`). */
  dispose(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.stopPolling();
    if (this.sub) this.endSubscription(this.sub);
    this.sub = null;
  }

  /** The sources the panels show; the subscription follows them. */
  setWanted(sources: readonly string[]): void {
    const next = uniqueWanted(sources);
    const over = overflowOf(sources);
    if (sameSlots(next, this.wanted) && sameSlots(over, this.overflow)) return;
    this.wanted = next;
    this.overflow = over;
    this.receiveBlocked = false;
    if (over.length > 0) {
      this.core.setError("receive", `At most 16 different sources can be shown at once; not shown: ${over.join(", ")}.`);
    }
    this.reconcile();
  }

  /** The stream of the slot the server assigned `source`, or null. */
  streamFor(source: string): MediaStream | null {
    const sub = this.sub;
    if (!sub) return null;
    const slot = sub.slots.indexOf(source);
    return slot < 0 ? null : (sub.streams[slot] ?? null);
  }

  /** The server ended a subscription: ours, if `resourceId` is it, is subscribed anew or stopped. */
  onSubscriberEnded(resourceId: unknown, reason: unknown): void {
    const sub = this.sub;
    if (!sub || sub.resourceId === null || sub.resourceId !== resourceId) return;
    sub.url = null; // gone on the server
    this.dropSubscription(sub);
    if (reason === "removed" || reason === "session_ended") {
      this.receiveBlocked = true;
      this.core.setError(
        "receive",
        reason === "removed" ? "Live video stopped: you are no longer allowed in this session." : "Live video stopped: the session has ended.",
      );
      return;
    }
    this.core.setError("receive", connectionFailedText(null));
    this.scheduleRetry();
  }

  /** The session is over: the subscription is let go without a DELETE (it would be refused). */
  onSessionOver(): void {
    if (this.sub) this.onSubscriberEnded(this.sub.resourceId, "session_ended");
  }

  /** Brings the server's assignment to the wanted sources, one step at a time, never two at once. */
  private reconcile(): void {
    if (this.core.disposed) return;
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
      if (this.dirty && !this.core.disposed) this.reconcile();
    });
  }

  private async reconcileLoop(): Promise<void> {
    const core = this.core;
    try {
      for (;;) {
        this.dirty = false;
        if (core.disposed || this.receiveBlocked || core.over) return;
        const wanted = this.wanted;
        if (!this.sub) {
          // No subscription until a panel wants a source: an empty `?slots=` would get every source.
          if (wanted.length === 0) return;
          if (typeof RTCPeerConnection !== "function") {
            core.setError("receive", "This browser cannot receive live video (WebRTC is not available).");
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
            if (core.error?.owner === "receive" && this.overflow.length === 0 && this.sub.pc.connectionState !== "failed") {
              core.clearError("receive");
            }
            return;
          }
        }
      }
    } catch (err) {
      if (core.disposed) return;
      core.setError("receive", receiveErrorText(err));
      if (isRetryable(err)) {
        this.scheduleRetry();
      } else {
        this.receiveBlocked = true;
      }
    }
  }

  private scheduleRetry(): void {
    if (this.core.disposed || this.retryTimer) return;
    const delay = RETRY_MS[Math.min(this.retries, RETRY_MS.length - 1)] ?? 15000;
    this.retries += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.reconcile();
    }, delay);
  }

  /** A new WHEP subscription with `slots`; the old one (too small, or lost) is deleted after. */
  private async replaceSubscription(slots: Slots): Promise<void> {
    const core = this.core;
    const pc = new RTCPeerConnection({ iceServers: core.iceServers });
    const transceivers = slots.map(() => pc.addTransceiver("video", { direction: "recvonly" }));
    // Audio m-line i plays the source of video slot i: each slot's stream carries both.
    const voices = slots.map(() => pc.addTransceiver("audio", { direction: "recvonly" }));
    const sub: Subscription = {
      pc,
      transceivers,
      streams: transceivers.map((t, i) => new MediaStream([t.receiver.track, ...(voices[i] ? [voices[i].receiver.track] : [])])),
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
      const answer = await postOffer(whepUrlFor(core.opts.join.sfu.whep_url, asked), core.token, offer);
      sub.url = answer.location;
      sub.resourceId = resourceIdOf(answer.location);
      if (core.disposed) throw new Error("disposed");
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
    core.slotsVersion += 1;
    core.emit();
    if (old) this.endSubscription(old);
    this.startPolling();
  }

  /** `media:subscribe`: switches slots of the existing subscription without renegotiating. */
  private async select(sub: Subscription, slots: Slots): Promise<void> {
    const core = this.core;
    // Frames decoded so far belong to the previous sources of the switched slots.
    const before = await inboundVideoStats(sub.pc, sub.transceivers).catch(() => new Map<number, { framesDecoded: number }>());
    let answer;
    try {
      answer = await selectSlots(subscribeUrlFor(core.opts.join.sfu.whep_url, core.opts.sessionId), core.token, slots);
    } catch (err) {
      // No subscription on the server any more (it ended it): subscribe anew.
      if (err instanceof ApiError && err.status === 404 && this.sub === sub) {
        sub.url = null;
        this.dropSubscription(sub);
      }
      throw err;
    }
    if (core.disposed || this.sub !== sub) return;
    const mine = answer.resources.find((r) => r.resource_id === sub.resourceId);
    const confirmed = mine ? mine.slots.slice(0, sub.slots.length) : slots;
    while (confirmed.length < sub.slots.length) confirmed.push(null);
    confirmed.forEach((s, i) => {
      if (s !== sub.slots[i]) sub.baseline[i] = before.get(i)?.framesDecoded ?? 0;
    });
    sub.slots = confirmed;
    core.slotsVersion += 1;
    core.emit();
    this.startPolling();
  }

  private onSubscriptionState(sub: Subscription): void {
    const core = this.core;
    if (sub.ended || core.disposed) return;
    const state = sub.pc.connectionState;
    if (state === "connected") {
      if (sub.disconnectedTimer) clearTimeout(sub.disconnectedTimer);
      sub.disconnectedTimer = null;
      if (core.error?.owner === "receive" && core.error.text === connectionFailedText(null)) core.clearError("receive");
    } else if (state === "disconnected") {
      // Often a passing loss; the server ends a peer that stays away, so do not wait for `failed`.
      sub.disconnectedTimer ??= setTimeout(() => this.lose(sub), DISCONNECTED_GRACE_MS);
    } else if (state === "failed" || state === "closed") {
      this.lose(sub);
    }
  }

  /** The subscription is gone: a new one with the current assignment, after a short wait. */
  private lose(sub: Subscription): void {
    if (sub.ended || this.core.disposed || this.sub !== sub) return;
    this.dropSubscription(sub);
    this.core.setError("receive", connectionFailedText(null));
    this.scheduleRetry();
  }

  private dropSubscription(sub: Subscription): void {
    this.endSubscription(sub);
    if (this.sub === sub) {
      this.sub = null;
      this.core.slotsVersion += 1;
      this.core.emit();
    }
  }

  private endSubscription(sub: Subscription): void {
    if (sub.ended) return;
    sub.ended = true;
    if (sub.disconnectedTimer) clearTimeout(sub.disconnectedTimer);
    this.core.deleteThenClose(sub.url, sub.pc);
  }

  // ---- First frame ----

  private startPolling(): void {
    if (this.pollTimer || this.core.disposed) return;
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
      if (this.core.disposed || this.sub !== sub) return;
      const opts = this.core.opts;
      for (const i of pending) {
        const source = sub.slots[i];
        const decoded = stats.get(i)?.framesDecoded ?? 0;
        if (source && !this.reported.has(source) && decoded > (sub.baseline[i] ?? 0)) {
          this.reported.add(source);
          opts.sendFirstFrame({ source_id: source, join_to_first_frame_ms: Date.now() - opts.joinedAt });
        }
      }
    } catch {
      // Stats of a closing connection: the next poll (or subscription) tries again.
    } finally {
      this.polling = false;
    }
  }

  /** Frames decoded so far in the slot showing `source`, or null while none shows it. */
  async framesDecoded(source: string): Promise<number | null> {
    const sub = this.sub;
    const slot = sub ? sub.slots.indexOf(source) : -1;
    if (!sub || sub.ended || slot < 0) return null;
    const stats = await inboundVideoStats(sub.pc, sub.transceivers);
    return stats.get(slot)?.framesDecoded ?? null;
  }

  /** Each slot's source and decoded frames, for the E2E test. */
  async inbound(): Promise<InboundSlot[]> {
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
  }
}
