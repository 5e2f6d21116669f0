import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { json } from "../test/http";
import { AuthProvider, CSRF_HEADER, useAuth } from "./AuthContext";

const USER = {
  id: "u1",
  username: "sam",
  display_name: "Sam Surgeon",
  role: "surgeon",
  active: true,
  registered_at: "2026-12-01T08:00:00Z",
  updated_at: "2026-12-01T08:00:00Z",
};
const TOKENS = { access_token: "access-1", token_type: "Bearer", expires_in: 900, refresh_expires_in: 3600, user: USER };

function Probe() {
  const { user, signIn, signOut } = useAuth();
  return (
    <div>
      <output data-testid="who">{user?.username ?? "nobody"}</output>
      <button onClick={() => void signIn("sam", "pw")}>in</button>
      <button onClick={signOut}>out</button>
    </div>
  );
}

function storedAnywhere(): string {
  const all: string[] = [];
  for (const store of [sessionStorage, localStorage]) {
    for (let i = 0; i < store.length; i++) all.push(store.getItem(store.key(i) ?? "") ?? "");
  }
  return all.join("\n");
}

afterEach(() => {
  vi.unstubAllGlobals();
  document.cookie = "livesurgery_signed_in=; max-age=0";
});

describe("AuthProvider", () => {
  it("keeps the access token in memory only and asks for the cookie transport", async () => {
    const fetch = vi.fn(async (request: Request) => (request.url.endsWith("/v1/auth/login") ? json(TOKENS) : json({}, 204)));
    vi.stubGlobal("fetch", fetch);
    render(
      <AuthProvider>
        <Probe />
      </AuthProvider>,
    );
    await userEvent.click(screen.getByRole("button", { name: "in" }));
    await waitFor(() => expect(screen.getByTestId("who")).toHaveTextContent("sam"));
    const login = fetch.mock.calls.map(([r]) => r).find((r) => r.url.endsWith("/v1/auth/login"));
    expect(login?.headers.get(CSRF_HEADER)).toBe("1");
    expect(storedAnywhere()).not.toContain("access-1");
    expect(sessionStorage.length + localStorage.length).toBe(0);

    await userEvent.click(screen.getByRole("button", { name: "out" }));
    expect(screen.getByTestId("who")).toHaveTextContent("nobody");
    const logout = fetch.mock.calls.map(([r]) => r).find((r) => r.url.endsWith("/v1/auth/logout"));
    expect(logout?.headers.get(CSRF_HEADER)).toBe("1");
  });

  it("after a reload, restores the session through the refresh cookie with the CSRF header", async () => {
    document.cookie = "livesurgery_signed_in=1";
    const fetch = vi.fn(async (request: Request) => (request.url.endsWith("/v1/auth/refresh") ? json(TOKENS) : json({})));
    vi.stubGlobal("fetch", fetch);
    render(
      <AuthProvider>
        <Probe />
      </AuthProvider>,
    );
    expect(await screen.findByTestId("who")).toHaveTextContent("sam");
    const refresh = fetch.mock.calls.map(([r]) => r).find((r) => r.url.endsWith("/v1/auth/refresh"));
    expect(refresh?.headers.get(CSRF_HEADER)).toBe("1");
    expect(await refresh?.clone().text()).not.toContain("refresh_token");
  });

  it("without the marker cookie, does not try to restore", async () => {
    const fetch = vi.fn(async () => json({}));
    vi.stubGlobal("fetch", fetch);
    render(
      <AuthProvider>
        <Probe />
      </AuthProvider>,
    );
    expect(screen.getByTestId("who")).toHaveTextContent("nobody");
    expect(fetch).not.toHaveBeenCalled();
  });
});
