// Browser WebRTC plumbing shared by publishing and receiving.
import type { JoinResponse } from "../api/client";

/** The join's ICE servers as `RTCIceServer`s (the API's `null`s left out: browsers reject them). */
export function iceServersOf(list: JoinResponse["ice_servers"]): RTCIceServer[] {
  return list.map((s) => ({
    urls: s.urls,
    ...(s.username ? { username: s.username } : {}),
    ...(s.credential ? { credential: s.credential } : {}),
  }));
}

/** Longest wait for ICE gathering: host candidates come in milliseconds, an unreachable STUN never. */
export const GATHER_TIMEOUT_MS = 1500;

/**
 * Creates and applies an offer, then waits for ICE gathering to complete (the server takes no
 * trickle) or the timeout (the server also learns the browser's address from its checks).
 */
export async function offerWhenGathered(pc: RTCPeerConnection, timeoutMs = GATHER_TIMEOUT_MS): Promise<string> {
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== "complete") {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      };
      const check = () => {
        if (pc.iceGatheringState === "complete") done();
      };
      const timer = setTimeout(done, timeoutMs);
      pc.addEventListener("icegatheringstatechange", check);
      check();
    });
  }
  const sdp = pc.localDescription?.sdp;
  if (!sdp) throw new Error("The browser produced no SDP offer.");
  return sdp;
}

/** VP8 first, then H.264: the SFU forwards only these (and the browser may offer AV1/VP9 first). */
export function preferSfuCodecs(transceiver: RTCRtpTransceiver): void {
  const caps = globalThis.RTCRtpSender?.getCapabilities?.("video");
  if (!caps || typeof transceiver.setCodecPreferences !== "function") return;
  const rank = (mime: string) => ({ "video/vp8": 0, "video/h264": 1 })[mime.toLowerCase()] ?? 2;
  const sorted = [...caps.codecs].sort((a, b) => rank(a.mimeType) - rank(b.mimeType));
  try {
    transceiver.setCodecPreferences(sorted);
  } catch {
    // Preferences are an optimisation; the default order still offers VP8.
  }
}

export interface SlotStat {
  framesDecoded: number;
  frameWidth?: number;
  frameHeight?: number;
}

/** The inbound video stats of each transceiver (by index), matched by mid, else by track. */
export async function inboundVideoStats(
  pc: RTCPeerConnection,
  transceivers: readonly RTCRtpTransceiver[],
): Promise<Map<number, SlotStat>> {
  const report = await pc.getStats();
  const byMid = new Map<string, number>();
  const byTrack = new Map<string, number>();
  transceivers.forEach((t, i) => {
    if (t.mid !== null) byMid.set(t.mid, i);
    byTrack.set(t.receiver.track.id, i);
  });
  const out = new Map<number, SlotStat>();
  report.forEach((s: Record<string, unknown>) => {
    if (s.type !== "inbound-rtp" || (s.kind ?? s.mediaType) !== "video") return;
    const slot =
      (typeof s.mid === "string" ? byMid.get(s.mid) : undefined) ??
      (typeof s.trackIdentifier === "string" ? byTrack.get(s.trackIdentifier) : undefined);
    if (slot === undefined) return;
    out.set(slot, {
      framesDecoded: typeof s.framesDecoded === "number" ? s.framesDecoded : 0,
      ...(typeof s.frameWidth === "number" ? { frameWidth: s.frameWidth } : {}),
      ...(typeof s.frameHeight === "number" ? { frameHeight: s.frameHeight } : {}),
    });
  });
  return out;
}

/** An empty stream for a source that never got a camera (jsdom has no `MediaStream`). */
export function emptyStream(): MediaStream {
  return typeof MediaStream === "function" ? new MediaStream() : ({ getTracks: () => [] } as unknown as MediaStream);
}
