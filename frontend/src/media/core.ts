// What the media engine's parts (publishing, subscriptions) share: the join, whether the engine
// and the session are still going, the one error shown, and the call that refreshes React's view.
import type { JoinResponse } from "../api/client";
import type { LocalSource, MediaOptions } from "./types";
import { deleteResource } from "./signal";
import { iceServersOf } from "./webrtc";

/** What React reads of the engine. */
export interface EngineSnapshot {
  published: LocalSource[];
  devices: MediaDeviceInfo[];
  sessionSources: string[];
  /** Who publishes each of them: source label -> user id, as far as known. */
  sourcePublishers: Readonly<Record<string, string>>;
  /** The sources the server says are stalled at its last answer: source label -> since (ms epoch). */
  sourceStalledSince: Readonly<Record<string, number>>;
  error: string | null;
  /** Grows whenever what `streamFor` answers may have changed. */
  slotsVersion: number;
}

/** One join's media: who, where, and what it may do. */
export interface EngineOptions {
  sessionId: string;
  join: JoinResponse;
  joinedAt: number;
  canPublish: boolean;
  sendFirstFrame: MediaOptions["sendFirstFrame"];
  /** The wanted sources already known (set before this join). */
  wanted?: readonly string[];
}

/** The part whose problem the shown error is: a part clears only its own. */
export type ErrorOwner = "receive" | "sources" | "publish";

/** The engine's state every part reads and writes; `emit` tells React it changed. */
export class EngineCore {
  readonly opts: EngineOptions;
  readonly iceServers: RTCIceServer[];
  /** Set once disposed: late callbacks of every part do nothing. */
  disposed = false;
  /** The session ended: no new media at all for this join. */
  over = false;
  error: { owner: ErrorOwner; text: string } | null = null;
  /** Grows whenever what `streamFor` answers may have changed. */
  slotsVersion = 0;
  /** Makes a new snapshot and tells the listeners (nothing once disposed). */
  readonly emit: () => void;

  constructor(opts: EngineOptions, emit: () => void) {
    this.opts = opts;
    this.iceServers = iceServersOf(opts.join.ice_servers);
    this.emit = emit;
  }

  /** The SFU token of the join (WHIP, WHEP, `media:subscribe`). */
  get token(): string {
    return this.opts.join.sfu.token;
  }

  setError(owner: ErrorOwner, text: string): void {
    if (this.error?.owner === owner && this.error.text === text) return;
    this.error = { owner, text };
    this.emit();
  }

  clearError(owner: ErrorOwner): void {
    if (this.error?.owner !== owner) return;
    this.error = null;
    this.emit();
  }

  /**
   * DELETEs a resource, then closes its connection: closing first lets the server end the
   * peer on its own, and the DELETE would then answer 404 (a console error in the page).
   */
  deleteThenClose(url: string | null, pc: RTCPeerConnection | null): void {
    if (!url) {
      pc?.close();
      return;
    }
    void deleteResource(url, this.token, true)
      .catch(() => {})
      .finally(() => pc?.close());
  }
}
