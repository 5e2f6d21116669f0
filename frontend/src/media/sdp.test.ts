import { describe, expect, it } from "vitest";
import { countMedia, hasCandidate, isSdp } from "./sdp";

const OFFER = [
  "v=0",
  "o=- 1 2 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "m=video 9 UDP/TLS/RTP/SAVPF 96",
  "a=mid:0",
  "a=recvonly",
  "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
  "m=video 9 UDP/TLS/RTP/SAVPF 96",
  "a=mid:1",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "a=mid:2",
  "",
].join("\r\n");

describe("SDP helpers", () => {
  it("counts m-lines by kind", () => {
    expect(countMedia(OFFER, "video")).toBe(2);
    expect(countMedia(OFFER, "audio")).toBe(1);
    expect(countMedia(OFFER, "application")).toBe(0);
  });
  it("sees whether gathering put a candidate in", () => {
    expect(hasCandidate(OFFER)).toBe(true);
    expect(hasCandidate(OFFER.replace(/a=candidate:.*\r\n/, ""))).toBe(false);
  });
  it("tells SDP from an error page", () => {
    expect(isSdp("\r\nv=0\r\n")).toBe(true);
    expect(isSdp("<html>502 Bad Gateway</html>")).toBe(false);
  });
});
