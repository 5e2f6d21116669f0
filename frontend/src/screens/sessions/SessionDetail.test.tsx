import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Member, Session } from "../../api/client";
import { SessionDetail } from "./SessionDetail";
import { apiError, directory, ids, json, renderAt, sessionOf, signedInAs, stubApi, user, type Sent } from "./testing";

afterEach(() => vi.unstubAllGlobals());

const base: Session = sessionOf();

const host: Member = { user_id: ids.surgeon, role: "host", added_at: "2026-12-01T08:00:00Z" };
const path = `/sessions/${ids.session}`;
const api = `/v1/sessions/${ids.session}`;

/** A small fake server for one session: reads reflect the writes. */
function fakeServer(opts: { session?: Partial<Session>; members?: Member[]; refuse?: (r: Sent) => Response | undefined } = {}) {
  let session: Session = { ...base, ...opts.session };
  let members = [...(opts.members ?? [host])];
  let position = 10;
  const sent = stubApi((r) => {
    const refused = opts.refuse?.(r);
    if (refused) return refused;
    if (r.path === "/v1/users/directory") return json({ items: directory, next_cursor: null });
    if (r.method === "GET" && r.path === api) return json(session);
    if (r.method === "GET" && r.path === `${api}/members`) return json({ items: members });
    if (r.method === "GET" && r.path === `${api}/archives`) return json({ items: [], next_cursor: null });
    const written = { "X-Position": String(++position) };
    if (r.method === "POST" && r.path === `${api}:start`) {
      session = { ...session, status: "live", started_at: "2026-12-03T07:05:00Z" };
      return json(session, 200, written);
    }
    if (r.method === "POST" && r.path === `${api}:end`) {
      session = { ...session, status: "ended", ended_at: "2026-12-03T09:00:00Z" };
      return json(session, 200, written);
    }
    if (r.method === "DELETE" && r.path === api) {
      session = { ...session, status: "cancelled", cancelled_at: "2026-12-02T10:00:00Z", cancel_reason: r.query.get("reason") };
      return json(session, 200, written);
    }
    const member = r.path.match(/\/members\/(.+)$/)?.[1];
    if (member && r.method === "PUT") {
      const role = (r.body as { role: Member["role"] }).role;
      const m = { user_id: member, role, added_at: "2026-12-02T10:00:00Z" };
      members = members.some((x) => x.user_id === member) ? members.map((x) => (x.user_id === member ? m : x)) : [...members, m];
      return json(m, 200, written);
    }
    if (member && r.method === "DELETE") {
      members = members.filter((x) => x.user_id !== member);
      return json(null, 204, written);
    }
    return undefined;
  });
  return { sent, writes: () => sent.filter((r) => r.method !== "GET") };
}

