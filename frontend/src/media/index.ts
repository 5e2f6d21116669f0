// The media layer: WHIP publishing, the WHEP subscription and its slots, first-frame reports.
export { useSessionMedia } from "./useSessionMedia";
export { PanelVideo } from "./PanelVideo";
export type { MediaOptions, SessionMedia, LocalSource } from "./types";
