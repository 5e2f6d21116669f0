// This viewer's own view of the workspace: a panel in the spotlight or fullscreen, empty panels
// hidden. It changes nothing for anyone else (no message is sent) and is kept per session in
// localStorage, so a reload keeps it.
import { useCallback, useEffect, useRef, useState } from "react";

export interface PersonalView {
  /** The panel shown large (the others in a strip beside it), or null. */
  spotlight: string | null;
  /** The panel shown alone over the whole workspace, or null. */
  fullscreen: string | null;
  /** Panels without a source are left out. */
  hideEmpty: boolean;
  /**
   * Panel id -> the source this viewer watches in it instead of the shared one. Any member may
   * subscribe to any source published in the session (the permission table's
   * `subscribe_media`), so the session allows it wherever the viewer may watch at all.
   */
  sources: Readonly<Record<string, string>>;
}

export const SHARED_VIEW: PersonalView = { spotlight: null, fullscreen: null, hideEmpty: false, sources: {} };

function sourcesOf(raw: unknown): Record<string, string> {
  if (!raw || typeof raw !== "object") return {};
  return Object.fromEntries(Object.entries(raw as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === "string" && e[1] !== ""));
}

export function viewKey(sessionId: string): string {
  return `livesurgery.view.${sessionId}`;
}

function load(sessionId: string): PersonalView {
  try {
    const raw = JSON.parse(localStorage.getItem(viewKey(sessionId)) ?? "null") as Partial<PersonalView> | null;
    if (!raw || typeof raw !== "object") return SHARED_VIEW;
    const id = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
    return { spotlight: id(raw.spotlight), fullscreen: id(raw.fullscreen), hideEmpty: raw.hideEmpty === true, sources: sourcesOf(raw.sources) };
  } catch {
    return SHARED_VIEW; // no storage, or something else wrote the key
  }
}

export interface PersonalViewControls {
  view: PersonalView;
  /** Spotlights `id`, or ends the spotlight when it is that panel already. */
  toggleSpotlight(id: string): void;
  toggleFullscreen(id: string): void;
  toggleHideEmpty(): void;
  /** Watches `source` in panel `id` (only here), or the shared source again when null. */
  pickSource(id: string, source: string | null): void;
  /** Back to the shared grid at once. */
  reset(): void;
  /** Back one step: out of fullscreen first, then out of the spotlight. False when nothing to leave. */
  back(): boolean;
}

/** The personal view of session `sessionId`, forgetting panels that no longer exist. */
export function usePersonalView(sessionId: string, panelIds: readonly string[]): PersonalViewControls {
  const [view, setView] = useState<PersonalView>(() => load(sessionId));
  const viewRef = useRef(view);
  viewRef.current = view;

  useEffect(() => {
    try {
      localStorage.setItem(viewKey(sessionId), JSON.stringify(view));
    } catch {
      // Storage full or disabled: the view lasts until the page is left.
    }
  }, [sessionId, view]);

  const idsKey = panelIds.join("\n");
  useEffect(() => {
    if (idsKey === "") return; // no layout yet (or none at all): nothing to forget
    const ids = new Set(idsKey.split("\n"));
    setView((v) => {
      const spotlight = v.spotlight && ids.has(v.spotlight) ? v.spotlight : null;
      const fullscreen = v.fullscreen && ids.has(v.fullscreen) ? v.fullscreen : null;
      const kept = Object.entries(v.sources).filter(([panel]) => ids.has(panel));
      const sources = kept.length === Object.keys(v.sources).length ? v.sources : Object.fromEntries(kept);
      return spotlight === v.spotlight && fullscreen === v.fullscreen && sources === v.sources ? v : { ...v, spotlight, fullscreen, sources };
    });
  }, [idsKey]);

  const toggleSpotlight = useCallback((id: string) => setView((v) => ({ ...v, fullscreen: null, spotlight: v.spotlight === id ? null : id })), []);
  const toggleFullscreen = useCallback((id: string) => setView((v) => ({ ...v, fullscreen: v.fullscreen === id ? null : id })), []);
  const toggleHideEmpty = useCallback(() => setView((v) => ({ ...v, hideEmpty: !v.hideEmpty })), []);
  const pickSource = useCallback(
    (id: string, source: string | null) =>
      setView((v) => {
        const sources = { ...v.sources };
        if (source === null) delete sources[id];
        else sources[id] = source;
        return { ...v, sources };
      }),
    [],
  );
  const back = useCallback(() => {
    const v = viewRef.current;
    if (v.fullscreen) setView({ ...v, fullscreen: null });
    else if (v.spotlight) setView({ ...v, spotlight: null });
    else return false;
    return true;
  }, []);

  const reset = useCallback(() => setView(SHARED_VIEW), []);

  return { view, toggleSpotlight, toggleFullscreen, toggleHideEmpty, pickSource, back, reset };
}
