// One panel's feed and what state it is in: the video, the reason there is none (session not
// started or ended, source not published yet or stopped), `no signal for N s` once its picture
// froze, and its picture quality; over the video, the drawings (issue 21) when given.
import type { ReactNode } from "react";
import { PanelVideo } from "../../media";
import { healthOf, waitingReason, waitingText, type FeedHealth } from "./feedHealth";
import { QualityIndicator } from "./QualityIndicator";
import { useNoSignal } from "./useNoSignal";

export function PanelFeed({
  panelId,
  source,
  stream,
  sessionStatus,
  published,
  health,
  framesDecoded,
  overlay,
}: {
  panelId: string;
  source: string | null;
  stream: MediaStream | null;
  sessionStatus: string;
  /** The server lists `source` among the session's published sources. */
  published: boolean;
  health: FeedHealth;
  framesDecoded: (source: string) => Promise<number | null>;
  /** Drawn over the video's box (the telestration overlay finds the <video> beside it). */
  overlay?: ReactNode;
}) {
  const h = healthOf(health, source);
  // A stream that arrived is published, whatever the (maybe older) list of sources says.
  const reason = waitingReason({ source, sessionStatus, published: published || stream !== null, stopped: h.stopped });
  const live = reason === "connecting";
  const frozenFor = useNoSignal(live ? source : null, live ? stream : null, framesDecoded, live ? h.stalledSince : null);
  return (
    <div className="relative h-full w-full" data-testid={`feed-${panelId}`} data-feed-state={frozenFor !== null ? "no-signal" : reason}>
      <PanelVideo panelId={panelId} source={source} stream={live ? stream : null} placeholder={waitingText(reason, source)} />
      {overlay}
      {frozenFor !== null && (
        // The frozen picture is dimmed so that nobody takes it for live.
        <div className="pointer-events-none absolute inset-0 flex items-end bg-black/45">
          <p
            role="status"
            data-testid={`no-signal-${panelId}`}
            className="w-full bg-rose-800/95 px-2 py-1 text-center text-sm font-semibold text-rose-50"
          >
            no signal for {frozenFor} s
          </p>
        </div>
      )}
      {live && source && h.quality && <QualityIndicator panelId={panelId} source={source} quality={h.quality} />}
    </div>
  );
}
