// Test doubles of the browser's WebRTC objects: enough of RTCPeerConnection, MediaStream and
// tracks for the engine's signalling and bookkeeping (the media itself is the E2E's business).
let ids = 0;

export class FakeTrack extends EventTarget {
  readonly id = `track-${++ids}`;
  stopped = false;
  enabled = true;
  /** A remote track is muted while no packets arrive. */
  muted = false;
  constructor(
    readonly label = "",
    readonly kind: "video" | "audio" = "video",
  ) {
    super();
  }
  stop() {
    this.stopped = true;
  }
}

export class FakeStream {
  constructor(readonly tracks: FakeTrack[] = []) {}
  getTracks() {
    return this.tracks;
  }
  getVideoTracks() {
    return this.tracks.filter((t) => t.kind === "video");
  }
  getAudioTracks() {
    return this.tracks.filter((t) => t.kind === "audio");
  }
}

class FakeTransceiver {
  mid: string | null = null;
  readonly receiver: { track: FakeTrack };
  constructor(
    readonly sending: FakeTrack | null,
    readonly direction: string,
    readonly kind: "video" | "audio" = sending?.kind ?? "video",
  ) {
    this.receiver = { track: new FakeTrack("", kind) };
  }
  setCodecPreferences() {}
}

export class FakePeerConnection extends EventTarget {
  static all: FakePeerConnection[] = [];
  connectionState: RTCPeerConnectionState = "new";
  iceGatheringState: RTCIceGatheringState = "complete";
  localDescription: { type: string; sdp: string } | null = null;
  remoteDescription: { type: string; sdp: string } | null = null;
  readonly transceivers: FakeTransceiver[] = [];
  /** What `getStats()` answers (an RTCStatsReport is a Map). */
  stats = new Map<string, Record<string, unknown>>();
  closed = false;
  constructor(readonly config: RTCConfiguration) {
    super();
    FakePeerConnection.all.push(this);
  }
  addTransceiver(trackOrKind: FakeTrack | string, init: { direction: string }) {
    const t =
      typeof trackOrKind === "string"
        ? new FakeTransceiver(null, init.direction, trackOrKind === "audio" ? "audio" : "video")
        : new FakeTransceiver(trackOrKind, init.direction);
    this.transceivers.push(t);
    return t;
  }
  async createOffer() {
    const media = this.transceivers.map((t, i) => `m=${t.kind} 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:${i}\r\na=${t.direction}\r\n`);
    return { type: "offer", sdp: `v=0\r\ns=-\r\n${media.join("")}` };
  }
  async setLocalDescription(d: { type: string; sdp: string }) {
    this.localDescription = d;
    this.transceivers.forEach((t, i) => (t.mid = String(i)));
  }
  async setRemoteDescription(d: { type: string; sdp: string }) {
    this.remoteDescription = d;
  }
  async getStats() {
    return this.stats;
  }
  close() {
    this.closed = true;
    this.connectionState = "closed";
  }
  /** Moves the connection to `state`, as the browser would, with its event. */
  become(state: RTCPeerConnectionState) {
    this.connectionState = state;
    this.dispatchEvent(new Event("connectionstatechange"));
  }
  /** Pretends slot `mid` decoded `frames` frames. */
  decoded(mid: string, frames: number) {
    this.stats.set(`in-${mid}`, { type: "inbound-rtp", kind: "video", mid, framesDecoded: frames, frameWidth: 640, frameHeight: 480 });
  }
}

/** An SDP answer with `n` video m-lines. */
export function answerSdp(n: number): string {
  return `v=0\r\ns=-\r\n${Array.from({ length: n }, (_, i) => `m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:${i}\r\n`).join("")}`;
}
