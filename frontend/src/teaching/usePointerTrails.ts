// Others' laser pointers: each `PointerMoved` batch shown as a trail from when it arrives, gone
// 1.5 s later. Not session state (a snapshot has none): only what this screen saw come.
import { useCallback, useEffect, useState } from "react";
import type { EventMessage } from "../api/generated/ws";
import { colorFor } from "./geometry";
import type { PointerMovedData, PointerSample } from "./types";

export const POINTER_FADE_MS = 1500;

export interface PointerTrail {
  key: string;
  user_id: string;
  participant_id: string | null;
  panel_id: string;
  source_id: string | null;
  points: PointerSample[];
  color: string;
  /** When it came (Date.now()). */
  at: number;
}

/** Every participant's trails (the screen leaves out its own: it draws that without the round trip). */
export function usePointerTrails(): { trails: PointerTrail[]; onEvent: (e: EventMessage) => void } {
  const [trails, setTrails] = useState<PointerTrail[]>([]);

  const onEvent = useCallback((e: EventMessage) => {
    if ((e.event_type as string) !== "PointerMoved") return;
    const d = e.data as PointerMovedData;
    if (!Array.isArray(d.points) || d.points.length === 0) return;
    const at = Date.now();
    const trail: PointerTrail = {
      key: `${e.position}`,
      user_id: e.actor.user_id ?? "",
      participant_id: e.actor.participant_id,
      panel_id: d.panel_id,
      source_id: d.source_id,
      points: d.points,
      color: colorFor(e.actor.user_id ?? ""),
      at,
    };
    setTrails((list) => [...list.filter((t) => at - t.at < POINTER_FADE_MS), trail]);
  }, []);

  // Drop faded trails once nothing new comes.
  useEffect(() => {
    if (trails.length === 0) return;
    const timer = setTimeout(() => {
      const now = Date.now();
      setTrails((list) => list.filter((t) => now - t.at < POINTER_FADE_MS));
    }, POINTER_FADE_MS);
    return () => clearTimeout(timer);
  }, [trails]);

  return { trails, onEvent };
}
