// Test helpers for the sessions and admin screens: a stubbed API (fetch) that records what the
// screens send, and a signed-in render.
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { vi } from "vitest";
import type { Session, User } from "../../api/client";
import { AuthProvider, holdSignedIn } from "../../auth/AuthContext";
import { ToastProvider } from "../../components/Toasts";
import { apiError, json } from "../../test/http";

export interface Sent {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

export type Route_ = (sent: Sent) => Response | undefined;

export { apiError, json };

/** Stubs fetch; `route` answers each request (undefined: a 404 the test did not expect). */
export function stubApi(route: Route_): Sent[] {
  const sent: Sent[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: Request) => {
      const url = new URL(input.url);
      const text = await input.text();
      const request: Sent = {
        method: input.method,
        path: decodeURIComponent(url.pathname),
        query: url.searchParams,
        body: text ? JSON.parse(text) : undefined,
      };
      sent.push(request);
      return route(request) ?? fallback(request) ?? apiError(404, "not_found", `unexpected ${request.method} ${request.path}`);
    }),
  );
  return sent;
}

/** Answers the screens' side reads a test did not route: a session without archives. */
function fallback(request: Sent): Response | undefined {
  if (request.method === "GET" && /^\/v1\/sessions\/[^/]+\/archives$/.test(request.path)) return json({ items: [], next_cursor: null });
  return undefined;
}

export const ids = {
  admin: "00000000-0000-7000-8000-00000000000a",
  surgeon: "00000000-0000-7000-8000-00000000000b",
  observer: "00000000-0000-7000-8000-00000000000c",
  reviewer: "00000000-0000-7000-8000-00000000000d",
  session: "11111111-1111-7111-8111-111111111111",
};

export function user(role: User["role"], id = ids[role]): User {
  return {
    id,
    username: role === "surgeon" ? "surg" : role,
    display_name: { admin: "Ada Admin", surgeon: "Sam Surgeon", observer: "Olive Observer", reviewer: "Rita Reviewer" }[role],
    role,
    active: true,
    registered_at: "2026-12-01T08:00:00Z",
    updated_at: "2026-12-01T08:00:00Z",
  };
}

export const directory = (["admin", "surgeon", "observer", "reviewer"] as const).map((r) => {
  const u = user(r);
  return { id: u.id, username: u.username, display_name: u.display_name, role: u.role };
});

/** Signs `who` in (as the auth provider holds it, in memory) so screens see `useAuth().user`. */
export function signedInAs(who: User): void {
  holdSignedIn(who);
}

function Where() {
  const location = useLocation();
  return <output data-testid="location">{location.pathname}</output>;
}

/** Renders `element` at `path` (route pattern `pattern`) inside the app's providers. */
export function renderAt(element: ReactElement, path: string, pattern = path) {
  return render(
    <AuthProvider>
      <ToastProvider>
        <MemoryRouter initialEntries={[path]}>
          <Routes>
            <Route path={pattern} element={element} />
            <Route path="*" element={null} />
          </Routes>
          <Where />
        </MemoryRouter>
      </ToastProvider>
    </AuthProvider>,
  );
}

/** A scheduled session of the surgeon's, with `over` on top. */
export function sessionOf(over: Partial<Session> = {}): Session {
  return {
    id: ids.session,
    title: "Lap chole",
    procedure: "Cholecystectomy",
    scheduled_start: "2026-12-03T07:00:00Z",
    status: "scheduled",
    created_by: ids.surgeon,
    created_at: "2026-12-01T08:00:00Z",
    recording: "idle",
    member_count: 1,
    updated_at: "2026-12-01T08:00:00Z",
    ...over,
  };
}
