// How long a panel's picture has been frozen: from the receiver's stats (`framesDecoded` not
// advancing) and from the server (`SourceStalled`). Polled once a second, so N counts up.
import { useEffect, useState } from "react";

/** Frames may stop advancing this long before a panel says so (a frame every 2 s is no video). */
export const NO_SIGNAL_AFTER_MS = 2000;
/** How often the receiver's stats are read. */
export const NO_SIGNAL_POLL_MS = 1000;

/**
 * Seconds since the picture of `source` last moved, once it is frozen (frames decoded before,
 * none for `NO_SIGNAL_AFTER_MS`, or the server says the source is stalled); null while it moves
 * or before its first frame.
 */
export function useNoSignal(
  source: string | null,
  stream: MediaStream | null,
  framesDecoded: (source: string) => Promise<number | null>,
  serverStalledSince: number | null,
): number | null {
  // The last count seen and when it last grew; reset when the panel shows another stream.
  const [moved, setMoved] = useState<{ frames: number; at: number } | null>(null);
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    setMoved(null);
    if (!source) return;
    let live = true;
    let last: { frames: number; at: number } | null = null;
    const poll = async () => {
      const frames = stream ? await framesDecoded(source).catch(() => null) : null;
      if (!live) return;
      const at = Date.now();
      if (frames !== null && (last === null || frames > last.frames)) {
        // The first reading is a picture only if a frame was decoded at all.
        last = frames > 0 || last !== null ? { frames, at } : null;
        setMoved(last);
      }
      setNow(at);
    };
    void poll();
    const timer = setInterval(() => void poll(), NO_SIGNAL_POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [source, stream, framesDecoded]);

  const since =
    serverStalledSince !== null
      ? Math.min(serverStalledSince, moved?.at ?? serverStalledSince)
      : moved && now - moved.at >= NO_SIGNAL_AFTER_MS
        ? moved.at
        : null;
  return since === null ? null : Math.max(0, Math.floor((now - since) / 1000));
}
