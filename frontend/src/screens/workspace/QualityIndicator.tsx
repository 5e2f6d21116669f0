// A panel's picture quality as the SFU last measured it (`MediaQualitySampled` of its video):
// a small mark with the bitrate, its details (bitrate, loss, round trip) on hover and on focus.
import { useId, useState } from "react";
import type { VideoQuality } from "./feedHealth";

export type QualityLevel = "good" | "fair" | "poor";

/** Good under 1 % loss and 150 ms round trip; poor from 5 % loss or 400 ms. */
export function qualityLevel(q: VideoQuality): QualityLevel {
  const rtt = q.rttMs ?? 0;
  if (q.lossPercent >= 5 || rtt >= 400) return "poor";
  if (q.lossPercent >= 1 || rtt >= 150) return "fair";
  return "good";
}

export function formatBitrate(bps: number): string {
  if (bps >= 1_000_000) return `${(bps / 1_000_000).toFixed(1)} Mb/s`;
  return `${Math.round(bps / 1000)} kb/s`;
}

/** Bitrate, loss and round trip in one line. */
export function qualitySummary(q: VideoQuality): string {
  const rtt = q.rttMs === null ? "round trip unknown" : `round trip ${q.rttMs} ms`;
  return `${formatBitrate(q.bitrateBps)}, loss ${q.lossPercent.toFixed(1)} %, ${rtt}`;
}

const DOT: Record<QualityLevel, string> = { good: "bg-emerald-400", fair: "bg-amber-400", poor: "bg-rose-500" };

export function QualityIndicator({ panelId, source, quality }: { panelId: string; source: string; quality: VideoQuality }) {
  const [open, setOpen] = useState(false);
  const tipId = useId();
  const level = qualityLevel(quality);
  return (
    <div className="absolute right-1 top-1 z-10" onMouseEnter={() => setOpen(true)} onMouseLeave={() => setOpen(false)}>
      <button
        type="button"
        data-testid={`quality-${panelId}`}
        data-level={level}
        aria-label={`Picture quality of ${source}: ${level}, ${qualitySummary(quality)}`}
        aria-describedby={open ? tipId : undefined}
        onFocus={() => setOpen(true)}
        onBlur={() => setOpen(false)}
        onKeyDown={(e) => e.key === "Escape" && setOpen(false)}
        className="flex items-center gap-1 rounded bg-slate-950/80 px-1.5 py-0.5 text-[11px] text-slate-200 focus:outline-none focus-visible:ring-2 focus-visible:ring-sky-400"
      >
        <span aria-hidden="true" className={`inline-block h-2 w-2 rounded-full ${DOT[level]}`} />
        <span aria-hidden="true">{formatBitrate(quality.bitrateBps)}</span>
      </button>
      {open && (
        <div
          id={tipId}
          role="tooltip"
          className="absolute right-0 top-full mt-1 w-max max-w-[14rem] rounded bg-slate-950/95 px-2 py-1 text-xs text-slate-100 shadow"
        >
          <p className="font-medium">Picture quality: {level}</p>
          <p>Bitrate {formatBitrate(quality.bitrateBps)}</p>
          <p>Loss {quality.lossPercent.toFixed(1)} %</p>
          <p>Round trip {quality.rttMs === null ? "unknown" : `${quality.rttMs} ms`}</p>
          {quality.jitterMs !== null && <p>Jitter {quality.jitterMs.toFixed(1)} ms</p>}
        </div>
      )}
    </div>
  );
}
