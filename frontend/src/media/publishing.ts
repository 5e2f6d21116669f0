// The publishing side of the media engine: one WHIP connection per camera this browser
// publishes as a named source, and the list of cameras to choose from.
import type { AudioChoice, LocalSource } from "./types";
import type { EngineCore } from "./core";
import { cameraErrorText, connectionFailedText, publishErrorText } from "./errors";
import { deleteResource, postOffer } from "./signal";
import { SOURCE_LABEL, resourceIdOf, whipUrlFor } from "./url";
import { emptyStream, offerWhenGathered, preferSfuCodecs } from "./webrtc";

interface Publication {
  source: string;
  deviceLabel: string;
  deviceId?: string;
  audio: AudioChoice | null;
  muted: boolean;
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

/** This browser's published cameras (WHIP) and the cameras it could publish. */
export class Publishing {
  private readonly core: EngineCore;
  private readonly pubs = new Map<string, Publication>();
  /** The cameras, with labels once permission was granted. */
  devices: MediaDeviceInfo[] = [];

  constructor(core: EngineCore) {
    this.core = core;
  }

  /** Follows the camera list, for a participant who may publish. */
  start(): void {
    const md = globalThis.navigator?.mediaDevices;
    if (this.core.opts.canPublish && md?.addEventListener) {
      md.addEventListener("devicechange", this.onDeviceChange);
      void this.refreshDevices();
    }
  }

  /** Stops every camera and DELETEs every resource (`keepalive`). */
  dispose(): void {
    globalThis.navigator?.mediaDevices?.removeEventListener?.("devicechange", this.onDeviceChange);
    for (const pub of this.pubs.values()) this.endPublication(pub);
    this.pubs.clear();
  }

  /** The published sources as React shows them. */
  published(): LocalSource[] {
    return [...this.pubs.values()].map((p) => ({
      source: p.source,
      deviceLabel: p.deviceLabel,
      ...(p.deviceId ? { deviceId: p.deviceId } : {}),
      audio: p.audio,
      muted: p.muted,
      stream: p.stream,
      state: p.state,
      ...(p.error ? { error: p.error } : {}),
    }));
  }

  /** Sources whose connection is up. */
  live(): string[] {
    return [...this.pubs.values()].filter((p) => p.state === "live").map((p) => p.source);
  }

  private readonly onDeviceChange = () => void this.refreshDevices();

  private async refreshDevices(): Promise<void> {
    const md = globalThis.navigator?.mediaDevices;
    if (!md?.enumerateDevices) return;
    try {
      const all = await md.enumerateDevices();
      if (this.core.disposed) return;
      this.devices = all.filter((d) => d.kind === "videoinput" || d.kind === "audioinput");
      this.core.emit();
    } catch {
      // No list of cameras: publishing still uses the default one.
    }
  }

  // A resource of ours still in use ended without us (our own DELETEs come after it left our
  // books), e.g. another tab of this user deleted it, or the server dropped it.
  onPublisherEnded(resourceId: unknown, reason: unknown): void {
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

  /** The session is over: every publication is let go without a DELETE (it would be refused). */
  onSessionOver(): void {
    for (const pub of this.pubs.values()) {
      if (pub.ended) continue;
      pub.url = null;
      this.failPublication(pub, `"${pub.source}" stopped: the session has ended.`);
    }
  }

  /** Publishes a camera as `source`; rejects with a sentence to show (also kept on the source). */
  async publish(source: string, deviceId?: string, audio: AudioChoice | null = null): Promise<void> {
    const core = this.core;
    if (core.disposed) throw new Error("The workspace is closing.");
    if (core.over) throw new Error("The session has ended: cameras can no longer be published.");
    if (!core.opts.canPublish) throw new Error("You may not publish cameras in this session (observers can only watch).");
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
      stream = await md.getUserMedia({
        video: deviceId ? { deviceId: { exact: deviceId } } : true,
        audio: audio ? (audio.deviceId ? { deviceId: { exact: audio.deviceId } } : true) : false,
      });
    } catch (err) {
      const text =
        err instanceof TypeError
          ? "This browser cannot use cameras on this page (a secure connection, https, is needed)."
          : cameraErrorText(err);
      if (core.disposed) throw new Error(text);
      this.pubs.set(source, {
        ...{ source, deviceLabel: "", audio, muted: false, stream: emptyStream(), state: "failed", error: text },
        ...{ ...(deviceId ? { deviceId } : {}), pc: null, url: null, resourceId: null, ended: true },
      });
      core.emit();
      throw new Error(text);
    }
    // Permission is granted now: the camera list gains its labels.
    void this.refreshDevices();
    const track = stream.getVideoTracks()[0];
    const pub: Publication = {
      source,
      deviceLabel: track?.label ?? "",
      ...(deviceId ? { deviceId } : {}),
      audio,
      muted: false,
      stream,
      state: "connecting",
      pc: null,
      url: null,
      resourceId: null,
      ended: false,
    };
    if (core.disposed || this.pubs.has(source) || !track) {
      stream.getTracks().forEach((t) => t.stop());
      throw new Error(track ? `"${source}" is already being published.` : "The camera gave no video.");
    }
    this.pubs.set(source, pub);
    core.emit();
    try {
      const pc = new RTCPeerConnection({ iceServers: core.iceServers });
      pub.pc = pc;
      pc.addEventListener("connectionstatechange", () => this.onPublicationState(pub));
      track.addEventListener("ended", () => {
        if (!pub.ended) this.failPublication(pub, `The camera of "${source}" stopped (unplugged, or taken by another application). Publish it again.`);
      });
      preferSfuCodecs(pc.addTransceiver(track, { direction: "sendonly", streams: [stream] }));
      for (const mic of stream.getAudioTracks?.() ?? []) pc.addTransceiver(mic, { direction: "sendonly", streams: [stream] });
      const offer = await offerWhenGathered(pc);
      if (pub.ended) return;
      const answer = await postOffer(whipUrlFor(core.opts.join.sfu.whip_url, source), core.token, offer);
      pub.url = answer.location;
      pub.resourceId = resourceIdOf(answer.location);
      if (pub.ended) {
        // Unpublished (or the workspace closed) while the offer was out.
        core.deleteThenClose(answer.location, pc);
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
      this.core.emit();
    } else if (state === "failed") {
      const text = connectionFailedText(pub.source);
      this.failPublication(pub, text);
      this.core.setError("publish", text);
    }
  }

  /** Keeps the source listed as failed (with why), frees the camera and the server's name. */
  private failPublication(pub: Publication, text: string): void {
    this.endPublication(pub);
    pub.state = "failed";
    pub.error = text;
    this.core.emit();
  }

  private endPublication(pub: Publication): void {
    if (pub.ended && !pub.pc) return;
    pub.ended = true;
    pub.stream.getTracks().forEach((t) => t.stop());
    const { url, pc } = pub;
    pub.pc = null;
    pub.url = null;
    this.core.deleteThenClose(url, pc);
  }

  /** Mutes (or unmutes) the microphone of `source`: its track stays, sending silence. */
  setMuted(source: string, muted: boolean): void {
    const pub = this.pubs.get(source);
    if (!pub || pub.muted === muted) return;
    pub.muted = muted;
    for (const mic of pub.stream.getAudioTracks?.() ?? []) mic.enabled = !muted;
    this.core.emit();
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
    const core = this.core;
    if (core.error?.owner === "publish" && core.error.text.includes(`"${source}"`)) core.error = null;
    core.emit();
    try {
      if (url) await deleteResource(url, core.token);
    } finally {
      pc?.close();
    }
  }
}
