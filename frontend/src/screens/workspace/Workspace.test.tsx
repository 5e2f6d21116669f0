import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { refreshDirectory } from "../../api/directory";
import type { ServerMessage } from "../../api/generated/ws";
import { ToastProvider } from "../../components/Toasts";
import type { SessionMedia } from "../../media/types";
import type { ConnectionOptions, OutgoingMessage } from "../../realtime/connection";
import { ALICE, ME, SESSION_ID, aliceActor, event, meActor, panel, welcome, welcomeRecording } from "../../realtime/testFixtures";
import { Workspace, type Connect } from "./Workspace";
import { json } from "../../test/http";

const media = vi.hoisted(() => ({
  setWanted: vi.fn(),
  onSessionEvent: vi.fn(),
  sessionSources: ["endoscope", "room-cam"] as string[],
}));

vi.mock("../../media", () => ({
  useSessionMedia: (): SessionMedia => ({
    published: [],
    publish: async () => {},
    unpublish: async () => {},
    setMuted: () => {},
    devices: [],
    sessionSources: media.sessionSources,
    sourcePublishers: {},
    sourceStalledSince: {},
    setWanted: media.setWanted,
    streamFor: () => null,
    framesDecoded: async () => null,
    onSessionEvent: media.onSessionEvent,
    error: null,
  }),
  PanelVideo: ({ source }: { source: string | null }) => <div data-testid="video">{source ?? "none"}</div>,
}));

class FakeConnection {
  sent: OutgoingMessage[] = [];
  connected = true;
  stopped = false;
  constructor(readonly options: ConnectionOptions) {}
  start() {}
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    this.options.onStatus?.("closed", "stopped"); // as the real one does
  }
  send(msg: OutgoingMessage): string {
    if (!this.connected) throw new Error("Not connected to the session: the change was not sent.");
    this.sent.push(msg);
    return `ref-${this.sent.length}`;
  }
  /** The server speaks. */
  push(msg: ServerMessage) {
    act(() => this.options.onMessage(msg));
  }
  status(s: Parameters<NonNullable<ConnectionOptions["onStatus"]>>[0], reason: Parameters<NonNullable<ConnectionOptions["onStatus"]>>[1] = null) {
    act(() => this.options.onStatus?.(s, reason));
  }
}

const join = {
  participant_id: ME.participant_id,
  role: "surgeon",
  permissions: ["publish", "subscribe", "edit_layout"],
  ws: { url: `/v1/sessions/${SESSION_ID}/ws`, token: "ws-token" },
  sfu: { whip_url: "/whip", whep_url: "/whep", node_id: "node-a", token: "sfu-token" },
  ice_servers: [],
  expires_at: "2099-01-01T00:00:00Z",
};


let joinAnswer: () => Response = () => json(join, 201);
let conn: FakeConnection | null = null;

beforeEach(() => {
  conn = null;
  joinAnswer = () => json(join, 201);
  media.setWanted.mockClear();
  media.onSessionEvent.mockClear();
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const url = new URL(req.url);
      if (url.pathname.endsWith("/participants:join")) return joinAnswer();
      if (url.pathname === "/v1/users/directory") {
        return json({
          items: [
            { id: ME.user_id, username: "me", display_name: "Dr Me", role: "surgeon" },
            { id: ALICE.user_id, username: "alice", display_name: "Alice Host", role: "surgeon" },
          ],
        });
      }
      return json({ error: { code: "not_found", message: "no", request_id: "r" } }, 404);
    }),
  );
  void refreshDirectory().catch(() => {});
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

const connect: Connect = (options) => {
  conn = new FakeConnection(options);
  return conn;
};

async function open(first: ServerMessage = welcome()) {
  render(
    <ToastProvider>
      <MemoryRouter initialEntries={[`/sessions/${SESSION_ID}/workspace`]}>
        <Routes>
          <Route path="/sessions/:id/workspace" element={<Workspace connect={connect} />} />
          <Route path="/sessions/:id" element={<p>session page</p>} />
        </Routes>
      </MemoryRouter>
    </ToastProvider>,
  );
  await waitFor(() => expect(conn).not.toBeNull());
  const c = conn!;
  c.status("connected");
  c.push(first);
  await screen.findByTestId("panel-p1");
  return c;
}

