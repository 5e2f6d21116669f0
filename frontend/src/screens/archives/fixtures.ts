// Archives for tests, shaped as the contract says (not used by the app).
import type { Archive } from "../../api/archives";

export const SESSION = "11111111-1111-7111-8111-111111111111";

/** A ready 10-second endoscope archive from 08:00:00 UTC, with `over` on top. */
export function archiveOf(over: Partial<Archive> = {}): Archive {
  return {
    id: "aaaaaaaa-0000-7000-8000-000000000001",
    session_id: SESSION,
    source: "endoscope",
    status: "ready",
    started_at: "2026-12-03T08:00:00.000Z",
    ended_at: "2026-12-03T08:00:10.000Z",
    duration_ms: 10_000,
    bytes: 2_400_000,
    content_type: "video/mp4",
    expires_at: "2027-01-02T08:00:00Z",
    legal_hold: false,
    recording_id: "bbbbbbbb-0000-7000-8000-000000000001",
    segments: 3,
    progress: null,
    ...over,
  };
}
