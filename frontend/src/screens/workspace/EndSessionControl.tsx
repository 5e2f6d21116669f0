// The host ends the session from the workspace (no need to leave, and cut the feed, first).
import { useState } from "react";
import { call, http } from "../../api/client";
import { Button, messageOf } from "../../components/ui";
import { ConfirmDialog } from "../sessions/ConfirmDialog";

export function EndSessionControl({ sessionId, onEnded }: { sessionId: string; onEnded(): void }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function end() {
    setBusy(true);
    setError(null);
    try {
      await call(() => http.POST("/v1/sessions/{id}:end", { params: { path: { id: sessionId } } }));
      setOpen(false);
      onEnded();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <Button variant="danger" onClick={() => setOpen(true)}>
        End session
      </Button>
      {open && (
        <ConfirmDialog
          title="End this session?"
          confirmLabel="End session"
          cancelLabel="Keep it live"
          busy={busy}
          error={error}
          onConfirm={() => void end()}
          onCancel={() => setOpen(false)}
        >
          <p className="text-sm text-slate-300">Everyone in it leaves, every feed stops, and it cannot be started again.</p>
        </ConfirmDialog>
      )}
    </>
  );
}
