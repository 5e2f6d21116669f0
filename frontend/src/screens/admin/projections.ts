// Projection status in words, and how far a rebuild has got.
import type { Projection } from "../../api/client";

export interface Progress {
  /** null while the rebuild has not reported a position yet (an indeterminate bar) */
  value: number | null;
  max: number;
  text: string;
}

export function rebuildProgress(p: Projection, head: number): Progress {
  const max = Math.max(head, 1);
  if (p.rebuild_position == null) return { value: null, max, text: "Starting…" };
  const value = Math.min(p.rebuild_position, max);
  const percent = Math.floor((value / max) * 100);
  return { value, max, text: `${value} of ${head} events (${percent}%)` };
}

export function statusText(p: Projection): string {
  if (p.rebuilding) return "Rebuilding";
  return p.lag === 0 ? "Up to date" : `${p.lag} behind`;
}

export type RebuildOutcome = "running" | "done" | "stopped";

/**
 * Where a rebuild we started stands: `generation` counts completed rebuilds, so a finished one
 * raised it; a rebuild that is no longer running and did not raise it failed (the server log
 * says why).
 */
export function rebuildOutcome(p: Projection | undefined, startGeneration: number): RebuildOutcome {
  if (!p) return "stopped";
  if (p.generation > startGeneration) return "done";
  return p.rebuilding ? "running" : "stopped";
}