function layoutUpdated(position: number, version: number, panels: ReturnType<typeof panel>[], conflicts: unknown[] = []) {
  return event(position, "LayoutUpdated", {
    version,
    base_version: version - 1,
    changes: [{ panel_id: "p1", field: "x", value: 1 }],
    conflicts: conflicts as never,
    panels,
    changed_by: aliceActor,
  });
}

describe("Workspace", () => {
  it("joins with the browser device and connects with the join's WS token", async () => {
    await open();
    const fetch = vi.mocked(globalThis.fetch);
    const joinCall = fetch.mock.calls.map(([r]) => r as Request).find((r) => r.url.endsWith("/participants:join"));
    expect(joinCall?.method).toBe("POST");
    expect(await joinCall?.clone().json()).toEqual({ device: "browser" });
    expect(conn!.options.access).toMatchObject({ url: join.ws.url, token: "ws-token" });
  });

  it("says plainly when the session is not live, with a way back", async () => {
    joinAnswer = () => json({ error: { code: "session_not_live", message: "the session is not live", request_id: "rq1" } }, 409);
    render(
      <ToastProvider>
        <MemoryRouter initialEntries={[`/sessions/${SESSION_ID}/workspace`]}>
          <Routes>
            <Route path="/sessions/:id/workspace" element={<Workspace connect={connect} />} />
          </Routes>
        </MemoryRouter>
      </ToastProvider>,
    );
    expect(await screen.findByRole("alert")).toHaveTextContent("This session is not live");
    expect(screen.getByRole("link", { name: "Back to the session" })).toHaveAttribute("href", `/sessions/${SESSION_ID}`);
    expect(conn).toBeNull();
  });

  it("shows an observer a read-only workspace: no handles, no edit controls", async () => {
    await open(welcome({ role: "observer", permissions: ["subscribe"] }));
    expect(screen.getByTestId("read-only")).toHaveTextContent("Read-only: you are watching as an observer");
    expect(screen.queryByRole("button", { name: /Move panel/ })).toBeNull();
    expect(screen.queryByRole("button", { name: /Delete panel/ })).toBeNull();
    expect(screen.queryByRole("combobox", { name: /Source for panel/ })).toBeNull();
    expect(screen.queryByRole("button", { name: "Add panel" })).toBeNull();
    expect(screen.queryByRole("region", { name: "Publish camera" })).toBeNull();
    expect(document.querySelector(".react-resizable-handle")).toBeNull();
    // Still sees the layout, live.
    const p2 = screen.getByTestId("panel-p2");
    expect(p2).toHaveAttribute("data-x", "6");
    expect(within(p2).getByTestId("panel-title")).toHaveTextContent("endoscope");
    conn!.push(layoutUpdated(11, 2, [panel("p1", 0, 6), panel("p2", 6, 0, 6, 6, "endoscope")]));
    expect(screen.getByTestId("panel-p1")).toHaveAttribute("data-y", "6");
  });

  it("gives an editor handles and controls", async () => {
    await open();
    expect(screen.queryByTestId("read-only")).toBeNull();
    expect(screen.getByRole("button", { name: "Move panel p1" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Delete panel p2" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Add panel" })).toBeEnabled();
    expect(document.querySelectorAll(".react-resizable-handle").length).toBeGreaterThan(0);
    expect(screen.getByRole("region", { name: "Publish camera" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "End session" })).toBeNull(); // hosts only
  });

  it("lets the host end the session from the workspace, once confirmed, and then says it ended", async () => {
    await open(welcome({ role: "host" }));
    const fetch = vi.mocked(globalThis.fetch);
    const answer = fetch.getMockImplementation()!;
    fetch.mockImplementation(async (req) => (new URL((req as Request).url).pathname.endsWith(":end") ? json({}) : answer(req)));
    const ends = () => fetch.mock.calls.map(([r]) => r as Request).filter((r) => r.url.endsWith(`/v1/sessions/${SESSION_ID}:end`));
    await userEvent.click(screen.getByRole("button", { name: "End session" }));
    const dialog = screen.getByRole("dialog", { name: "End this session?" });
    await userEvent.click(within(dialog).getByRole("button", { name: "Keep it live" }));
    expect(ends()).toHaveLength(0);
    expect(screen.queryByTestId("session-ended")).toBeNull();

    await userEvent.click(screen.getByRole("button", { name: "End session" }));
    await userEvent.click(within(screen.getByRole("dialog", { name: "End this session?" })).getByRole("button", { name: "End session" }));
    expect(await screen.findByTestId("session-ended")).toHaveTextContent("The session has ended.");
    expect(ends().map((r) => r.method)).toEqual(["POST"]);
    expect(screen.queryByRole("button", { name: "End session" })).toBeNull();
    expect(screen.queryByRole("region", { name: "Publish camera" })).toBeNull();
  });

  it("moves a panel with the keyboard: one layout.update, server values until the event", async () => {
    const c = await open();
    const handle = screen.getByRole("button", { name: "Move panel p1" });
    handle.focus();
    await userEvent.keyboard("{ArrowDown}");
    expect(c.sent).toEqual([{ type: "layout.update", base_version: 1, changes: { panels: { p1: { y: 1 } } } }]);
    expect(screen.getByTestId("panel-p1")).toHaveAttribute("data-y", "0");
    expect(screen.getByTestId("panel-p1")).toHaveAttribute("data-pending", "true");
    c.push({ type: "ack", ref: "ref-1", position: 11, layout_version: 2 });
    expect(screen.getByTestId("panel-p1")).toHaveAttribute("data-pending", "true"); // ack before its event
    c.push(layoutUpdated(11, 2, [panel("p1", 0, 1), panel("p2", 6, 0, 6, 6, "endoscope")]));
    expect(screen.getByTestId("panel-p1")).toHaveAttribute("data-y", "1");
    expect(screen.getByTestId("panel-p1")).not.toHaveAttribute("data-pending");
    await userEvent.keyboard("{Shift>}{ArrowLeft}{/Shift}");
    expect(c.sent[1]).toEqual({ type: "layout.update", base_version: 2, changes: { panels: { p1: { w: 5 } } } });
  });

  it("reverts and says why when the server refuses a write", async () => {
    const c = await open();
    screen.getByRole("button", { name: "Move panel p1" }).focus();
    await userEvent.keyboard("{ArrowDown}");
    expect(screen.getByTestId("panel-p1")).toHaveAttribute("data-pending", "true");
    c.push({ type: "error", ref: "ref-1", code: "forbidden", message: "your role may not change the layout" });
    expect(screen.getByTestId("panel-p1")).not.toHaveAttribute("data-pending");
    expect(await screen.findByText("Not applied: your role may not change the layout")).toBeInTheDocument();
    expect(screen.getByTestId("panel-p1")).toHaveAttribute("data-y", "0");
  });

  it("refuses a write while not connected, with a clear message", async () => {
    const c = await open();
    c.connected = false;
    c.status("reconnecting");
    expect(screen.getByTestId("connection-status")).toHaveAttribute("data-state", "reconnecting");
    expect(screen.getByTestId("connection-status")).toHaveTextContent("Reconnecting");
    screen.getByRole("button", { name: "Move panel p1" }).focus();
    await userEvent.keyboard("{ArrowDown}");
    expect(await screen.findByText(/Not connected/)).toBeInTheDocument();
    expect(c.sent).toEqual([]);
  });

  it("flashes a contested panel and says who won", async () => {
    const c = await open();
    c.push(
      layoutUpdated(11, 2, [panel("p1", 3, 0), panel("p2", 6, 0, 6, 6, "endoscope")], [
        { panel_id: "p1", field: "x", winner: aliceActor, loser: meActor, loser_version: 1 },
      ]),
    );
    const p1 = screen.getByTestId("panel-p1");
    expect(p1).toHaveAttribute("data-contested", "true");
    await waitFor(() => expect(within(p1).getByTestId("contested-p1")).toHaveTextContent("Alice Host won the edit of x"));
    expect(screen.getByText("Alice Host won the edit of x on panel p1")).toBeInTheDocument();
    expect(screen.getByTestId("panel-p2")).not.toHaveAttribute("data-contested");
    await waitFor(() => expect(screen.getByTestId("panel-p1")).not.toHaveAttribute("data-contested"), { timeout: 2500 });
  });

  it("assigns a source through source.select, offering published and in-use sources", async () => {
    const c = await open();
    const select = screen.getByRole("combobox", { name: "Source for panel p1" });
    expect([...(select as HTMLSelectElement).options].map((o) => o.text)).toEqual(["None", "endoscope", "room-cam"]);
    await userEvent.selectOptions(select, "room-cam");
    expect(c.sent).toEqual([{ type: "source.select", panel_id: "p1", source_id: "room-cam" }]);
    expect(media.setWanted).toHaveBeenLastCalledWith(["endoscope"]);
    c.push(event(11, "SourceSelected", { panel_id: "p1", source_id: "room-cam", layout_version: 2, changed_by: meActor }));
    expect(screen.getByTestId("panel-p1")).toHaveAttribute("data-source", "room-cam");
    expect(media.setWanted).toHaveBeenLastCalledWith(["room-cam", "endoscope"]);
    expect(media.onSessionEvent).toHaveBeenCalledWith("SourceSelected", expect.objectContaining({ panel_id: "p1" }));
  });

  it("adds a panel at the first free spot and removes one", async () => {
    const c = await open();
    await userEvent.click(screen.getByRole("button", { name: "Add panel" }));
    expect(c.sent[0]).toEqual({
      type: "layout.update",
      base_version: 1,
      changes: { add: [{ id: "p3", x: 0, y: 6, w: 4, h: 4, z: 0, source_id: null }] },
    });
    await userEvent.click(screen.getByRole("button", { name: "Delete panel p2" }));
    expect(c.sent[1]).toEqual({ type: "layout.update", base_version: 1, changes: { remove: ["p2"] } });
  });

  it("lists who is here with role badges and toasts joins and leaves of others", async () => {
    const c = await open();
    const presence = screen.getByTestId("presence");
    expect(presence).toHaveAccessibleName("Participants");
    await waitFor(() => expect(presence).toHaveTextContent("Dr Me"));
    expect(screen.queryAllByTestId("toast")).toHaveLength(0);
    c.push(event(11, "ParticipantJoined", { participant_id: ALICE.participant_id, user_id: ALICE.user_id, role: "host", device: "OR tablet" }));
    expect(within(presence).getByText("Alice Host")).toBeInTheDocument();
    expect(within(presence).getByText("host")).toBeInTheDocument();
    expect(screen.getByText("Alice Host joined")).toBeInTheDocument();
    c.push(event(12, "ParticipantLeft", { participant_id: ALICE.participant_id, user_id: ALICE.user_id, reason: "left" }));
    expect(within(presence).queryByText("Alice Host")).toBeNull();
    expect(screen.getByText("Alice Host left")).toBeInTheDocument();
  });

  it("shows the session's end and stops the connection", async () => {
    const c = await open();
    c.push(event(11, "SessionEnded", {}));
    expect(screen.getByTestId("session-ended")).toHaveTextContent("The session has ended");
    expect(c.stopped).toBe(true);
    expect(screen.getByTestId("connection-status")).toHaveAttribute("data-state", "closed");
    expect(screen.getByTestId("connection-status")).toHaveTextContent("Session ended");
    expect(screen.queryByRole("button", { name: "Move panel p1" })).toBeNull();
  });

  it("says in the panel when the server marks its source stalled and resumed, with its quality", async () => {
    const c = await open();
    const p2 = within(screen.getByTestId("panel-p2"));
    const source = { resource_id: "w1", participant_id: ALICE.participant_id, user_id: ALICE.user_id, source: "endoscope" };
    c.push(event(11, "SourceStalled", source));
    expect(p2.getByTestId("no-signal-p2")).toHaveTextContent("no signal for 0 s");
    c.push(event(12, "SourceResumed", { ...source, stalled_ms: 2500 }));
    expect(p2.queryByTestId("no-signal-p2")).toBeNull();
    c.push(
      event(13, "MediaQualitySampled", {
        resource_id: "w1",
        source: "endoscope",
        kind: "video",
        mid: "0",
        bitrate_bps: 800_000,
        packets: 900,
        packets_lost: 100,
        jitter_us: null,
        rtt_ms: 40,
        interval_ms: 10_000,
      }),
    );
    expect(p2.getByRole("button", { name: /^Picture quality of endoscope: poor, 800 kb\/s, loss 10.0 %/ })).toBeInTheDocument();
  });

  it("says a source stopped publishing when its publisher disconnects", async () => {
    const c = await open();
    media.sessionSources = ["room-cam"];
    try {
      c.push(event(11, "PublisherDisconnected", { resource_id: "w1", participant_id: ALICE.participant_id, user_id: ALICE.user_id, source: "endoscope", reason: "deleted" }));
      expect(screen.getByTestId("feed-p2")).toHaveAttribute("data-feed-state", "stopped");
    } finally {
      media.sessionSources = ["endoscope", "room-cam"];
    }
  });

  it("shows offline and a removal plainly", async () => {
    const c = await open();
    c.status("offline");
    expect(screen.getByTestId("connection-status")).toHaveAttribute("data-state", "offline");
    expect(screen.getByText(/You are offline/)).toBeInTheDocument();
    c.status("closed", "removed");
    expect(screen.getByRole("alert")).toHaveTextContent("You were removed from this session.");
  });
});