describe("SessionDetail", () => {
  it("shows the details and lets the host start the session", async () => {
    signedInAs(user("surgeon"));
    const { writes } = fakeServer();
    renderAt(<SessionDetail />, path, "/sessions/:id");
    expect(await screen.findByRole("heading", { name: "Lap chole" })).toBeInTheDocument();
    expect(screen.getByTestId("session-status")).toHaveTextContent("Scheduled");
    expect(screen.getByText("Cholecystectomy")).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Open workspace" })).not.toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Audit trail" })).not.toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Start session" }));
    await waitFor(() => expect(screen.getByTestId("session-status")).toHaveTextContent("Live"));
    expect(writes().map((r) => `${r.method} ${r.path}`)).toEqual([`POST ${api}:start`]);
    expect(screen.getByRole("link", { name: "Open workspace" })).toHaveAttribute("href", `${path}/workspace`);
    expect(screen.queryByRole("button", { name: "Start session" })).not.toBeInTheDocument();
  });

  it("asks before ending, and Escape keeps the session live", async () => {
    signedInAs(user("surgeon"));
    const { writes } = fakeServer({ session: { status: "live" } });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    await userEvent.click(await screen.findByRole("button", { name: "End session" }));
    const dialog = screen.getByRole("dialog", { name: "End this session?" });
    expect(within(dialog).getByRole("button", { name: "Keep it live" })).toHaveFocus();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(writes()).toEqual([]);

    await userEvent.click(screen.getByRole("button", { name: "End session" }));
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "End session" }));
    await waitFor(() => expect(screen.getByTestId("session-status")).toHaveTextContent("Ended"));
    expect(writes().map((r) => `${r.method} ${r.path}`)).toEqual([`POST ${api}:end`]);
  });

  it("cancels with a reason", async () => {
    signedInAs(user("admin"));
    const { writes } = fakeServer();
    renderAt(<SessionDetail />, path, "/sessions/:id");
    await userEvent.click(await screen.findByRole("button", { name: "Cancel session" }));
    const dialog = screen.getByRole("dialog", { name: "Cancel this session?" });
    await userEvent.type(within(dialog).getByLabelText("Reason (optional)"), "Patient transferred");
    await userEvent.click(within(dialog).getByRole("button", { name: "Cancel session" }));
    await waitFor(() => expect(screen.getByTestId("session-status")).toHaveTextContent("Cancelled"));
    const [cancel] = writes();
    expect(cancel?.method).toBe("DELETE");
    expect(cancel?.query.get("reason")).toBe("Patient transferred");
    expect(screen.getByText(/Patient transferred/)).toBeInTheDocument();
  });

  it("shows the server's refusal of a transition", async () => {
    signedInAs(user("surgeon"));
    fakeServer({
      refuse: (r) =>
        r.method === "POST" ? apiError(409, "invalid_transition", "cannot start_session while the session is live") : undefined,
    });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    await userEvent.click(await screen.findByRole("button", { name: "Start session" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("cannot start_session while the session is live (request req-1)");
    expect(screen.getByTestId("session-status")).toHaveTextContent("Scheduled");
  });

  it("offers an observer no actions, only the members by name", async () => {
    signedInAs(user("observer"));
    fakeServer({ session: { status: "live" }, members: [host, { user_id: ids.observer, role: "observer", added_at: "2026-12-01T08:00:00Z" }] });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    const table = await screen.findByRole("table", { name: "Members" });
    expect(await within(table).findByText("Sam Surgeon")).toBeInTheDocument();
    for (const name of ["Start session", "End session", "Cancel session", "Edit details", "Add member"]) {
      expect(screen.queryByRole("button", { name })).not.toBeInTheDocument();
    }
    expect(screen.queryByRole("combobox", { name: /Session role for/ })).not.toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Open workspace" })).toBeInTheDocument();
  });

  it("gives a reviewer the audit trail link", async () => {
    signedInAs(user("reviewer"));
    fakeServer({ session: { status: "ended" } });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    expect(await screen.findByRole("link", { name: "Audit trail" })).toHaveAttribute("href", `${path}/audit`);
  });

  it("says when the session does not exist (or may not be seen)", async () => {
    signedInAs(user("observer"));
    stubApi((r) => (r.path === "/v1/users/directory" ? json({ items: directory }) : apiError(404, "not_found", "no such session")));
    renderAt(<SessionDetail />, path, "/sessions/:id");
    expect(await screen.findByRole("heading", { name: "Session not found" })).toBeInTheDocument();
    expect(screen.getByRole("alert")).toHaveTextContent("no such session");
  });

  it("edits details, sending only what changed", async () => {
    signedInAs(user("admin"));
    const sent = stubApi((r) => {
      if (r.path === "/v1/users/directory") return json({ items: directory });
      if (r.path === `${api}/members`) return json({ items: [host] });
      if (r.method === "PATCH") return json({ ...base, title: "Lap chole (2)" }, 200, { "X-Position": "20" });
      return json(base);
    });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    await userEvent.click(await screen.findByRole("button", { name: "Edit details" }));
    const title = screen.getByLabelText("Title");
    await userEvent.clear(title);
    await userEvent.type(title, "Lap chole (2)");
    await userEvent.click(screen.getByRole("button", { name: "Save changes" }));
    expect(await screen.findByRole("heading", { name: "Lap chole (2)" })).toBeInTheDocument();
    expect(sent.find((r) => r.method === "PATCH")?.body).toEqual({ title: "Lap chole (2)" });
  });
});

describe("Members", () => {
  it("adds a member with a session role, and re-reads after the write", async () => {
    signedInAs(user("surgeon"));
    const { sent, writes } = fakeServer();
    renderAt(<SessionDetail />, path, "/sessions/:id");
    const userSelect = await screen.findByLabelText("User");
    // The host is a member already: not offered.
    expect(within(userSelect).queryByRole("option", { name: "Sam Surgeon (surg)" })).not.toBeInTheDocument();
    await userEvent.selectOptions(userSelect, "Olive Observer (observer)");
    await userEvent.selectOptions(screen.getByLabelText("Session role"), "surgeon");
    await userEvent.click(screen.getByRole("button", { name: "Add member" }));
    // Olive is an observer in the organisation: a warning first, then the write.
    const warning = screen.getByRole("dialog", { name: "Make Olive Observer session surgeon?" });
    expect(warning).toHaveTextContent("They are an observer in the organisation");
    expect(writes()).toHaveLength(0);
    await userEvent.click(within(warning).getByRole("button", { name: "Make surgeon" }));

    const table = screen.getByRole("table", { name: "Members" });
    expect(await within(table).findByText("Olive Observer")).toBeInTheDocument();
    expect(screen.getByRole("combobox", { name: "Session role for Olive Observer" })).toHaveValue("surgeon");
    const [put] = writes();
    expect(put?.method).toBe("PUT");
    expect(put?.path).toBe(`${api}/members/${ids.observer}`);
    expect(put?.body).toEqual({ role: "surgeon" });
    // The re-read waits for the write's position, so the new member is there at once.
    const reread = sent.filter((r) => r.method === "GET" && r.path === `${api}/members`).at(-1);
    expect(reread?.query.get("min_position")).toBe("11");
  });

  it("changes a member's role and removes a member after confirming", async () => {
    signedInAs(user("surgeon"));
    const { writes } = fakeServer({ members: [host, { user_id: ids.observer, role: "observer", added_at: "2026-12-01T08:00:00Z" }] });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    const role = await screen.findByRole("combobox", { name: "Session role for Olive Observer" });
    await userEvent.selectOptions(role, "host");
    const warning = screen.getByRole("dialog", { name: "Make Olive Observer session host?" });
    await userEvent.click(within(warning).getByRole("button", { name: "Back" }));
    expect(writes()).toHaveLength(0);
    expect(role).toHaveValue("observer");
    await userEvent.selectOptions(role, "host");
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Make host" }));
    await waitFor(() => expect(writes()).toHaveLength(1));
    expect(writes()[0]).toMatchObject({ method: "PUT", path: `${api}/members/${ids.observer}`, body: { role: "host" } });
    await waitFor(() => expect(screen.getByRole("combobox", { name: "Session role for Olive Observer" })).toHaveValue("host"));

    await userEvent.click(screen.getByRole("button", { name: "Remove Olive Observer" }));
    await userEvent.click(within(screen.getByRole("dialog", { name: "Remove Olive Observer?" })).getByRole("button", { name: "Remove member" }));
    await waitFor(() => expect(screen.queryByText("Olive Observer")).not.toBeInTheDocument());
    expect(writes()[1]).toMatchObject({ method: "DELETE", path: `${api}/members/${ids.observer}` });
  });

  it("shows why the last host cannot be changed, and keeps the role", async () => {
    signedInAs(user("surgeon"));
    fakeServer({
      refuse: (r) => (r.method === "PUT" ? apiError(409, "last_host", "a session must keep at least one host") : undefined),
    });
    renderAt(<SessionDetail />, path, "/sessions/:id");
    const role = await screen.findByRole("combobox", { name: "Session role for Sam Surgeon" });
    await userEvent.selectOptions(role, "observer");
    expect(await screen.findByRole("alert")).toHaveTextContent("a session must keep at least one host");
    expect(screen.getByRole("combobox", { name: "Session role for Sam Surgeon" })).toHaveValue("host");
  });
});
