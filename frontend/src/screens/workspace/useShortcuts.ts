// The workspace's global keyboard shortcuts. A key typed into a field (input, select, text area,
// editable text) is the field's, never a shortcut; nor is one held with Ctrl, Alt or Meta.
import { useEffect, useRef } from "react";

/** The shortcuts, as the `?` dialog and the README list them. */
export const SHORTCUTS: readonly { key: string; label: string; does: string }[] = [
  { key: "?", label: "?", does: "Show these shortcuts" },
  { key: "f", label: "f", does: "Fullscreen the focused panel (or the first with a source)" },
  { key: "s", label: "s", does: "Spotlight the focused panel (or the first with a source)" },
  { key: "h", label: "h", does: "Hide or show empty panels" },
  { key: "Escape", label: "Esc", does: "Back: close this list, stop drawing, leave fullscreen, then the spotlight" },
];

/** Whether a key event belongs to a field being typed in. */
export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  return ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

/** Calls `handlers[key]` for a shortcut key pressed anywhere on the page. */
export function useShortcuts(handlers: Partial<Record<string, () => void>>): void {
  const latest = useRef(handlers);
  latest.current = handlers;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
      if (isTyping(e.target) && e.key !== "Escape") return;
      const handler = latest.current[e.key];
      if (!handler || !SHORTCUTS.some((s) => s.key === e.key)) return;
      e.preventDefault();
      handler();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}
