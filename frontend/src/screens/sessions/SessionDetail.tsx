// One session: its details, the actions the caller may take on it (by org role and session
// role, README "Permissions"), and its members.
import { useCallback, useEffect, useRef, useState } from "react";
import { Link, useParams } from "react-router";
import { ApiError, call, http, positionOf } from "../../api/client";
import type { Member, Session } from "../../api/client";
import { useDirectory } from "../../api/directory";
import { useAuth } from "../../auth/AuthContext";
import { Alert, Button, TextField, messageOf } from "../../components/ui";
import { useToasts } from "../../components/Toasts";
import { RecordingControl } from "../../components/RecordingControl";
import { RecordingIndicator } from "../../components/RecordingIndicator";
import { ArchivesSection } from "../archives/ArchivesSection";
import { ConfirmDialog } from "./ConfirmDialog";
import { EditSessionForm } from "./EditSessionForm";
import { Members } from "./Members";
import { StatusBadge } from "./StatusBadge";
import { memberRoleLabel, readAfter, sessionActions, sessionRoleOf } from "./rules";
import { formatDateTime } from "./time";

type Dialog = "end" | "cancel" | null;

/** How often a live session is re-read (its recording state may change from the workspace). */
export const SESSION_REFRESH_MS = 5000;

export function SessionDetail() {
  const { id = "" } = useParams();
  const { user } = useAuth();
  const toasts = useToasts();
  const directory = useDirectory();
  const [session, setSession] = useState<Session | null>(null);
  const [members, setMembers] = useState<Member[]>([]);
  const [loadError, setLoadError] = useState<{ message: string; notFound: boolean } | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [editing, setEditing] = useState(false);
  const [dialog, setDialog] = useState<Dialog>(null);
  const [dialogError, setDialogError] = useState<string | null>(null);
  const [reason, setReason] = useState("");
  const latest = useRef(0);

  const load = useCallback(
    async (minPosition?: number | null) => {
      const mine = ++latest.current;
      const query = readAfter(minPosition);
      try {
        const [s, m] = await Promise.all([
          call(() => http.GET("/v1/sessions/{id}", { params: { path: { id }, query } })),
          call(() => http.GET("/v1/sessions/{id}/members", { params: { path: { id }, query } })),
        ]);
        if (mine !== latest.current) return;
        setSession(s.data);
        setMembers(m.data.items);
        setLoadError(null);
      } catch (err) {
        if (mine !== latest.current) return;
        setLoadError({ message: messageOf(err), notFound: err instanceof ApiError && err.status === 404 });
      }
    },
    [id],
  );

  useEffect(() => {
    setSession(null);
    setLoadError(null);
    void load();
  }, [load]);

  // While live, the session is re-read now and then: recording started or stopped elsewhere
  // shows here too (this page has no event stream).
  const live = session?.status === "live";
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => {
      const mine = latest.current; // a load started meanwhile (after a write) knows better
      call(() => http.GET("/v1/sessions/{id}", { params: { path: { id } } }))
        .then(({ data }) => mine === latest.current && setSession((s) => (s && s.id === data.id ? data : s)))
        .catch(() => {}); // the next tick tries again; the page keeps what it showed
    }, SESSION_REFRESH_MS);
    return () => clearInterval(timer);
  }, [id, live]);

  /** Runs a session write; on success shows the new state (re-reading after a 202). */
  async function write<T>(
    run: () => Promise<{ data?: T; error?: unknown; response: Response }>,
    done: string,
    inDialog = false,
  ): Promise<void> {
    setBusy(true);
    setActionError(null);
    setDialogError(null);
    try {
      const { data, response } = await call(run);
      if (response.status === 200) setSession(data as Session);
      else await load(positionOf(response));
      setDialog(null);
      toasts.push(done, "success");
    } catch (err) {
      if (inDialog) setDialogError(messageOf(err));
      else setActionError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  const startRequest = () => http.POST("/v1/sessions/{id}:start", { params: { path: { id } } });
  const endRequest = () => http.POST("/v1/sessions/{id}:end", { params: { path: { id } } });
  const cancelRequest = () =>
    http.DELETE("/v1/sessions/{id}", {
      params: { path: { id }, query: reason.trim() ? { reason: reason.trim() } : {} },
    });

  if (loadError && !session) {
    return (
      <main className="flex flex-col items-start gap-3 p-6">
        <h1 className="text-xl font-semibold">{loadError.notFound ? "Session not found" : "Session"}</h1>
        <Alert>{loadError.message}</Alert>
        <div className="flex gap-2">
          {!loadError.notFound && (
            <Button variant="secondary" onClick={() => void load()}>
              Try again
            </Button>
          )}
          <Link to="/sessions" className="rounded px-3 py-1.5 text-sm text-sky-300 underline">
            Back to sessions
          </Link>
        </div>
      </main>
    );
  }

  if (!session) {
    return (
      <main className="p-6">
        <p role="status" className="text-slate-300">
          Loading session…
        </p>
      </main>
    );
  }

  const myRole = sessionRoleOf(members, user?.id);
  const may = sessionActions(user?.role, myRole, session.status);
  const linkButton = "inline-flex items-center rounded px-3 py-1.5 text-sm font-medium";

  return (
    <main className="flex flex-col gap-6 p-6">
      <div>
        <Link to="/sessions" className="text-sm text-sky-300 underline">
          ← Sessions
        </Link>
        <div className="mt-2 flex flex-wrap items-center gap-3">
          <h1 className="text-xl font-semibold">{session.title}</h1>
          <StatusBadge status={session.status} />
          <RecordingIndicator active={session.recording === "recording"} />
          {myRole && <span className="text-sm text-slate-300">You are {memberRoleLabel(myRole).toLowerCase()} of this session</span>}
        </div>
      </div>

      <dl className="grid max-w-3xl grid-cols-[max-content_1fr] gap-x-6 gap-y-1 text-sm">
        <dt className="text-slate-400">Procedure</dt>
        <dd>{session.procedure || "—"}</dd>
        <dt className="text-slate-400">Scheduled start</dt>
        <dd>{formatDateTime(session.scheduled_start)}</dd>
        <dt className="text-slate-400">Started</dt>
        <dd>{formatDateTime(session.started_at)}</dd>
        <dt className="text-slate-400">Ended</dt>
        <dd>{formatDateTime(session.ended_at)}</dd>
        {session.status === "cancelled" && (
          <>
            <dt className="text-slate-400">Cancelled</dt>
            <dd>
              {formatDateTime(session.cancelled_at)}
              {session.cancel_reason && <span className="text-slate-300"> — {session.cancel_reason}</span>}
            </dd>
          </>
        )}
        <dt className="text-slate-400">Created</dt>
        <dd>{formatDateTime(session.created_at)}</dd>
      </dl>

      <div className="flex flex-col gap-3">
        {actionError && <Alert>{actionError}</Alert>}
        <div className="flex flex-wrap items-center gap-2" role="group" aria-label="Session actions">
          {may.openWorkspace && (
            <Link to={`/sessions/${session.id}/workspace`} className={`${linkButton} bg-emerald-800 text-white hover:bg-emerald-900`}>
              Open workspace
            </Link>
          )}
          {may.start && (
            <Button disabled={busy} onClick={() => void write(startRequest, "The session is live.")}>
              Start session
            </Button>
          )}
          {may.record && (
            <RecordingControl
              sessionId={session.id}
              active={session.recording === "recording"}
              disabled={busy}
              onDone={(answer) => void load(answer.position)}
            />
          )}
          {may.end && (
            <Button variant="danger" disabled={busy} onClick={() => setDialog("end")}>
              End session
            </Button>
          )}
          {may.edit && !editing && (
            <Button id="edit-details" variant="secondary" disabled={busy} onClick={() => setEditing(true)}>
              Edit details
            </Button>
          )}
          {may.cancel && (
            <Button
              variant="secondary"
              disabled={busy}
              onClick={() => {
                setReason("");
                setDialog("cancel");
              }}
            >
              Cancel session
            </Button>
          )}
          {may.audit && (
            <Link to={`/sessions/${session.id}/audit`} className={`${linkButton} bg-slate-700 text-slate-100 hover:bg-slate-600`}>
              Audit trail
            </Link>
          )}
        </div>
        {editing && (
          <EditSessionForm
            session={session}
            onClose={() => {
              setEditing(false);
              setTimeout(() => document.getElementById("edit-details")?.focus());
            }}
            onSaved={(updated, position) => {
              setEditing(false);
              setTimeout(() => document.getElementById("edit-details")?.focus());
              if (updated) setSession(updated);
              else void load(position);
              toasts.push("Details saved.", "success");
            }}
          />
        )}
      </div>

      <Members
        sessionId={session.id}
        members={members}
        directory={directory}
        canManage={may.manageMembers}
        onChanged={(position) => void load(position)}
      />

      <ArchivesSection sessionId={session.id} watch={session.recording === "recording"} canManage={user?.role === "admin"} />

      {dialog === "end" && (
        <ConfirmDialog
          title="End this session?"
          confirmLabel="End session"
          cancelLabel="Keep it live"
          busy={busy}
          error={dialogError}
          onConfirm={() => void write(endRequest, "The session has ended.", true)}
          onCancel={() => setDialog(null)}
        >
          <p className="text-sm text-slate-300">Everyone in it leaves, and it cannot be started again.</p>
        </ConfirmDialog>
      )}
      {dialog === "cancel" && (
        <ConfirmDialog
          title="Cancel this session?"
          confirmLabel="Cancel session"
          cancelLabel="Keep it"
          busy={busy}
          error={dialogError}
          onConfirm={() => void write(cancelRequest, "The session is cancelled.", true)}
          onCancel={() => setDialog(null)}
        >
          <TextField
            label="Reason (optional)"
            hint="Kept in the audit log: no patient data."
            maxLength={500}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
          />
        </ConfirmDialog>
      )}
    </main>
  );
}
