import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Session } from "../../api/client";
import { SessionList } from "./SessionList";
import { localInputToRfc3339 } from "./time";
import { apiError, json, renderAt, sessionOf, signedInAs, stubApi, user } from "./testing";

afterEach(() => vi.unstubAllGlobals());

function session(over: Partial<Session>): Session {
  return sessionOf({ member_count: 2, ...over });
}

const four = [
  session({ id: "s-live", title: "Knee arthroscopy", status: "live", started_at: "2026-12-02T09:00:00Z" }),
  session({ id: "s-sched", title: "Lap chole", status: "scheduled" }),
  session({ id: "s-ended", title: "Hip revision", status: "ended", ended_at: "2026-12-01T12:00:00Z" }),
  session({ id: "s-canc", title: "Appendectomy", status: "cancelled", member_count: 1 }),
];

describe("SessionList", () => {
  it("lists sessions with their status, members and a link to each", async () => {
    signedInAs(user("surgeon"));
    stubApi((r) => (r.method === "GET" && r.path === "/v1/sessions" ? json({ items: four, next_cursor: null }) : undefined));
    renderAt(<SessionList />, "/sessions");
    const table = await screen.findByRole("table", { name: "Sessions" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((r) => within(r).getByTestId("session-status").textContent)).toEqual(["Live", "Scheduled", "Ended", "Cancelled"]);
    expect(within(table).getByRole("link", { name: "Knee arthroscopy" })).toHaveAttribute("href", "/sessions/s-live");
    expect(within(rows[3]!).getAllByRole("cell").at(-1)).toHaveTextContent("1");
  });

  it("filters by status and pages with Load more", async () => {
    signedInAs(user("reviewer"));
    const sent = stubApi((r) => {
      if (r.path !== "/v1/sessions") return undefined;
      if (r.query.get("cursor") === "c2") return json({ items: [four[2]], next_cursor: null });
      if (r.query.get("status") === "live") return json({ items: [four[0]], next_cursor: "c2" });
      return json({ items: four.slice(0, 2), next_cursor: null });
    });
    renderAt(<SessionList />, "/sessions");
    await screen.findByRole("link", { name: "Lap chole" });
    expect(screen.queryByRole("button", { name: "New session" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();

    await userEvent.selectOptions(screen.getByLabelText("Status"), "live");
    await screen.findByRole("button", { name: "Load more" });
    expect(screen.queryByRole("link", { name: "Lap chole" })).not.toBeInTheDocument();
    expect(sent.at(-1)!.query.get("status")).toBe("live");

    await userEvent.click(screen.getByRole("button", { name: "Load more" }));
    await screen.findByRole("link", { name: "Hip revision" });
    expect(screen.getByRole("link", { name: "Knee arthroscopy" })).toBeInTheDocument();
    expect(sent.at(-1)!.query.get("cursor")).toBe("c2");
    expect(sent.at(-1)!.query.get("status")).toBe("live");
    expect(screen.queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();
  });

  it("says so when there are no sessions", async () => {
    signedInAs(user("observer"));
    stubApi(() => json({ items: [], next_cursor: null }));
    renderAt(<SessionList />, "/sessions");
    expect(await screen.findByText("No sessions yet.")).toBeInTheDocument();
  });

  it("shows the server's refusal to list", async () => {
    signedInAs(user("observer"));
    stubApi(() => apiError(503, "not_caught_up", "the read models are behind"));
    renderAt(<SessionList />, "/sessions");
    expect(await screen.findByRole("alert")).toHaveTextContent("the read models are behind (request req-1)");
  });

  it("creates a session with the right body and opens it", async () => {
    signedInAs(user("surgeon"));
    const sent = stubApi((r) => {
      if (r.method === "GET") return json({ items: [], next_cursor: null });
      if (r.method === "POST" && r.path === "/v1/sessions") {
        return json(session({ id: "new-id", title: "Whipple" }), 201, { "X-Position": "9", Location: "/v1/sessions/new-id" });
      }
      return undefined;
    });
    renderAt(<SessionList />, "/sessions");
    await userEvent.click(await screen.findByRole("button", { name: "New session" }));
    await userEvent.type(screen.getByLabelText("Title"), "Whipple");
    await userEvent.type(screen.getByLabelText("Procedure"), "Pancreaticoduodenectomy");
    await userEvent.type(screen.getByLabelText("Scheduled start"), "2026-12-03T08:00");
    await userEvent.click(screen.getByRole("button", { name: "Create session" }));
    expect(await screen.findByTestId("location")).toHaveTextContent("/sessions/new-id");
    const post = sent.find((r) => r.method === "POST")!;
    expect(post.body).toEqual({
      title: "Whipple",
      procedure: "Pancreaticoduodenectomy",
      scheduled_start: localInputToRfc3339("2026-12-03T08:00"),
    });
  });

  it("shows a validation error and keeps the form", async () => {
    signedInAs(user("admin"));
    const sent = stubApi((r) =>
      r.method === "GET"
        ? json({ items: [], next_cursor: null })
        : apiError(422, "validation_failed", "invalid title: must be 1-200 characters, not blank"),
    );
    renderAt(<SessionList />, "/sessions");
    await userEvent.click(await screen.findByRole("button", { name: "New session" }));
    // Blank: caught before sending.
    await userEvent.click(screen.getByRole("button", { name: "Create session" }));
    expect(screen.getByText("Enter a title.")).toBeInTheDocument();
    expect(sent.some((r) => r.method === "POST")).toBe(false);

    await userEvent.type(screen.getByLabelText("Title"), "x");
    await userEvent.click(screen.getByRole("button", { name: "Create session" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("invalid title: must be 1-200 characters, not blank");
    expect(screen.getByLabelText("Title")).toHaveValue("x");
    expect(screen.getByTestId("location")).toHaveTextContent(/^\/sessions$/);
  });

  it("closes the form with Escape and gives focus back to New session", async () => {
    signedInAs(user("surgeon"));
    stubApi(() => json({ items: [], next_cursor: null }));
    renderAt(<SessionList />, "/sessions");
    const toggle = await screen.findByRole("button", { name: "New session" });
    await userEvent.click(toggle);
    expect(toggle).toHaveAttribute("aria-expanded", "true");
    expect(screen.getByLabelText("Title")).toHaveFocus();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("button", { name: "Create session" })).not.toBeInTheDocument();
    expect(toggle).toHaveFocus();
    expect(toggle).toHaveAttribute("aria-expanded", "false");
  });

  it("re-reads the list after a create the server accepted but does not show yet", async () => {
    signedInAs(user("surgeon"));
    const sent = stubApi((r) => {
      if (r.method === "POST") return json({ position: 12, message: "not yet" }, 202, { "X-Position": "12" });
      return json({ items: r.query.get("min_position") === "12" ? [session({ title: "Whipple" })] : [], next_cursor: null });
    });
    renderAt(<SessionList />, "/sessions");
    await userEvent.click(await screen.findByRole("button", { name: "New session" }));
    await userEvent.type(screen.getByLabelText("Title"), "Whipple");
    await userEvent.click(screen.getByRole("button", { name: "Create session" }));
    expect(await screen.findByRole("link", { name: "Whipple" })).toBeInTheDocument();
    expect(sent.at(-1)!.query.get("min_position")).toBe("12");
  });
});
