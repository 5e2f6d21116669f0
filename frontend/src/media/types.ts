// The contract between the workspace screen and the media layer (WHIP publish, WHEP receive).
// The workspace owns the WebSocket and the layout; the media layer owns every RTCPeerConnection.
import type { JoinResponse } from "../api/client";
import type { MediaFirstFrameMessage } from "../api/generated/ws";

export interface MediaOptions {
  sessionId: string;
  /** The answer of `POST /v1/sessions/{id}/participants:join` (sfu.whip_url, whep_url, token, ice_servers). */
  join: JoinResponse;
  /** `Date.now()` when that join answered: the origin of join-to-first-frame. */
  joinedAt: number;
  /** The participant may publish (the `publish` permission). */
  canPublish: boolean;
  /** Sends `media.first_frame` over the session's WebSocket (the workspace adds `ref`). */
  sendFirstFrame: (msg: Omit<MediaFirstFrameMessage, "ref" | "type">) => void;
}

/** The microphone sent with a camera: `deviceId` absent is the default microphone. */
export interface AudioChoice {
  deviceId?: string;
}

/** A camera this browser publishes as a named source. */
export interface LocalSource {
  source: string;
  /** The camera's label, for the person who chose it. */
  deviceLabel: string;
  /** The camera asked for (absent: the default one), so the same can be published again. */
  deviceId?: string;
  /** The microphone sent with it, or null for video only. */
  audio: AudioChoice | null;
  /** The microphone is muted (its track sends silence). */
  muted: boolean;
  stream: MediaStream;
  state: "connecting" | "live" | "failed";
  error?: string;
}

export interface SessionMedia {
  /** This browser's published sources. */
  published: LocalSource[];
  /** Publishes a local camera (`deviceId`, default the first) as `source` over WHIP, with a
   * microphone when `audio` is given. */
  publish(source: string, deviceId?: string, audio?: AudioChoice | null): Promise<void>;
  /** Mutes or unmutes the microphone published with `source`. */
  setMuted(source: string, muted: boolean): void;
  /** Stops publishing `source` (DELETE of its WHIP resource) and stops the camera. */
  unpublish(source: string): Promise<void>;
  /** The cameras and microphones this browser can publish (labels once permission was granted). */
  devices: MediaDeviceInfo[];
  /** Sources published in the session by anyone, as the server lists them. */
  sessionSources: string[];
  /** Who publishes each of them: source label -> user id, as far as known. */
  sourcePublishers: Readonly<Record<string, string>>;
  /**
   * The sources the server said were stalled at its last `GET .../media` answer: source label ->
   * since (ms epoch). Known before any `SourceStalled` event reaches this workspace.
   */
  sourceStalledSince: Readonly<Record<string, number>>;
  /** The sources this participant's panels show; the media layer subscribes to exactly these. */
  setWanted(sources: string[]): void;
  /** What shows `source` now, or null while it is not received (yet). */
  streamFor(source: string): MediaStream | null;
  /** Frames decoded so far of `source` (from the receiver's stats), or null while it is not received. */
  framesDecoded(source: string): Promise<number | null>;
  /** Called by the workspace with every session event, so the media layer follows media events. */
  onSessionEvent(eventType: string, data: unknown): void;
  /** The last media problem worth showing, or null. */
  error: string | null;
}
