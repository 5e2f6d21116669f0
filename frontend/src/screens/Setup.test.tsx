import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthProvider } from "../auth/AuthContext";
import { ApiError } from "../api/client";
import { apiError, json } from "../test/http";
import { Setup, setupMessage } from "./Setup";

afterEach(() => vi.unstubAllGlobals());

const ADMIN = {
  id: "00000000-0000-7000-8000-00000000000a",
  username: "chief",
  display_name: "Dr Chief",
  role: "admin",
  active: true,
  registered_at: "2026-12-01T08:00:00Z",
  updated_at: "2026-12-01T08:00:00Z",
};

const TOKENS = {
  access_token: "a",
  token_type: "Bearer",
  expires_in: 900,
  refresh_token: "r",
  refresh_expires_in: 86400,
  user: ADMIN,
};

type Handler = (request: Request) => Response | Promise<Response>;

/** Stubs fetch by "METHOD path"; records the requests. */
function stubServer(routes: Record<string, Handler>) {
  const requests: { key: string; body: unknown }[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const key = `${request.method} ${new URL(request.url).pathname}`;
    const body = request.method === "GET" ? null : await request.clone().json();
    requests.push({ key, body });
    const handler = routes[key];
    return handler ? handler(request) : apiError(404, "not_found", `no route ${key}`);
  });
  vi.stubGlobal("fetch", fetch);
  return requests;
}

function Where() {
  const location = useLocation();
  return <p data-testid="where">{location.pathname}</p>;
}

function renderAt(path: string) {
  render(
    <AuthProvider>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path="/setup" element={<Setup />} />
          <Route path="*" element={<Where />} />
        </Routes>
      </MemoryRouter>
    </AuthProvider>,
  );
}

async function fillIn(password = "correct horse battery", confirm = password) {
  await userEvent.type(screen.getByLabelText("Username"), "chief");
  await userEvent.type(screen.getByLabelText("Display name"), "Dr Chief");
  await userEvent.type(screen.getByLabelText("Password"), password);
  await userEvent.type(screen.getByLabelText("Confirm password"), confirm);
  await userEvent.click(screen.getByRole("button", { name: "Create administrator" }));
}

describe("setupMessage", () => {
  it("tells a used or stale link from a finished setup", () => {
    expect(setupMessage(new ApiError(403, "invalid_setup_token", "no", "r")).blocked).toBe("invalid_link");
    expect(setupMessage(new ApiError(403, "invalid_setup_token", "no", "r")).message).toMatch(/newest setup link/);
    expect(setupMessage(new ApiError(409, "setup_done", "no", "r")).blocked).toBe("setup_done");
    expect(setupMessage(new ApiError(409, "already_exists", "taken", "r")).message).toMatch(/taken/);
    expect(setupMessage(new ApiError(422, "validation_failed", "username: must be 3-64 characters", "r1")).message).toBe(
      "username: must be 3-64 characters (request r1)",
    );
  });
});

describe("Setup", () => {
  it("creates the first admin with the link's token, then signs them in", async () => {
    const requests = stubServer({
      "GET /v1/setup": () => json({ needed: true }),
      "POST /v1/setup": () => json(ADMIN, 201, { "X-Position": "2" }),
      "POST /v1/auth/login": () => json(TOKENS),
    });
    renderAt("/setup?token=abc123");
    await fillIn();
    expect(await screen.findByTestId("where")).toHaveTextContent("/sessions");
    const setup = requests.find((r) => r.key === "POST /v1/setup");
    expect(setup?.body).toEqual({
      token: "abc123",
      username: "chief",
      display_name: "Dr Chief",
      password: "correct horse battery",
    });
    expect(requests.find((r) => r.key === "POST /v1/auth/login")?.body).toEqual({
      username: "chief",
      password: "correct horse battery",
    });
  });

  it("checks the password and its confirmation before sending anything", async () => {
    const requests = stubServer({ "GET /v1/setup": () => json({ needed: true }) });
    renderAt("/setup?token=abc123");
    await fillIn("short");
    expect(screen.getByLabelText("Password")).toHaveAccessibleDescription(/At least 12 characters/);
    expect(screen.getByLabelText("Password")).toHaveAttribute("aria-invalid", "true");
    await userEvent.clear(screen.getByLabelText("Password"));
    await userEvent.type(screen.getByLabelText("Password"), "correct horse battery");
    await userEvent.click(screen.getByRole("button", { name: "Create administrator" }));
    expect(screen.getByLabelText("Confirm password")).toHaveAccessibleDescription("The two passwords differ.");
    expect(requests.filter((r) => r.key === "POST /v1/setup")).toHaveLength(0);
  });

  it("says a used or stale link is not valid and points to the newest one", async () => {
    stubServer({
      "GET /v1/setup": () => json({ needed: true }),
      "POST /v1/setup": () => apiError(403, "invalid_setup_token", "this setup link is not valid"),
    });
    renderAt("/setup?token=old");
    await fillIn();
    expect(await screen.findByRole("alert")).toHaveTextContent(/newest setup link in the server's log/);
    expect(screen.queryByRole("button", { name: "Create administrator" })).toBeNull();
  });

  it("sends a visitor to sign-in when an admin exists already", async () => {
    stubServer({ "GET /v1/setup": () => json({ needed: false }) });
    renderAt("/setup?token=abc123");
    expect(await screen.findByText(/administrator exists already/)).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Go to sign-in" })).toHaveAttribute("href", "/login");
    expect(screen.queryByLabelText("Username")).toBeNull();
  });

  it("says the same when the server answers setup_done to the form", async () => {
    stubServer({
      "GET /v1/setup": () => json({ needed: true }),
      "POST /v1/setup": () => apiError(409, "setup_done", "an admin exists already"),
    });
    renderAt("/setup?token=abc123");
    await fillIn();
    expect(await screen.findByRole("link", { name: "Go to sign-in" })).toBeInTheDocument();
  });

  it("asks for the printed link when the page is opened without a token", async () => {
    stubServer({ "GET /v1/setup": () => json({ needed: true }) });
    renderAt("/setup");
    expect(screen.getByRole("alert")).toHaveTextContent(/setup link printed in the server's log/);
    expect(screen.queryByLabelText("Username")).toBeNull();
  });

  it("keeps the form and shows the server's words for a refused field", async () => {
    stubServer({
      "GET /v1/setup": () => json({ needed: true }),
      "POST /v1/setup": () => apiError(422, "validation_failed", "username: must be 3-64 characters"),
    });
    renderAt("/setup?token=abc123");
    await fillIn();
    expect(await screen.findByRole("alert")).toHaveTextContent("username: must be 3-64 characters");
    expect(screen.getByRole("button", { name: "Create administrator" })).toBeEnabled();
  });
});