describe("Workspace recording", () => {
  const indicator = () => screen.queryByRole("status", { name: "Recording" });

  it("shows every participant the indicator from the welcome, an observer too, without the button", async () => {
    await open(welcomeRecording(true, "rec-1", {}, { role: "observer", permissions: ["subscribe"] }));
    expect(indicator()).toHaveTextContent("Recording");
    expect(indicator()).toHaveAttribute("aria-live", "polite");
    expect(screen.queryByRole("button", { name: /recording/i })).toBeNull();
  });

  it("shows the indicator the moment a RecordingStarted is pushed, and takes it away on RecordingStopped", async () => {
    const c = await open();
    expect(indicator()).toBeNull();
    expect(screen.getByTestId("recording-indicator")).toHaveAttribute("role", "status"); // the live region waits
    c.push(event(11, "RecordingStarted", { recording_id: "rec-1" }));
    expect(indicator()).toBeInTheDocument();
    expect(screen.getByText("Alice Host started recording")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Stop recording" })).toBeEnabled();
    c.push(event(12, "RecordingStopped", { recording_id: "rec-1" }, meActor));
    expect(indicator()).toBeNull();
    expect(screen.getByText("You stopped recording")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Start recording" })).toBeInTheDocument();
  });

  it("gives a surgeon the button: it posts recordings:start and waits for the server's event", async () => {
    const c = await open();
    const base = vi.mocked(globalThis.fetch).getMockImplementation()!;
    const posted: string[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (req: Request) => {
        const url = new URL(req.url);
        if (req.method === "POST" && url.pathname.includes("/recordings:")) {
          posted.push(url.pathname);
          return json({ recording_id: "rec-1", position: 11 });
        }
        return base(req);
      }),
    );
    await userEvent.click(screen.getByRole("button", { name: "Start recording" }));
    expect(posted).toEqual([`/v1/sessions/${SESSION_ID}/recordings:start`]);
    expect(await screen.findByRole("button", { name: "Starting recording…" })).toBeDisabled();
    c.push(event(11, "RecordingStarted", { recording_id: "rec-1" }, meActor));
    expect(indicator()).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Stop recording" }));
    expect(posted.at(-1)).toBe(`/v1/sessions/${SESSION_ID}/recordings:stop`);
  });

  it("shows the server's refusal as a toast, and the button as it was", async () => {
    await open();
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => json({ error: { code: "invalid_transition", message: "the session is being recorded already", request_id: "rq7" } }, 409)),
    );
    await userEvent.click(screen.getByRole("button", { name: "Start recording" }));
    expect(await screen.findByText("Recording not started: the session is being recorded already (request req-1)")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Start recording" })).toBeEnabled();
    expect(indicator()).toBeNull();
  });

  it("shows the indicator from the join answer before the welcome arrives", async () => {
    joinAnswer = () => json({ ...join, recording: { active: true, recording_id: "rec-1" } }, 201);
    render(
      <ToastProvider>
        <MemoryRouter initialEntries={[`/sessions/${SESSION_ID}/workspace`]}>
          <Routes>
            <Route path="/sessions/:id/workspace" element={<Workspace connect={connect} />} />
          </Routes>
        </MemoryRouter>
      </ToastProvider>,
    );
    await waitFor(() => expect(indicator()).toBeInTheDocument());
    expect(screen.getByText("Connecting to the session…")).toBeInTheDocument();
  });
});
