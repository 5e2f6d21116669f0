// What this browser published in a session, kept in sessionStorage (this tab, survives a
// reload), so that after a reload the same sources can be published again with the same
// cameras, microphones and labels.
import { useCallback, useEffect, useState } from "react";
import type { AudioChoice, SessionMedia } from "../../media/types";

/** One source as it was published: its label, camera and microphone. */
export interface RememberedSource {
  source: string;
  deviceId?: string;
  audio: AudioChoice | null;
}

const keyOf = (sessionId: string) => `livesurgery.publishing.${sessionId}`;

export function readRemembered(sessionId: string): RememberedSource[] {
  try {
    const parsed: unknown = JSON.parse(sessionStorage.getItem(keyOf(sessionId)) ?? "[]");
    if (!Array.isArray(parsed)) return [];
    return parsed.filter((r): r is RememberedSource => typeof r?.source === "string");
  } catch {
    return [];
  }
}

function writeRemembered(sessionId: string, sources: readonly RememberedSource[]): void {
  try {
    if (sources.length === 0) sessionStorage.removeItem(keyOf(sessionId));
    else sessionStorage.setItem(keyOf(sessionId), JSON.stringify(sources));
  } catch {
    // Storage full or refused: no resume offer after a reload, nothing else lost.
  }
}

export interface ResumeOffer {
  /** Sources published before the reload, not published now, until resumed or dismissed. */
  offered: RememberedSource[];
  /** Publishes them again; each failure shows on its own row. */
  resume(): Promise<void>;
  dismiss(): void;
}

/**
 * Keeps the remembered list equal to what this browser publishes (plus what is still offered),
 * and offers what was published before a reload. `over`: the session ended, forget it all.
 */
export function usePublishMemory(sessionId: string, media: SessionMedia, over: boolean): ResumeOffer {
  const [offered, setOffered] = useState<RememberedSource[]>(() => readRemembered(sessionId));
  const live = media.published.filter((p) => p.state !== "failed");
  const key = JSON.stringify(live.map((p) => [p.source, p.deviceId, p.audio]));

  useEffect(() => {
    if (over) {
      writeRemembered(sessionId, []);
      return;
    }
    const now: RememberedSource[] = live.map((p) => ({ source: p.source, ...(p.deviceId ? { deviceId: p.deviceId } : {}), audio: p.audio }));
    const names = new Set(now.map((r) => r.source));
    writeRemembered(sessionId, [...now, ...offered.filter((r) => !names.has(r.source))]);
    // `key` stands for `live`.
  }, [sessionId, key, offered, over]);

  const publish = media.publish;
  const resume = useCallback(async () => {
    // Still remembered while they start, so a reload meanwhile still offers them.
    await Promise.all(offered.map((r) => publish(r.source, r.deviceId, r.audio).catch(() => {})));
    setOffered([]);
  }, [offered, publish]);
  const dismiss = useCallback(() => setOffered([]), []);

  const publishedNow = new Set(live.map((p) => p.source));
  return { offered: over ? [] : offered.filter((r) => !publishedNow.has(r.source)), resume, dismiss };
}
