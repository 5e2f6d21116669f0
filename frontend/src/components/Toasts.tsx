// Short-lived notices (joins, leaves, contested edits), announced politely to screen readers.
import { createContext, useCallback, useContext, useMemo, useState } from "react";
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
let nextId = 1;

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const push = useCallback((text: string, tone: Toast["tone"] = "info") => {
    const id = nextId++;
    setToasts((t) => [...t.slice(-4), { id, text, tone }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), 5000);
  }, []);
  const value = useMemo(() => ({ push }), [push]);
  const tones = {
    info: "border-sky-500",
    success: "border-emerald-500",
    warning: "border-amber-500",
    error: "border-rose-500",
  };
  return (
    <ToastContext.Provider value={value}>
      {children}
      <div aria-live="polite" className="pointer-events-none fixed right-4 bottom-4 z-50 flex w-80 flex-col gap-2">
        {toasts.map((t) => (
          <div
            key={t.id}
            data-testid="toast"
            className={`rounded border-l-4 bg-slate-800 px-3 py-2 text-sm text-slate-100 shadow-lg ${tones[t.tone]}`}
          >
            {t.text}
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}

export function useToasts(): Toasts {
  return useContext(ToastContext);
}
