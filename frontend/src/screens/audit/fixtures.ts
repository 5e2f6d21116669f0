// Test data shared by the audit tests (not used by the app).
import type { AuditEvent } from "../../api/client";

export const SESSION = "01a23545-70fa-72a0-9515-e56232dd9beb";
export const ALICE = "01a23545-6ed9-7267-a8de-ad17e17bb60b";
export const BOB = "01a23545-6f20-71dd-8042-a36c0da9ee87";
export const names: Record<string, string> = { [ALICE]: "Dr Alice", [BOB]: "Bob" };

export function event(type: string, data: unknown, extra: Partial<AuditEvent> = {}): AuditEvent {
  return {
    position: 1,
    recorded_at: "2026-12-02T05:41:13.303163Z",
    type,
    actor_user_id: ALICE,
    actor_role: "surgeon",
    participant_id: null,
    session_id: SESSION,
    stream: `session-${SESSION}`,
    outcome: "ok",
    correlation_id: "01a23545-71d2-73a8-a182-a166589c4a3d",
    data: data as AuditEvent["data"],
    ...extra,
  };
}
