// Where the video's picture lies inside an overlay: the overlay sits over the same box as a
// <video> (its parent holds both), and follows the element's size and the video's shape.
import { useEffect, useState, type RefObject } from "react";
import { contentBox, type Box } from "./geometry";

const EMPTY: Box = { left: 0, top: 0, width: 0, height: 0 };

/** The picture's box relative to `anchor`, from the <video> in `anchor`'s parent. */
export function measure(anchor: HTMLElement): { box: Box; video: HTMLVideoElement | null } {
  const video = anchor.parentElement?.querySelector("video") ?? null;
  const a = anchor.getBoundingClientRect();
  if (!video) return { box: contentBox(a.width, a.height, 0, 0), video };
  const v = video.getBoundingClientRect();
  const inner = contentBox(v.width, v.height, video.videoWidth, video.videoHeight);
  return { box: { ...inner, left: inner.left + v.left - a.left, top: inner.top + v.top - a.top }, video };
}

const same = (a: Box, b: Box) => a.left === b.left && a.top === b.top && a.width === b.width && a.height === b.height;

export function useContentBox(anchor: RefObject<HTMLElement | null>, key: unknown = null): { box: Box; video: HTMLVideoElement | null } {
  const [state, setState] = useState<{ box: Box; video: HTMLVideoElement | null }>({ box: EMPTY, video: null });
  useEffect(() => {
    const node = anchor.current;
    if (!node) return;
    const update = () => {
      const next = measure(node);
      setState((prev) => (prev.video === next.video && same(prev.box, next.box) ? prev : next));
    };
    update();
    const video = node.parentElement?.querySelector("video") ?? null;
    const events = ["loadedmetadata", "resize", "playing"] as const;
    for (const e of events) video?.addEventListener(e, update);
    window.addEventListener("resize", update);
    let observer: ResizeObserver | null = null;
    if (typeof ResizeObserver !== "undefined") {
      observer = new ResizeObserver(update);
      observer.observe(node);
      if (video) observer.observe(video);
    }
    return () => {
      for (const e of events) video?.removeEventListener(e, update);
      window.removeEventListener("resize", update);
      observer?.disconnect();
    };
  }, [anchor, key]);
  return state;
}
