import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Audit } from "./Audit";
import { ALICE, BOB, SESSION, event } from "./fixtures";

/** A deactivated user whose id shares its first characters with Alice's and Bob's. */
const CAROL = "01a23545-7000-7267-a8de-ad17e17bb60c";
import { json } from "../../test/http";

const panels = (p1x: number) => [
  { id: "p1", x: p1x, y: 0, w: 6, h: 6, z: 0, source_id: null },
  { id: "p2", x: 6, y: 0, w: 6, h: 6, z: 0, source_id: "endoscope" },
];

const trail = [
  event("SessionCreated", { session_id: SESSION, title: "Lap chole", procedure: null, scheduled_start: null, created_by: ALICE },
    { position: 4, recorded_at: "2026-12-02T05:41:13.085081Z" }),
  event("SessionStarted", { session_id: SESSION }, { position: 7, recorded_at: "2026-12-02T05:41:13.277098Z" }),
  event("ParticipantJoined", { session_id: SESSION, participant_id: "pa", user_id: ALICE, role: "host", device: "OR tablet" },
    { position: 8, recorded_at: "2026-12-02T05:41:20.303163Z" }),
  event("LayoutUpdated", {
    session_id: SESSION, version: 2, base_version: 1, changes: [{ panel_id: "p1", field: "x", value: 6 }], conflicts: [],
    panels: panels(6), changed_by: { user_id: ALICE, role: "surgeon", participant_id: "pa" },
  }, { position: 9, recorded_at: "2026-12-02T05:41:30.348487Z" }),
  event("AccessDenied", {
    user_id: BOB, session_id: SESSION, action: "update_layout", method: "PATCH", route: "/v1/sessions/{id}/layout",
    status: 403, reason: "reviewers never join or change a session",
  }, { position: 10, recorded_at: "2026-12-02T05:41:40.371624Z", actor_user_id: BOB, actor_role: "reviewer", outcome: "denied", stream: `access-${BOB}` }),
  event("PublisherConnected", { session_id: SESSION, resource_id: "r1", participant_id: "pa", user_id: ALICE, source: "endoscope" },
    { position: 11, recorded_at: "2026-12-02T05:41:50.000000Z" }),
];

const replayed = {
  session_id: SESSION, status: "live", title: "Lap chole", procedure: null, scheduled_start: null,
  members: [{ user_id: ALICE, role: "host" }],
  participants: [{ participant_id: "pa", user_id: ALICE, role: "host", device: "OR tablet", joined_at: "2026-12-02T05:41:20.303163Z" }],
  layout: { version: 2, panels: panels(6) },
  sources: { p1: null, p2: "endoscope" },
  recording: { state: "idle", recording_id: null },
  media: { sources: [{ source: "endoscope", resource_id: "r1", user_id: ALICE, tracks: [{ kind: "video", codec: "vp8", mid: "0" }] }], subscribers: [] },
  at: null, last_position: 11, last_version: 7, last_recorded_at: "2026-12-02T05:41:50.000000Z",
};


type Handler = (url: URL, request: Request) => Response | Promise<Response>;

/** A fake server: answers by method and path, records every request. */
function serve(overrides: Record<string, Handler> = {}) {
  const requests: { method: string; url: URL }[] = [];
  const routes: Record<string, Handler> = {
    "GET /v1/users/directory": () =>
      json({ items: [
        { id: ALICE, username: "alice", display_name: "Dr Alice", role: "surgeon", active: true },
        { id: BOB, username: "bob", display_name: "Bob Reviewer", role: "reviewer", active: true },
        { id: CAROL, username: "carol", display_name: "Carol Gone", role: "surgeon", active: false },
      ], next_cursor: null }),
    [`GET /v1/sessions/${SESSION}`]: () =>
      json({ id: SESSION, title: "Lap chole", status: "live", created_by: ALICE, created_at: "2026-12-02T05:41:13Z", recording: "idle", member_count: 1, updated_at: "2026-12-02T05:41:13Z" }),
    [`GET /v1/sessions/${SESSION}/events`]: () => json({ items: trail, next_cursor: null }),
    [`GET /v1/sessions/${SESSION}/state`]: () => json(replayed),
    [`GET /v1/sessions/${SESSION}/archives`]: () => json({ items: [], next_cursor: null }),
    ...overrides,
  };
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url);
    requests.push({ method: request.method, url });
    const handler = routes[`${request.method} ${url.pathname}`];
    return handler ? handler(url, request) : json({ error: { code: "not_found", message: "no route", request_id: "x" } }, 404);
  });
  vi.stubGlobal("fetch", fetch);
  const of = (method: string, path: string) => requests.filter((r) => r.method === method && r.url.pathname === path);
  return { requests, of };
}

