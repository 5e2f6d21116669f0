// Small shared controls with the app's look. Every control has a visible label or an
// aria-label; focus rings come from index.css.
import type { ButtonHTMLAttributes, InputHTMLAttributes, ReactNode, SelectHTMLAttributes } from "react";
import { useId } from "react";

type Variant = "primary" | "secondary" | "danger" | "ghost";

const variants: Record<Variant, string> = {
  primary: "bg-sky-700 hover:bg-sky-800 text-white",
  secondary: "bg-slate-700 hover:bg-slate-600 text-slate-100",
  danger: "bg-rose-700 hover:bg-rose-800 text-white",
  ghost: "bg-transparent hover:bg-slate-800 text-slate-200",
};

export function Button({
  variant = "primary",
  className = "",
  ...props
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant }) {
  return (
    <button
      type="button"
      {...props}
      className={`inline-flex items-center justify-center gap-1 rounded px-3 py-1.5 text-sm font-medium disabled:cursor-not-allowed disabled:opacity-50 ${variants[variant]} ${className}`}
    />
  );
}

/** A labelled text input; `hint` and `error` are tied to it for screen readers. */
export function TextField({
  label,
  error,
  hint,
  className = "",
  ...props
}: InputHTMLAttributes<HTMLInputElement> & { label: string; error?: string | null; hint?: string }) {
  const id = useId();
  const described = [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(" ");
  return (
    <div className={`flex flex-col gap-1 ${className}`}>
      <label htmlFor={id} className="text-sm text-slate-300">
        {label}
      </label>
      <input
        id={id}
        aria-invalid={error ? true : undefined}
        aria-describedby={described || undefined}
        {...props}
        className="rounded border border-slate-600 bg-slate-900 px-2 py-1.5 text-slate-100 placeholder:text-slate-400"
      />
      {hint && (
        <p id={`${id}-hint`} className="text-xs text-slate-400">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} className="text-xs text-rose-300">
          {error}
        </p>
      )}
    </div>
  );
}

export function SelectField({
  label,
  children,
  className = "",
  ...props
}: SelectHTMLAttributes<HTMLSelectElement> & { label: string; children: ReactNode }) {
  const id = useId();
  return (
    <div className={`flex flex-col gap-1 ${className}`}>
      <label htmlFor={id} className="text-sm text-slate-300">
        {label}
      </label>
      <select
        id={id}
        {...props}
        className="rounded border border-slate-600 bg-slate-900 px-2 py-1.5 text-slate-100"
      >
        {children}
      </select>
    </div>
  );
}

/** An error or notice box; errors are announced (role=alert). */
export function Alert({ kind = "error", children }: { kind?: "error" | "info" | "success"; children: ReactNode }) {
  const styles = {
    error: "border-rose-500 bg-rose-950 text-rose-100",
    info: "border-sky-500 bg-sky-950 text-sky-100",
    success: "border-emerald-500 bg-emerald-950 text-emerald-100",
  }[kind];
  return (
    <div role={kind === "error" ? "alert" : "status"} className={`rounded border px-3 py-2 text-sm ${styles}`}>
      {children}
    </div>
  );
}

export function Badge({ children, tone = "slate" }: { children: ReactNode; tone?: "slate" | "sky" | "emerald" | "amber" | "rose" | "violet" }) {
  const tones = {
    slate: "bg-slate-700 text-slate-100",
    sky: "bg-sky-800 text-sky-50",
    emerald: "bg-emerald-800 text-emerald-50",
    amber: "bg-amber-700 text-amber-50",
    rose: "bg-rose-800 text-rose-50",
    violet: "bg-violet-800 text-violet-50",
  }[tone];
  return <span className={`inline-block rounded px-1.5 py-0.5 text-xs font-medium ${tones}`}>{children}</span>;
}

export function PageTitle({ children, actions }: { children: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-4 flex flex-wrap items-center justify-between gap-2">
      <h1 className="text-xl font-semibold">{children}</h1>
      {actions && <div className="flex flex-wrap gap-2">{actions}</div>}
    </div>
  );
}

/** A message for an error of any kind (ApiError keeps the server's words and request id). */
export function messageOf(error: unknown): string {
  if (error && typeof error === "object" && "describe" in error && typeof error.describe === "function") {
    return (error as { describe(): string }).describe();
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
