// Small SDP facts the media layer checks (no munging: the browser's SDP goes out as it is).

function lines(sdp: string): string[] {
  return sdp.split(/\r?\n/);
}

/** How many m-lines of `kind` (`video`, `audio`) the SDP has. */
export function countMedia(sdp: string, kind: string): number {
  const prefix = `m=${kind} `;
  return lines(sdp).filter((l) => l.startsWith(prefix)).length;
}

/** The SDP carries at least one ICE candidate (else the offer went out before gathering). */
export function hasCandidate(sdp: string): boolean {
  return lines(sdp).some((l) => l.startsWith("a=candidate:"));
}

/** The text is an SDP description at all (a proxy's HTML error page is not). */
export function isSdp(text: string): boolean {
  return text.trimStart().startsWith("v=0");
}