/** Where the router stands, for asserting the URL the screen puts its filters in. */
function Location() {
  const location = useLocation();
  return <output data-testid="location">{location.pathname + location.search}</output>;
}

function renderAt(path: string) {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <Routes>
        <Route path="/audit" element={<Audit />} />
        <Route path="/sessions/:id/audit" element={<Audit />} />
      </Routes>
      <Location />
    </MemoryRouter>,
  );
}

const statePath = `/v1/sessions/${SESSION}/state`;

afterEach(() => vi.unstubAllGlobals());

async function loaded() {
  const list = await screen.findByRole("list", { name: "Audit timeline" });
  return list;
}

describe("Audit of one session", () => {
  it("shows the trail in log order with who, what, outcome and a summary", async () => {
    serve();
    renderAt(`/sessions/${SESSION}/audit`);
    const list = await loaded();
    const items = within(list).getAllByTestId("audit-item");
    expect(items.map((i) => i.dataset.type)).toEqual([
      "SessionCreated", "SessionStarted", "ParticipantJoined", "LayoutUpdated", "AccessDenied", "PublisherConnected",
    ]);
    expect(items.map((i) => Number(i.dataset.position))).toEqual([4, 7, 8, 9, 10, 11]);
    const layout = items[3]!;
    expect(layout).toHaveTextContent("Layout updated");
    expect(layout).toHaveTextContent("moved panel p1 to 6,0");
    await waitFor(() => expect(layout).toHaveTextContent("Dr Alice (alice) (surgeon)"));
    expect(items[2]).toHaveTextContent("joined as host from OR tablet");
    expect(items[5]).toHaveTextContent("published endoscope");
    const denied = items[4]!;
    expect(denied).toHaveTextContent("Access denied");
    expect(denied).toHaveTextContent("denied");
    expect(denied).toHaveTextContent("Bob Reviewer (bob) (reviewer)");
    expect(denied).toHaveTextContent("refused update layout");
    // The raw data is one click away.
    const details = within(layout).getByText("Details").closest("details")!;
    expect(details).not.toHaveAttribute("open");
    expect(details).toHaveTextContent('"base_version": 1');
    expect(await screen.findByRole("heading", { name: "Audit: Lap chole" })).toBeInTheDocument();
  });

  it("sends the filters as query parameters, and Clear drops them", async () => {
    const server = serve();
    renderAt(`/sessions/${SESSION}/audit`);
    await loaded();
    const eventsPath = `/v1/sessions/${SESSION}/events`;
    expect(server.of("GET", eventsPath)).toHaveLength(1);
    await waitFor(() => expect(screen.getByRole("option", { name: "Dr Alice (alice)" })).toBeInTheDocument());
    await userEvent.selectOptions(screen.getByLabelText("Actor"), "Dr Alice (alice)");
    await userEvent.selectOptions(screen.getByLabelText(/Event types/), ["Layout updated", "Access denied"]);
    await userEvent.selectOptions(screen.getByLabelText("Outcome"), "Accepted");
    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-12-02T06:00" } });
    fireEvent.change(screen.getByLabelText("To"), { target: { value: "2026-12-02T07:30:15" } });
    await userEvent.click(screen.getByRole("button", { name: "Apply" }));
    await waitFor(() => expect(server.of("GET", eventsPath)).toHaveLength(2));
    const query = server.of("GET", eventsPath)[1]!.url.searchParams;
    expect(Object.fromEntries(query)).toEqual({
      actor: ALICE,
      type: "AccessDenied,LayoutUpdated",
      outcome: "ok",
      from: new Date(2026, 11, 2, 6, 0).toISOString(),
      to: new Date(2026, 11, 2, 7, 30, 15).toISOString(),
      limit: "200",
    });

    await userEvent.click(screen.getByRole("button", { name: "Clear" }));
    await waitFor(() => expect(server.of("GET", eventsPath)).toHaveLength(3));
    expect(Object.fromEntries(server.of("GET", eventsPath)[2]!.url.searchParams)).toEqual({ limit: "200" });
    expect(screen.getByLabelText(/Event types/)).toHaveValue([]);
  });

  it("keeps the filters in the URL, and reads them back from a shared link", async () => {
    const server = serve();
    const eventsPath = `/v1/sessions/${SESSION}/events`;
    const { unmount } = renderAt(`/sessions/${SESSION}/audit`);
    await loaded();
    await userEvent.selectOptions(screen.getByLabelText(/Event types/), ["Member added", "Member removed"]);
    await userEvent.selectOptions(screen.getByLabelText("Outcome"), "Denied");
    await userEvent.click(screen.getByRole("button", { name: "Apply" }));
    await waitFor(() => expect(server.of("GET", eventsPath)).toHaveLength(2));
    const url = screen.getByTestId("location").textContent!;
    expect(url).toBe(`/sessions/${SESSION}/audit?type=MemberAdded%2CMemberRemoved&outcome=denied`);
    unmount();

    // The link, opened anew: the same query, the same form.
    renderAt(url);
    await loaded();
    await waitFor(() => expect(server.of("GET", eventsPath)).toHaveLength(3));
    expect(server.of("GET", eventsPath)[2]!.url.searchParams.get("type")).toBe("MemberAdded,MemberRemoved");
    expect(server.of("GET", eventsPath)[2]!.url.searchParams.get("outcome")).toBe("denied");
    expect(screen.getByLabelText(/Event types/)).toHaveValue(["MemberAdded", "MemberRemoved"]);
    expect(screen.getByLabelText("Outcome")).toHaveValue("denied");
  });

  it("names users by display name and username, keeping deactivated users' names", async () => {
    serve({
      [`GET /v1/sessions/${SESSION}/events`]: () =>
        json({ items: [
          event("UserDeactivated", { user_id: CAROL }, { position: 3, stream: `user-${CAROL}`, actor_role: "admin" }),
          event("MemberAdded", { session_id: SESSION, user_id: BOB, role: "observer" }, { position: 5 }),
        ], next_cursor: null }),
    });
    renderAt(`/sessions/${SESSION}/audit`);
    const items = within(await loaded()).getAllByTestId("audit-item");
    await waitFor(() => expect(items[0]).toHaveTextContent("deactivated Carol Gone (carol, deactivated)"));
    expect(items[1]).toHaveTextContent("added Bob Reviewer (bob) as observer");
  });

  it("folds a run of quality samples into one row that opens to list them", async () => {
    const sample = (position: number) =>
      event("MediaQualitySampled", {
        session_id: SESSION, source: "endoscope", kind: "video", bitrate_bps: 2_000_000, packets: 100, packets_lost: 0,
        rtt_ms: 20, user_id: ALICE, participant_id: "pa", resource_id: "r1", window_ms: 5000,
      }, { position, recorded_at: `2026-12-02T05:42:${String(position).padStart(2, "0")}.000000Z` });
    serve({
      [`GET /v1/sessions/${SESSION}/events`]: () =>
        json({ items: [trail[0], ...Array.from({ length: 12 }, (_, i) => sample(20 + i)), trail[1], sample(40)], next_cursor: null }),
    });
    renderAt(`/sessions/${SESSION}/audit`);
    const list = await loaded();
    const fold = within(list).getByTestId("audit-fold");
    expect(fold).toHaveTextContent("12 quality samples");
    const details = fold.querySelector("details")!;
    expect(details).not.toHaveAttribute("open");
    // Top-level rows: created, the fold, started, and a lone sample that is not folded.
    const top = [...list.children].map((li) => (li as HTMLElement).dataset.type ?? "fold");
    expect(top).toEqual(["SessionCreated", "fold", "SessionStarted", "MediaQualitySampled"]);
    await userEvent.click(within(fold).getByText(/12 quality samples/));
    expect(details).toHaveAttribute("open");
    expect(within(fold).getAllByTestId("audit-item")).toHaveLength(12);
    expect(within(fold).getAllByTestId("audit-item")[0]).toHaveTextContent("endoscope video: 2.0 Mbit/s");
  });

  it("does not send a time range that ends before it starts", async () => {
    const server = serve();
    renderAt(`/sessions/${SESSION}/audit`);
    await loaded();
    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-12-02T08:00" } });
    fireEvent.change(screen.getByLabelText("To"), { target: { value: "2026-12-02T07:00" } });
    await userEvent.click(screen.getByRole("button", { name: "Apply" }));
    expect(screen.getByText(/must be before/)).toBeInTheDocument();
    expect(server.of("GET", `/v1/sessions/${SESSION}/events`)).toHaveLength(1);
  });

  it("loads further pages with the cursor", async () => {
    const server = serve({
      [`GET /v1/sessions/${SESSION}/events`]: (url) =>
        url.searchParams.get("cursor") === "9"
          ? json({ items: trail.slice(3), next_cursor: null })
          : json({ items: trail.slice(0, 3), next_cursor: "9" }),
    });
    renderAt(`/sessions/${SESSION}/audit`);
    const list = await loaded();
    expect(within(list).getAllByTestId("audit-item")).toHaveLength(3);
    await userEvent.click(screen.getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(within(list).getAllByTestId("audit-item")).toHaveLength(6));
    expect(server.of("GET", `/v1/sessions/${SESSION}/events`)[1]!.url.searchParams.get("cursor")).toBe("9");
    expect(screen.queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();
  });

  it("shows the server's refusal plainly", async () => {
    serve({
      [`GET /v1/sessions/${SESSION}/events`]: () =>
        json({ error: { code: "not_found", message: "no such session", request_id: "req-1" } }, 404),
    });
    renderAt(`/sessions/${SESSION}/audit`);
    // The server's words, once client.ts keeps the error body openapi-fetch has read (see report).
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent(/^Could not load the audit trail: (no such session|HTTP 404) \(request req-1\)$/);
    expect(screen.queryByRole("list", { name: "Audit timeline" })).not.toBeInTheDocument();
  });

  it("replays the session at the chosen time and draws its layout", async () => {
    const server = serve();
    renderAt(`/sessions/${SESSION}/audit`);
    await loaded();
    // It starts on the last event, with that event's exact time.
    await waitFor(() => expect(server.of("GET", statePath)).toHaveLength(1));
    expect(server.of("GET", statePath)[0]!.url.searchParams.get("at")).toBe("2026-12-02T05:41:50.000000Z");
    const grid = await screen.findByTestId("replay-layout");
    const boxes = within(grid).getAllByTestId("replay-panel");
    expect(boxes.map((b) => b.dataset.panelId)).toEqual(["p1", "p2"]);
    expect(boxes[0]).toHaveStyle({ left: "50%", top: "0%", width: "50%", height: "50%" });
    expect(boxes[1]).toHaveTextContent("endoscope");
    expect(screen.getByRole("list", { name: "Participants present" })).toHaveTextContent("Dr Alice (alice) (host) · OR tablet");
    expect(screen.getByTestId("replay-position")).toHaveTextContent("Reflects log position 11");
    expect(screen.getByRole("list", { name: "Published media" })).toHaveTextContent("endoscope");
    expect(screen.getByRole("button", { name: "Next event" })).toBeDisabled();

    // Dragging the slider asks once, for where it stopped.
    const slider = screen.getByRole("slider", { name: "Replay time" });
    const t1 = new Date("2026-12-02T05:41:25.100Z").getTime();
    const t2 = new Date("2026-12-02T05:41:26.200Z").getTime();
    fireEvent.change(slider, { target: { value: String(t1) } });
    fireEvent.change(slider, { target: { value: String(t2) } });
    await waitFor(() => expect(server.of("GET", statePath)).toHaveLength(2));
    expect(server.of("GET", statePath)[1]!.url.searchParams.get("at")).toBe("2026-12-02T05:41:26.200999Z");
    await new Promise((r) => setTimeout(r, 400));
    expect(server.of("GET", statePath)).toHaveLength(2);

    // The step buttons land on event times.
    await userEvent.click(screen.getByRole("button", { name: "Previous event" }));
    await waitFor(() => expect(server.of("GET", statePath)).toHaveLength(3));
    expect(server.of("GET", statePath)[2]!.url.searchParams.get("at")).toBe("2026-12-02T05:41:20.303163Z");
    await userEvent.click(screen.getByRole("button", { name: "Next event" }));
    await waitFor(() => expect(server.of("GET", statePath)).toHaveLength(4));
    expect(server.of("GET", statePath)[3]!.url.searchParams.get("at")).toBe("2026-12-02T05:41:30.348487Z");

    // Picking a timeline item moves the scrubber to it.
    const started = screen.getAllByTestId("audit-item")[1]!;
    await userEvent.click(within(started).getByRole("button", { name: /^Replay here: Session started/ }));
    await waitFor(() => expect(server.of("GET", statePath)).toHaveLength(5));
    expect(server.of("GET", statePath)[4]!.url.searchParams.get("at")).toBe("2026-12-02T05:41:13.277098Z");
    expect(slider).toHaveValue(String(new Date("2026-12-02T05:41:13.277Z").getTime()));
    expect(started).toHaveAttribute("aria-current", "step");
  });

  it("steps the slider from event to event with the arrow keys", async () => {
    const server = serve();
    renderAt(`/sessions/${SESSION}/audit`);
    await loaded();
    await waitFor(() => expect(server.of("GET", statePath)).toHaveLength(1));
    const slider = screen.getByRole("slider", { name: "Replay time" });
    slider.focus();
    await userEvent.keyboard("{ArrowLeft}{ArrowLeft}");
    await waitFor(() => expect(server.of("GET", statePath)).toHaveLength(2));
    expect(server.of("GET", statePath)[1]!.url.searchParams.get("at")).toBe("2026-12-02T05:41:30.348487Z");
    await userEvent.keyboard("{ArrowRight}");
    await waitFor(() => expect(server.of("GET", statePath)).toHaveLength(3));
    expect(server.of("GET", statePath)[2]!.url.searchParams.get("at")).toBe("2026-12-02T05:41:40.371624Z");
  });

  it("says when the session did not exist yet, and shows a failed replay", async () => {
    let fail = false;
    serve({
      [`GET ${statePath}`]: () =>
        fail
          ? json({ error: { code: "internal_error", message: "replay failed", request_id: "r9" } }, 500)
          : json({ ...replayed, status: null, members: [], participants: [], layout: { version: 0, panels: [] }, sources: {}, last_position: 0 }),
    });
    renderAt(`/sessions/${SESSION}/audit`);
    expect(await screen.findByText("The session did not exist yet at this time.")).toBeInTheDocument();
    fail = true;
    await act(async () => {
      fireEvent.change(screen.getByRole("slider", { name: "Replay time" }), {
        target: { value: String(new Date("2026-12-02T05:41:20Z").getTime()) },
      });
    });
    expect(await screen.findByRole("alert")).toHaveTextContent(/^Could not replay the session: (replay failed|HTTP 500) \(request req-1\)$/);
  });

  it("shows an intact hash chain", async () => {
    const server = serve({
      [`POST /v1/sessions/${SESSION}/audit:verify`]: () => json({ ok: true, streams_checked: 1, events_checked: 6, broken: null }),
    });
    renderAt(`/sessions/${SESSION}/audit`);
    await loaded();
    await userEvent.click(screen.getByRole("button", { name: "Verify integrity" }));
    const result = await screen.findByTestId("verify-result");
    expect(result).toHaveAttribute("data-ok", "true");
    expect(result).toHaveTextContent("Hash chain intact: 6 events in 1 stream verified");
    expect(result).not.toHaveAttribute("role", "alert");
    expect(server.of("POST", `/v1/sessions/${SESSION}/audit:verify`)).toHaveLength(1);
  });

  it("shows the first broken link as an alert", async () => {
    serve({
      [`POST /v1/sessions/${SESSION}/audit:verify`]: () =>
        json({
          ok: false, streams_checked: 1, events_checked: 3,
          broken: { stream: `session-${SESSION}`, version: 3, position: 7, event_id: "01a23545-71b8-728f-b00a-c644ed8adfd0", reason: "hash does not match the event" },
        }),
    });
    renderAt(`/sessions/${SESSION}/audit`);
    await loaded();
    await userEvent.click(screen.getByRole("button", { name: "Verify integrity" }));
    const result = await screen.findByTestId("verify-result");
    expect(result).toHaveAttribute("data-ok", "false");
    expect(result).toHaveAttribute("role", "alert");
    expect(result).toHaveTextContent(`Hash chain broken at session-${SESSION}, version 3`);
    expect(result).toHaveTextContent("hash does not match the event");
    expect(result).toHaveTextContent("01a23545-71b8-728f-b00a-c644ed8adfd0");
  });
});

describe("Audit of the organisation", () => {
  it("reads the organisation-wide trail and offers the sessions to pick", async () => {
    const server = serve({
      "GET /v1/audit": () => json({ items: trail.slice(0, 2), next_cursor: null }),
      "GET /v1/sessions": () =>
        json({ items: [{ id: SESSION, title: "Lap chole", status: "live", created_by: ALICE, created_at: "2026-12-02T05:41:13Z", recording: "idle", member_count: 1, updated_at: "2026-12-02T05:41:13Z" }], next_cursor: null }),
    });
    renderAt("/audit");
    const list = await loaded();
    expect(within(list).getAllByTestId("audit-item")).toHaveLength(2);
    expect(server.of("GET", "/v1/audit")).toHaveLength(1);
    expect(screen.queryByRole("slider")).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Verify integrity" })).not.toBeInTheDocument();
    expect(within(list).getAllByRole("link", { name: "Session trail" })[0]).toHaveAttribute("href", `/sessions/${SESSION}/audit`);

    const picker = screen.getByLabelText("Session");
    await waitFor(() => expect(picker).toBeEnabled());
    await userEvent.selectOptions(picker, SESSION);
    await userEvent.click(screen.getByRole("button", { name: "Open session trail" }));
    expect(await screen.findByRole("slider", { name: "Replay time" })).toBeInTheDocument();
    await waitFor(() => expect(server.of("GET", `/v1/sessions/${SESSION}/events`)).toHaveLength(1));
  });
});
