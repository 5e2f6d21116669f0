import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Projection, User } from "../../api/client";
import { apiError, directory, ids, json, renderAt, signedInAs, stubApi, user, type Sent } from "../sessions/testing";
import { Admin } from "./Admin";

afterEach(() => vi.unstubAllGlobals());

const projection = (over: Partial<Projection> = {}): Projection => ({
  name: "sessions",
  position: 10,
  lag: 0,
  generation: 1,
  updated_at: "2026-12-02T10:00:00Z",
  rebuilding: false,
  rebuild_position: null,
  ...over,
});

function fakeAdmin(opts: { projections?: (sent: Sent[]) => Response; onPost?: (r: Sent) => Response | undefined } = {}) {
  let users: User[] = [user("admin"), user("observer")];
  const sent: Sent[] = stubApi((r) => {
    if (r.path === "/v1/users/directory") return json({ items: directory });
    if (r.path.startsWith("/v1/admin/projections")) {
      return opts.projections?.(sent) ?? json({ head: 10, items: [projection()] });
    }
    if (r.method === "GET" && r.path === "/v1/users") return json({ items: users, next_cursor: null });
    if (r.method === "POST" && r.path === "/v1/users") {
      const refused = opts.onPost?.(r);
      if (refused) return refused;
      const body = r.body as { username: string; display_name: string; role: User["role"] };
      const created = { ...user(body.role, "new-user"), username: body.username, display_name: body.display_name };
      users = [...users, created];
      return json(created, 201, { "X-Position": "30" });
    }
    const id = r.path.match(/^\/v1\/users\/(.+)$/)?.[1];
    if (r.method === "PATCH" && id) {
      users = users.map((u) => (u.id === id ? { ...u, ...(r.body as Partial<User>) } : u));
      return json(users.find((u) => u.id === id), 200, { "X-Position": "31" });
    }
    return undefined;
  });
  return sent;
}

async function fillUser(username: string, password = "") {
  await userEvent.type(screen.getByLabelText("Username"), username);
  await userEvent.type(screen.getByLabelText("Display name"), "Nora Nurse");
  await userEvent.selectOptions(screen.getByLabelText("Role"), "surgeon");
  if (password) await userEvent.type(screen.getByLabelText("Password"), password);
  await userEvent.click(screen.getByRole("button", { name: "Create user" }));
}

