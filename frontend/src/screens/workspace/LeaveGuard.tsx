// Leaving the workspace while publishing cuts the operating room's feed for everyone: the
// browser warns on reload or close (`beforeunload`), and the app asks before navigating away.
import { useContext, useEffect } from "react";
import { UNSAFE_DataRouterContext, useBlocker } from "react-router";
import { ConfirmDialog } from "../sessions/ConfirmDialog";

/** Warns before leaving while `sources` (published by this browser) is not empty. */
export function LeaveGuard({ sources }: { sources: readonly string[] }) {
  const active = sources.length > 0;
  useEffect(() => {
    if (!active) return;
    const warn = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      // Older browsers show the prompt only when returnValue is set.
      e.returnValue = "";
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [active]);
  // `useBlocker` needs a data router (the app's); a plain router (some tests) gets the
  // browser's warning only.
  return useContext(UNSAFE_DataRouterContext) ? <NavigationGuard sources={sources} /> : null;
}

function NavigationGuard({ sources }: { sources: readonly string[] }) {
  const active = sources.length > 0;
  const blocker = useBlocker(({ currentLocation, nextLocation }) => active && currentLocation.pathname !== nextLocation.pathname);
  if (blocker.state !== "blocked") return null;
  return (
    <ConfirmDialog
      title="Leave the workspace?"
      confirmLabel="Leave and stop publishing"
      cancelLabel="Stay"
      onConfirm={() => blocker.proceed()}
      onCancel={() => blocker.reset()}
    >
      <p className="text-sm text-slate-300">
        You are publishing {sources.join(", ")}. Leaving stops {sources.length === 1 ? "it" : "them"} for everyone in the
        session.
      </p>
    </ConfirmDialog>
  );
}
