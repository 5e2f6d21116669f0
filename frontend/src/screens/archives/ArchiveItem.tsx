// One archive in the session page's list: source, status (with progress while processing),
// duration, size, expiry, legal hold, and what the reader may do with it.
import type { ReactNode } from "react";
import type { Archive } from "../../api/archives";
import { Badge, Button } from "../../components/ui";
import { formatDateTime } from "../sessions/time";
import { formatBytes, formatDuration, isPlayable, percentOf, statusLabel, statusTone } from "./format";

const NOT_PLAYABLE: Record<Archive["status"], string> = {
  recording: "Playable after the recording stops and is processed.",
  processing: "Playable when processing is done.",
  ready: "",
  incomplete: "",
  failed: "Nothing playable could be made of this recording.",
  expired: "Deleted at the end of its retention.",
};

export function ArchiveItem({
  archive,
  playing,
  canManage,
  editing,
  onPlay,
  onEdit,
  children,
}: {
  archive: Archive;
  playing: boolean;
  canManage: boolean;
  editing: boolean;
  onPlay: () => void;
  onEdit: () => void;
  /** The retention editor, when open. */
  children?: ReactNode;
}) {
  const percent = archive.status === "processing" ? percentOf(archive.progress) : null;
  const labelId = `archive-${archive.id}`;
  return (
    <li
      aria-labelledby={labelId}
      data-testid="archive"
      data-archive-id={archive.id}
      data-status={archive.status}
      className={`rounded border px-3 py-2 ${playing ? "border-sky-400 bg-slate-800" : "border-slate-700 bg-slate-900"}`}
    >
      <div className="flex flex-wrap items-center gap-2">
        <h3 id={labelId} className="font-semibold text-slate-100">
          {archive.source}
        </h3>
        <span data-testid="archive-status">
          <Badge tone={statusTone(archive.status)}>{statusLabel(archive.status)}</Badge>
        </span>
        {archive.legal_hold && <Badge tone="amber">Legal hold</Badge>}
        <span className="ml-auto flex gap-2">
          {isPlayable(archive) && (
            <Button variant={playing ? "secondary" : "primary"} onClick={onPlay}>
              Play<span className="sr-only"> {archive.source}</span>
            </Button>
          )}
          {canManage && !editing && archive.status !== "expired" && (
            <Button variant="secondary" onClick={onEdit}>
              Edit retention<span className="sr-only"> of {archive.source}</span>
            </Button>
          )}
        </span>
      </div>
      {archive.status === "processing" && (
        <div className="mt-1 flex items-center gap-2 text-sm text-slate-300">
          <progress
            aria-label={`Processing ${archive.source}`}
            max={100}
            value={percent ?? undefined}
            className="h-2 w-40 accent-amber-500"
          />
          <span data-testid="archive-progress">{percent === null ? "Processing…" : `${percent}%`}</span>
        </div>
      )}
      <dl className="mt-1 grid grid-cols-[max-content_1fr] gap-x-4 gap-y-0.5 text-sm sm:grid-cols-[max-content_1fr_max-content_1fr]">
        <dt className="text-slate-400">Started</dt>
        <dd>{formatDateTime(archive.started_at)}</dd>
        <dt className="text-slate-400">Duration</dt>
        <dd data-testid="archive-duration">{formatDuration(archive.duration_ms)}</dd>
        <dt className="text-slate-400">Size</dt>
        <dd data-testid="archive-size">{formatBytes(archive.bytes)}</dd>
        <dt className="text-slate-400">{archive.status === "expired" ? "Expired" : "Expires"}</dt>
        <dd data-testid="archive-expiry">
          {formatDateTime(archive.expires_at)}
          {archive.legal_hold && archive.status !== "expired" && <span className="text-amber-200"> (held)</span>}
        </dd>
      </dl>
      {NOT_PLAYABLE[archive.status] && <p className="mt-1 text-xs text-slate-400">{NOT_PLAYABLE[archive.status]}</p>}
      {children}
    </li>
  );
}