describe("Admin users", () => {
  it("lists users with their role and state", async () => {
    signedInAs(user("admin"));
    fakeAdmin();
    renderAt(<Admin />, "/admin");
    const table = await screen.findByRole("table", { name: "Users" });
    expect(within(table).getByRole("combobox", { name: "Role for observer" })).toHaveValue("observer");
    expect(within(table).getAllByText("Active")).toHaveLength(2);
  });

  it("generates a password when none is given, sends it, and shows it only once", async () => {
    signedInAs(user("admin"));
    const sent = fakeAdmin();
    renderAt(<Admin />, "/admin");
    await screen.findByRole("table", { name: "Users" });
    await fillUser("nora");

    const shown = await screen.findByTestId("generated-password");
    const post = sent.find((r) => r.method === "POST" && r.path === "/v1/users")!;
    expect(post.body).toEqual({ username: "nora", display_name: "Nora Nurse", role: "surgeon", password: shown.textContent });
    expect(shown.textContent!.length).toBeGreaterThanOrEqual(12);
    expect(screen.getByText(/shown only this once/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Copy password" })).toBeInTheDocument();
    // The list re-reads after the write and the directory is refreshed.
    expect(await screen.findByText("nora")).toBeInTheDocument();
    expect(sent.filter((r) => r.path === "/v1/users" && r.method === "GET").at(-1)?.query.get("min_position")).toBe("30");
    await waitFor(() => expect(sent.filter((r) => r.path === "/v1/users/directory").length).toBeGreaterThanOrEqual(1));

    await userEvent.click(screen.getByRole("button", { name: "Done" }));
    expect(screen.queryByTestId("generated-password")).not.toBeInTheDocument();
    expect(document.body.textContent).not.toContain(shown.textContent);
  });

  it("does not show a password the admin typed", async () => {
    signedInAs(user("admin"));
    const sent = fakeAdmin();
    renderAt(<Admin />, "/admin");
    await screen.findByRole("table", { name: "Users" });
    await fillUser("nora", "a-long-enough-password");
    await waitFor(() => expect(sent.some((r) => r.method === "POST")).toBe(true));
    expect((sent.find((r) => r.method === "POST")!.body as { password: string }).password).toBe("a-long-enough-password");
    expect(screen.queryByTestId("generated-password")).not.toBeInTheDocument();
  });

  it("shows the server's refusal to create", async () => {
    signedInAs(user("admin"));
    fakeAdmin({ onPost: () => apiError(409, "username_taken", "the username is taken") });
    renderAt(<Admin />, "/admin");
    await screen.findByRole("table", { name: "Users" });
    await fillUser("observer");
    expect(await screen.findByRole("alert")).toHaveTextContent("the username is taken");
    expect(screen.queryByTestId("generated-password")).not.toBeInTheDocument();
    expect(screen.getByLabelText("Username")).toHaveValue("observer");
  });

  it("checks the username as it is typed, in words, and sends nothing while it is wrong", async () => {
    signedInAs(user("admin"));
    const sent = fakeAdmin();
    renderAt(<Admin />, "/admin");
    const field = await screen.findByLabelText("Username");
    await userEvent.type(field, "Nora Nurse");
    expect(field).toHaveAttribute("aria-invalid", "true");
    expect(field).toHaveAccessibleDescription(/Use lowercase letters only/);
    expect(screen.queryByText(/\[a-z/)).not.toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Display name"), "Nora Nurse");
    await userEvent.click(screen.getByRole("button", { name: "Create user" }));
    expect(sent.filter((r) => r.method === "POST")).toHaveLength(0);
    await userEvent.clear(field);
    await userEvent.type(field, "nora.nurse");
    expect(field).not.toHaveAttribute("aria-invalid");
  });

  it("changes a role and deactivates, each only after confirming", async () => {
    signedInAs(user("admin"));
    const sent = fakeAdmin();
    renderAt(<Admin />, "/admin");
    const roleOf = () => screen.getByRole("combobox", { name: "Role for observer" });
    await userEvent.selectOptions(await screen.findByRole("combobox", { name: "Role for observer" }), "reviewer");
    const confirm = screen.getByRole("dialog", { name: "Make observer reviewer?" });
    expect(sent.filter((r) => r.method === "PATCH")).toHaveLength(0);
    await userEvent.click(within(confirm).getByRole("button", { name: "Back" }));
    expect(roleOf()).toHaveValue("observer");
    expect(sent.filter((r) => r.method === "PATCH")).toHaveLength(0);

    await userEvent.selectOptions(roleOf(), "reviewer");
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Change role" }));
    await waitFor(() => expect(roleOf()).toHaveValue("reviewer"));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(sent.find((r) => r.method === "PATCH")).toMatchObject({ path: `/v1/users/${ids.observer}`, body: { role: "reviewer" } });

    await userEvent.click(screen.getByRole("button", { name: "Deactivate observer" }));
    const dialog = screen.getByRole("dialog", { name: "Deactivate observer?" });
    await userEvent.click(within(dialog).getByRole("button", { name: "Back" }));
    expect(sent.filter((r) => r.method === "PATCH")).toHaveLength(1);

    await userEvent.click(screen.getByRole("button", { name: "Deactivate observer" }));
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Deactivate" }));
    expect(await screen.findByRole("button", { name: "Reactivate observer" })).toBeInTheDocument();
    expect(sent.filter((r) => r.method === "PATCH").at(-1)?.body).toEqual({ active: false });
    expect(screen.getByText("Deactivated")).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Reactivate observer" }));
    expect(await screen.findByRole("button", { name: "Deactivate observer" })).toBeInTheDocument();
    expect(sent.filter((r) => r.method === "PATCH").at(-1)?.body).toEqual({ active: true });
  });
});

describe("Admin projections", () => {
  it("lists projections with position, lag and generation", async () => {
    signedInAs(user("admin"));
    fakeAdmin({
      projections: () => json({ head: 12, items: [projection({ position: 12 }), projection({ name: "audit", position: 9, lag: 3 })] }),
    });
    renderAt(<Admin />, "/admin");
    const table = await screen.findByRole("table", { name: "Projections" });
    const audit = within(table).getByText("audit").closest("tr")!;
    expect(within(audit).getAllByRole("cell").map((c) => c.textContent)).toEqual(["audit", "9", "3", "1", "3 behind", "Rebuild audit"]);
  });

  it("rebuilds: shows the progress while it runs, then says it is done", async () => {
    signedInAs(user("admin"));
    let polls = 0;
    const sent = fakeAdmin({
      projections: (log) => {
        const last = log.at(-1)!;
        if (last.method === "POST") return json({ head: 10, items: [projection({ rebuilding: true })] }, 202);
        if (!log.some((r) => r.method === "POST")) return json({ head: 10, items: [projection()] });
        polls += 1;
        if (polls === 1) return json({ head: 10, items: [projection({ rebuilding: true, rebuild_position: 5 })] });
        return json({ head: 10, items: [projection({ generation: 2 })] });
      },
    });
    renderAt(<Admin />, "/admin");
    await userEvent.click(await screen.findByRole("button", { name: "Rebuild sessions" }));
    expect(sent.find((r) => r.method === "POST")?.path).toBe("/v1/admin/projections/sessions:rebuild");

    const bar = await screen.findByRole("progressbar", { name: "Rebuild progress of sessions" });
    expect(bar).not.toHaveAttribute("value");
    expect(screen.getByRole("button", { name: "Rebuild sessions" })).toBeDisabled();

    expect(await screen.findByText("5 of 10 events (50%)", {}, { timeout: 2500 })).toBeInTheDocument();
    expect(screen.getByRole("progressbar", { name: "Rebuild progress of sessions" })).toHaveAttribute("value", "5");

    expect(await screen.findByText("Rebuilt sessions (generation 2).", {}, { timeout: 2500 })).toBeInTheDocument();
    expect(screen.queryByRole("progressbar")).not.toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Rebuild sessions" })).toBeEnabled();
    // Polling stops once nothing runs.
    const count = sent.length;
    await new Promise((r) => setTimeout(r, 1300));
    expect(sent.length).toBe(count);
  });

  it("re-reads the log head every few seconds while open, and says how fresh it is", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      signedInAs(user("admin"));
      let head = 10;
      fakeAdmin({ projections: () => json({ head, items: [projection({ position: head })] }) });
      renderAt(<Admin />, "/admin");
      expect(await screen.findByText(/Log head: position 10/)).toBeInTheDocument();
      expect(screen.getByTestId("projections-updated")).toHaveTextContent("updated 0 s ago");
      head = 14;
      await act(() => vi.advanceTimersByTimeAsync(3000));
      expect(screen.getByTestId("projections-updated")).toHaveTextContent("updated 3 s ago");
      expect(screen.getByText(/Log head: position 10/)).toBeInTheDocument();
      await act(() => vi.advanceTimersByTimeAsync(2500));
      expect(await screen.findByText(/Log head: position 14/)).toBeInTheDocument();
      expect(screen.getByTestId("projections-updated")).toHaveTextContent("updated 0 s ago");
    } finally {
      vi.useRealTimers();
    }
  });

  it("shows a refused rebuild", async () => {
    signedInAs(user("admin"));
    fakeAdmin({
      projections: (log) =>
        log.at(-1)!.method === "POST"
          ? apiError(409, "rebuild_running", "a rebuild of sessions is running")
          : json({ head: 10, items: [projection()] }),
    });
    renderAt(<Admin />, "/admin");
    await userEvent.click(await screen.findByRole("button", { name: "Rebuild sessions" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("a rebuild of sessions is running");
  });
});
