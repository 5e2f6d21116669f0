// The React face of the media layer: one MediaEngine per join, read through a snapshot.
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { MediaEngine, type EngineSnapshot } from "./engine";
import type { AudioChoice, MediaOptions, SessionMedia } from "./types";

const IDLE: EngineSnapshot = { published: [], devices: [], sessionSources: [], sourcePublishers: {}, sourceStalledSince: {}, error: null, slotsVersion: 0 };
const noSubscribe = () => () => {};
const idleSnapshot = () => IDLE;

export function useSessionMedia(options: MediaOptions | null): SessionMedia {
  // Survive a new join (token refresh): the panels still want the same sources.
  const wanted = useRef<string[]>([]);
  // Survive it too: what this browser publishes. A renewal is a new participant whose old media
  // the server cuts (its SFU token and participant end), so the new join publishes it again.
  const publishing = useRef(new Map<string, { deviceId?: string; audio: AudioChoice | null }>());
  const send = useRef<MediaOptions["sendFirstFrame"] | null>(null);
  const current = useRef<MediaEngine | null>(null);
  const [engine, setEngine] = useState<MediaEngine | null>(null);

  useEffect(() => {
    send.current = options?.sendFirstFrame ?? null;
  });

  const sessionId = options?.sessionId ?? null;
  const join = options?.join ?? null;
  const joinedAt = options?.joinedAt ?? 0;
  const canPublish = options?.canPublish ?? false;
  useEffect(() => {
    if (!sessionId || !join) return;
    const e = new MediaEngine({
      sessionId,
      join,
      joinedAt,
      canPublish,
      sendFirstFrame: (msg) => send.current?.(msg),
      wanted: wanted.current,
    });
    current.current = e;
    e.start();
    setEngine(e);
    for (const [source, { deviceId, audio }] of publishing.current) republish(e, source, deviceId, audio);
    return () => {
      e.dispose();
      if (current.current === e) current.current = null;
      setEngine((now) => (now === e ? null : now));
    };
  }, [sessionId, join, joinedAt, canPublish]);

  const snapshot = useSyncExternalStore(engine?.subscribe ?? noSubscribe, engine?.getSnapshot ?? idleSnapshot);

  // Callers may hold an old result (effects with narrow deps): every method reads the live engine.
  const publish = useCallback(async (source: string, deviceId?: string, audio: AudioChoice | null = null) => {
    const e = current.current;
    if (!e) throw new Error("Live media is not connected yet. Try again in a moment.");
    await e.publish(source, deviceId, audio);
    publishing.current.set(source, { ...(deviceId ? { deviceId } : {}), audio });
  }, []);
  const setMuted = useCallback((source: string, muted: boolean) => current.current?.setMuted(source, muted), []);
  const unpublish = useCallback(async (source: string) => {
    publishing.current.delete(source);
    await current.current?.unpublish(source);
  }, []);
  const setWanted = useCallback((sources: string[]) => {
    wanted.current = [...sources];
    current.current?.setWanted(sources);
  }, []);
  const streamFor = useCallback((source: string) => current.current?.streamFor(source) ?? null, []);
  const framesDecoded = useCallback(
    (source: string) => current.current?.framesDecoded(source).catch(() => null) ?? Promise.resolve(null),
    [],
  );
  const onSessionEvent = useCallback((eventType: string, data: unknown) => {
    current.current?.onSessionEvent(eventType, data);
  }, []);

  return useMemo<SessionMedia>(
    () => ({
      published: snapshot.published,
      devices: snapshot.devices,
      sessionSources: snapshot.sessionSources,
      sourcePublishers: snapshot.sourcePublishers,
      sourceStalledSince: snapshot.sourceStalledSince,
      error: snapshot.error,
      publish,
      setMuted,
      unpublish,
      setWanted,
      streamFor,
      framesDecoded,
      onSessionEvent,
    }),
    // A new snapshot (also when only `slotsVersion` moved) is a new result, so panels ask
    // `streamFor` again.
    [snapshot, publish, setMuted, unpublish, setWanted, streamFor, framesDecoded, onSessionEvent],
  );
}

/** Publishes `source` again on a new join's engine; one retry a second later, while the server
 * may still hold the old join's publication of it. A failure shows on the source's row. */
function republish(e: MediaEngine, source: string, deviceId: string | undefined, audio: AudioChoice | null): void {
  e.publish(source, deviceId, audio).catch(() => {
    setTimeout(() => {
      if (!e.disposed) void e.publish(source, deviceId, audio).catch(() => {});
    }, 1000);
  });
}
