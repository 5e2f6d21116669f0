// Start / Stop recording (REST: POST /v1/sessions/{id}/recordings:start|stop). The button
// follows `active`, which comes from the server (pushed events or a re-read); between the
// server's answer and that news it says what it is waiting for. Refusals are toasts with the
// server's message.
import { useEffect, useState } from "react";
import { startRecording, stopRecording, type RecordingAnswer } from "../api/archives";
import { useToasts } from "./Toasts";
import { Button, messageOf } from "./ui";

/** How long to wait for the server's news of the change before showing `active` again. */
export const CONFIRM_TIMEOUT_MS = 10_000;

export function RecordingControl({
  sessionId,
  active,
  disabled = false,
  onDone,
}: {
  sessionId: string;
  /** Whether the session is being recorded, as the server last said. */
  active: boolean;
  disabled?: boolean;
  /** After the server accepted the change (e.g. to re-read the session at `answer.position`). */
  onDone?: (answer: RecordingAnswer) => void;
}) {
  const { push } = useToasts();
  const [busy, setBusy] = useState(false);
  // The state the server accepted and `active` does not show yet.
  const [awaiting, setAwaiting] = useState<boolean | null>(null);

  useEffect(() => {
    if (awaiting === null) return;
    if (awaiting === active) {
      setAwaiting(null);
      return;
    }
    const timer = setTimeout(() => setAwaiting(null), CONFIRM_TIMEOUT_MS);
    return () => clearTimeout(timer);
  }, [awaiting, active]);

  async function toggle() {
    const start = !active;
    setBusy(true);
    try {
      const answer = await (start ? startRecording(sessionId) : stopRecording(sessionId));
      setAwaiting(start);
      onDone?.(answer);
    } catch (err) {
      push(`${start ? "Recording not started" : "Recording not stopped"}: ${messageOf(err)}`, "error");
    } finally {
      setBusy(false);
    }
  }

  if (awaiting !== null && awaiting !== active) {
    return (
      <Button variant={awaiting ? "danger" : "secondary"} disabled aria-busy="true">
        {awaiting ? "Starting recording…" : "Stopping recording…"}
      </Button>
    );
  }
  return (
    <Button
      variant={active ? "secondary" : "danger"}
      disabled={disabled || busy}
      aria-busy={busy || undefined}
      onClick={() => void toggle()}
    >
      {active ? "Stop recording" : "Start recording"}
    </Button>
  );
}
