// Short-lived notices (joins, leaves, contested edits), announced politely to screen readers.
// They show in their own region of the page header (`ToastRegion`), in the flow of the page,
// so they never cover a control the way a floating corner box did.
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";

export interface Toast {
  id: number;
  text: string;
  tone: "info" | "success" | "warning" | "error";
}

interface Toasts {
  push(text: string, tone?: Toast["tone"]): void;
}

const ToastContext = createContext<Toasts>({ push: () => {} });
const ShownContext = createContext<Toast[]>([]);
// Whether a `ToastRegion` is mounted; if none is (a screen rendered alone), the provider shows
// the toasts in the flow after its children.
const RegionContext = createContext<(mounted: boolean) => void>(() => {});
let nextId = 1;

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const push = useCallback((text: string, tone: Toast["tone"] = "info") => {
    const id = nextId++;
    setToasts((t) => [...t.slice(-4), { id, text, tone }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), 5000);
  }, []);
  const value = useMemo(() => ({ push }), [push]);
  const [regions, setRegions] = useState(0);
  const register = useCallback((mounted: boolean) => setRegions((n) => n + (mounted ? 1 : -1)), []);
  return (
    <ToastContext.Provider value={value}>
      <ShownContext.Provider value={toasts}>
        <RegionContext.Provider value={register}>
          {children}
          {regions === 0 && <ToastList />}
        </RegionContext.Provider>
      </ShownContext.Provider>
    </ToastContext.Provider>
  );
}

/** Where the toasts show: a live region in the page's flow (the header's middle). */
export function ToastRegion({ className = "" }: { className?: string }) {
  const register = useContext(RegionContext);
  useEffect(() => {
    register(true);
    return () => register(false);
  }, [register]);
  return <ToastList className={className} />;
}

function ToastList({ className = "" }: { className?: string }) {
  const toasts = useContext(ShownContext);
  const tones = {
    info: "border-sky-500",
    success: "border-emerald-500",
    warning: "border-amber-500",
    error: "border-rose-500",
  };
  return (
    <div aria-live="polite" data-testid="toast-region" className={`flex min-w-0 flex-col gap-1 ${className}`}>
      {toasts.slice(-2).map((t) => (
        <div
          key={t.id}
          data-testid="toast"
          className={`max-w-xl rounded border-l-4 bg-slate-800 px-3 py-1 text-sm text-slate-100 ${tones[t.tone]}`}
        >
          {t.text}
        </div>
      ))}
    </div>
  );
}

export function useToasts(): Toasts {
  return useContext(ToastContext);
}
