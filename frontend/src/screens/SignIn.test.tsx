import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthProvider } from "../auth/AuthContext";
import { ApiError } from "../api/client";
import { json } from "../test/http";
import { SignIn, signInMessage } from "./SignIn";

afterEach(() => vi.unstubAllGlobals());

describe("signInMessage", () => {
  it("says plainly that the credentials are wrong", () => {
    expect(signInMessage(new ApiError(401, "invalid_credentials", "wrong username or password", "r1"))).toBe(
      "Wrong username or password.",
    );
  });
  it("tells a deactivated user their account is deactivated, not that the password is wrong", () => {
    expect(signInMessage(new ApiError(401, "user_deactivated", "this user is deactivated", "r1"))).toBe(
      "This account is deactivated. Ask an administrator.",
    );
  });
  it("tells a rate-limited person to wait", () => {
    expect(signInMessage(new ApiError(429, "too_many_attempts", "slow down", null))).toMatch(/wait/i);
  });
  it("names an unreachable server", () => {
    expect(signInMessage(new TypeError("Failed to fetch"))).toMatch(/cannot be reached/);
  });
});

describe("SignIn", () => {
  it("shows the server's refusal as an alert and keeps the form", async () => {
    const fetch = vi.fn(async (request: Request) =>
      request.url.endsWith("/v1/setup")
        ? json({ needed: false })
        : new Response(JSON.stringify({ error: { code: "invalid_credentials", message: "wrong username or password", request_id: "abc" } }), {
            status: 401,
            headers: { "Content-Type": "application/json", "X-Request-Id": "abc" },
          }),
    );
    vi.stubGlobal("fetch", fetch);
    render(
      <AuthProvider>
        <MemoryRouter>
          <SignIn />
        </MemoryRouter>
      </AuthProvider>,
    );
    await userEvent.type(screen.getByLabelText("Username"), "alice");
    await userEvent.type(screen.getByLabelText("Password"), "nope");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Wrong username or password.");
    expect(fetch.mock.calls.filter(([r]) => r.url.endsWith("/v1/auth/login"))).toHaveLength(1);
    expect(screen.queryByText(/First start/)).toBeNull();
    expect(sessionStorage.getItem("livesurgery.auth")).toBeNull();
  });

  it("on first start, points to the setup link in the server's log", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => json({ needed: true })));
    render(
      <AuthProvider>
        <MemoryRouter>
          <SignIn />
        </MemoryRouter>
      </AuthProvider>,
    );
    expect(await screen.findByText(/First start: open the setup link printed in the server's log/)).toBeInTheDocument();
  });

  it("fills in the username of the admin the setup page just created", () => {
    vi.stubGlobal("fetch", vi.fn(async () => json({ needed: false })));
    render(
      <AuthProvider>
        <MemoryRouter initialEntries={[{ pathname: "/login", state: { username: "chief", created: true } }]}>
          <SignIn />
        </MemoryRouter>
      </AuthProvider>,
    );
    expect(screen.getByLabelText("Username")).toHaveValue("chief");
    expect(screen.getByRole("status")).toHaveTextContent("Administrator chief created");
  });
});
