// Wall-clock moments to places in recordings: which archive of a source covers a moment of the
// session, and how far into it that moment lies. Pure, unit-tested.
import type { Archive } from "../../api/archives";

/** When an archive's recording ended (ms): `ended_at`, else start + duration; null while open. */
export function endOf(archive: Archive): number | null {
  if (archive.ended_at) return Date.parse(archive.ended_at);
  if (archive.duration_ms != null && archive.status !== "recording") return Date.parse(archive.started_at) + archive.duration_ms;
  return null;
}

/** The distinct sources recorded, in order of first recording. */
export function sourcesOf(archives: readonly Archive[]): string[] {
  const sorted = [...archives].sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at));
  return [...new Set(sorted.map((a) => a.source))];
}

export interface Placement {
  archive: Archive;
  /** How far into the recording the moment lies. */
  offsetMs: number;
}

/**
 * The archive of `source` that was recording at `atMs` and the offset into it
 * (`atMs - started_at`), or null when that source was not being recorded then. A moment on an
 * archive's last millisecond is inside it; an archive still recording covers everything after
 * its start. When two archives overlap (they should not) the later one wins.
 */
export function placeAt(archives: readonly Archive[], source: string, atMs: number): Placement | null {
  let best: Placement | null = null;
  for (const archive of archives) {
    if (archive.source !== source) continue;
    const start = Date.parse(archive.started_at);
    if (Number.isNaN(start) || atMs < start) continue;
    const end = endOf(archive);
    if (end !== null && atMs > end) continue;
    if (best === null || start > Date.parse(best.archive.started_at)) best = { archive, offsetMs: atMs - start };
  }
  return best;
}

/** The recorded spans of `source`, for "recorded from … to …". */
export function spansOf(archives: readonly Archive[], source: string): { start: string; end: string | null }[] {
  return archives
    .filter((a) => a.source === source)
    .sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at))
    .map((a) => {
      const end = endOf(a);
      return { start: a.started_at, end: end === null ? null : new Date(end).toISOString() };
    });
}
