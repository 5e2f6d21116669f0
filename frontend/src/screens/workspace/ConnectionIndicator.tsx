// Connected / reconnecting / offline, visible and announced (role=status).
import type { CloseReason, ConnectionStatus } from "../../realtime/connection";

const LOOK: Record<ConnectionStatus, { label: string; dot: string }> = {
  connecting: { label: "Connecting…", dot: "bg-sky-400" },
  connected: { label: "Connected", dot: "bg-emerald-400" },
  reconnecting: { label: "Reconnecting…", dot: "bg-amber-400 animate-pulse" },
  offline: { label: "Offline", dot: "bg-rose-400" },
  closed: { label: "Disconnected", dot: "bg-slate-400" },
};

const CLOSED: Record<CloseReason, string> = {
  ended: "Session ended",
  removed: "Removed from the session",
  replaced: "Opened elsewhere",
  stopped: "Disconnected",
  renew_failed: "Disconnected",
};

export function ConnectionIndicator({ status, reason }: { status: ConnectionStatus; reason: CloseReason | null }) {
  const look = LOOK[status];
  const label = status === "closed" && reason ? CLOSED[reason] : look.label;
  return (
    <div
      role="status"
      data-testid="connection-status"
      data-state={status}
      className="flex items-center gap-2 rounded border border-slate-700 bg-slate-900 px-2 py-1 text-sm text-slate-200"
    >
      <span aria-hidden="true" className={`inline-block h-2.5 w-2.5 rounded-full ${look.dot}`} />
      <span>{label}</span>
    </div>
  );
}
