// Archive facts in words: sizes, durations, statuses. Pure, unit-tested.
import type { Archive, ArchiveStatus } from "../../api/archives";

/** 1536 -> "1.5 KB", 1234567 -> "1.2 MB" (decimal units, as disks and S3 count). */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes == null || !Number.isFinite(bytes) || bytes < 0) return "—";
  if (bytes < 1000) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** 65_000 -> "1:05", 3_725_000 -> "1:02:05"; "—" when unknown. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return "—";
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

const LABELS: Record<ArchiveStatus, string> = {
  recording: "Recording",
  processing: "Processing",
  ready: "Ready",
  incomplete: "Incomplete",
  failed: "Failed",
  expired: "Expired",
};

export function statusLabel(status: ArchiveStatus): string {
  return LABELS[status] ?? status;
}

export function statusTone(status: ArchiveStatus): "rose" | "amber" | "emerald" | "violet" | "slate" {
  return ({ recording: "rose", processing: "amber", ready: "emerald", incomplete: "violet", failed: "rose", expired: "slate" } as const)[
    status
  ];
}

/** Whether a playable object exists (the server says 409 `archive_not_playable` otherwise). */
export function isPlayable(archive: Archive): boolean {
  return archive.status === "ready" || archive.status === "incomplete";
}

/** Progress 0..1 as a whole percentage, clamped; null when the server gave none. */
export function percentOf(progress: number | null | undefined): number | null {
  if (progress == null || !Number.isFinite(progress)) return null;
  return Math.round(Math.min(1, Math.max(0, progress)) * 100);
}

/** The first block of a uuid, enough to tell archives apart in the audit trail. */
export function shortId(id: string): string {
  return id.split("-")[0] ?? id;
}
