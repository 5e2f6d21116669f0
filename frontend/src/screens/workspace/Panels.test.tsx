// Panels never hide each other, and each viewer's own view (issue 20).
import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { refreshDirectory } from "../../api/directory";
import type { ServerMessage } from "../../api/generated/ws";
import { ToastProvider } from "../../components/Toasts";
import type { SessionMedia } from "../../media/types";
import type { ConnectionOptions, OutgoingMessage } from "../../realtime/connection";
import { ALICE, ME, SESSION_ID, event, meActor, panel, welcome } from "../../realtime/testFixtures";
import { json } from "../../test/http";
import { viewKey } from "./usePersonalView";
import { Workspace } from "./Workspace";

vi.mock("../../media", () => ({
  useSessionMedia: (): SessionMedia => ({
    published: [],
    publish: async () => {},
    unpublish: async () => {},
    setMuted: () => {},
    devices: [],
    sessionSources: ["endoscope", "room-cam"],
    // As the media layer learns it from `GET .../media` (ALICE's user id).
    sourcePublishers: { endoscope: "u-alice" },
    sourceStalledSince: {},
    setWanted: () => {},
    streamFor: () => null,
    framesDecoded: async () => null,
    onSessionEvent: () => {},
    error: null,
  }),
  PanelVideo: ({ source }: { source: string | null }) => <div data-testid="video">{source ?? "none"}</div>,
}));

class FakeConnection {
  sent: OutgoingMessage[] = [];
  constructor(readonly options: ConnectionOptions) {}
  start() {}
  stop() {}
  send(msg: OutgoingMessage): string {
    this.sent.push(msg);
    return `ref-${this.sent.length}`;
  }
  push(msg: ServerMessage) {
    act(() => this.options.onMessage(msg));
  }
}

const QUADRANTS = [panel("p1", 0, 0), panel("p2", 6, 0, 6, 6, "endoscope"), panel("p3", 0, 6), panel("p4", 6, 6)];
const observer = { role: "observer" as const, permissions: ["subscribe" as const] };

beforeEach(() => {
  localStorage.clear();
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const url = new URL(req.url);
      if (url.pathname.endsWith("/participants:join")) {
        return json(
          {
            participant_id: ME.participant_id,
            role: "surgeon",
            permissions: ["publish", "subscribe", "edit_layout"],
            ws: { url: "/ws", token: "t" },
            sfu: { whip_url: "/whip", whep_url: "/whep", node_id: "node-a", token: "s" },
            ice_servers: [],
            expires_at: "2099-01-01T00:00:00Z",
          },
          201,
        );
      }
      if (url.pathname === "/v1/users/directory") {
        return json({ items: [{ id: ALICE.user_id, username: "alice", display_name: "Alice Host", role: "surgeon" }] });
      }
      return json({ error: { code: "not_found", message: "no", request_id: "r" } }, 404);
    }),
  );
  void refreshDirectory().catch(() => {});
});
afterEach(() => vi.unstubAllGlobals());

async function open(first: ServerMessage = welcome()) {
  let conn: FakeConnection | null = null;
  render(
    <ToastProvider>
      <MemoryRouter initialEntries={[`/sessions/${SESSION_ID}/workspace`]}>
        <Routes>
          <Route path="/sessions/:id/workspace" element={<Workspace connect={(o) => (conn = new FakeConnection(o))} />} />
        </Routes>
      </MemoryRouter>
    </ToastProvider>,
  );
  await waitFor(() => expect(conn).not.toBeNull());
  const c = conn!;
  act(() => c.options.onStatus?.("connected", null));
  c.push(first);
  await screen.findByTestId("panel-p1");
  return c;
}

describe("Panels never hide each other", () => {
  it("disables Add panel on a full grid and says why, sending nothing", async () => {
    const c = await open(welcome({}, { layout: { version: 1, panels: QUADRANTS } }));
    expect(screen.getByRole("button", { name: "Add panel" })).toBeDisabled();
    expect(screen.getByTestId("grid-full")).toHaveTextContent("The grid is full: remove or shrink a panel to add another.");
    expect(c.sent).toEqual([]);
  });

  it("does not move a panel onto another with the keyboard", async () => {
    const c = await open();
    screen.getByRole("button", { name: "Move panel p1" }).focus();
    await userEvent.keyboard("{ArrowRight}"); // p2 is at x 6
    expect(c.sent).toEqual([]);
    await userEvent.keyboard("{ArrowDown}");
    expect(c.sent).toHaveLength(1);
  });

  it("brings a panel to the front with one layout.update of its z", async () => {
    const c = await open();
    await userEvent.click(screen.getByRole("button", { name: "Bring panel p1 to the front" }));
    expect(c.sent).toEqual([{ type: "layout.update", base_version: 1, changes: { panels: { p1: { z: 1 } } } }]);
  });

  it("undoes a removal: the same panel comes back in its place", async () => {
    const c = await open();
    await userEvent.click(screen.getByRole("button", { name: "Delete panel p2" }));
    expect(c.sent[0]).toEqual({ type: "layout.update", base_version: 1, changes: { remove: ["p2"] } });
    const bar = screen.getByTestId("undo-remove");
    expect(bar).toHaveTextContent("Panel “endoscope” removed.");
    c.push(event(11, "LayoutUpdated", { version: 2, base_version: 1, changes: [{ panel_id: null, field: "panels", value: null }], conflicts: [], panels: [panel("p1", 0, 0)], changed_by: meActor }));
    await userEvent.click(within(bar).getByRole("button", { name: "Undo" }));
    expect(c.sent[1]).toEqual({ type: "layout.update", base_version: 2, changes: { add: [panel("p2", 6, 0, 6, 6, "endoscope")] } });
    expect(screen.queryByTestId("undo-remove")).toBeNull();
  });

  it("names panels by their source, not p1, and says who publishes each source", async () => {
    await open();
    expect(within(screen.getByTestId("panel-p2")).getByTestId("panel-title")).toHaveTextContent(/^endoscope$/);
    expect(within(screen.getByTestId("panel-p1")).getByTestId("panel-title")).toHaveTextContent(/^Empty panel$/);
    const select = screen.getByRole("combobox", { name: "Source for panel p1" });
    await waitFor(() => expect([...(select as HTMLSelectElement).options].map((o) => o.text)).toEqual(["None", "endoscope (Alice Host)", "room-cam"]));
  });

  it("lets an editor name a panel for everyone; Escape cancels, an empty name clears", async () => {
    const c = await open();
    await userEvent.click(screen.getByRole("button", { name: "Rename panel p1" }));
    await userEvent.keyboard("Vitals{Escape}");
    expect(c.sent).toEqual([]);
    expect(screen.queryByTestId("personal-fullscreen")).toBeNull(); // typing f/s/h in the field is no shortcut
    await userEvent.click(screen.getByRole("button", { name: "Rename panel p1" }));
    await userEvent.keyboard("  Main view {Enter}");
    expect(c.sent).toEqual([{ type: "layout.update", base_version: 1, changes: { panels: { p1: { name: "Main view" } } } }]);
    c.push(event(11, "LayoutUpdated", { version: 2, base_version: 1, changes: [{ panel_id: "p1", field: "name", value: "Main view" }], conflicts: [], panels: [{ ...panel("p1", 0, 0), name: "Main view" }, panel("p2", 6, 0, 6, 6, "endoscope")], changed_by: meActor }));
    expect(within(screen.getByTestId("panel-p1")).getByTestId("panel-title")).toHaveTextContent(/^Main view$/);
    await userEvent.click(screen.getByRole("button", { name: "Rename panel p1" }));
    await userEvent.clear(screen.getByRole("textbox", { name: "Name of panel p1" }));
    await userEvent.keyboard("{Enter}");
    expect(c.sent[1]).toEqual({ type: "layout.update", base_version: 2, changes: { panels: { p1: { name: null } } } });
  });

  it("gives an observer no way to rename, move or remove", async () => {
    await open(welcome(observer));
    expect(screen.queryByRole("button", { name: /Rename panel/ })).toBeNull();
    expect(screen.queryByRole("button", { name: /Bring panel/ })).toBeNull();
  });
});

describe("Each viewer's own view", () => {
  it("lets an observer spotlight a panel without sending anything, kept per session", async () => {
    const c = await open(welcome(observer));
    await userEvent.click(screen.getByRole("button", { name: "Spotlight panel p2" }));
    expect(screen.getByTestId("personal-spotlight")).toBeInTheDocument();
    expect(within(screen.getByTestId("personal-spotlight")).getAllByTestId(/^panel-p/)[0]).toHaveAttribute("data-testid", "panel-p2");
    expect(c.sent).toEqual([]);
    expect(JSON.parse(localStorage.getItem(viewKey(SESSION_ID))!)).toMatchObject({ spotlight: "p2" });
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByTestId("personal-spotlight")).toBeNull();
    expect(screen.getByTestId("workspace-grid")).toBeInTheDocument();
  });

  it("opens in the view kept for the session", async () => {
    localStorage.setItem(viewKey(SESSION_ID), JSON.stringify({ spotlight: "p2", fullscreen: null, hideEmpty: false }));
    await open(welcome(observer));
    expect(screen.getByTestId("personal-spotlight")).toBeInTheDocument();
  });

  it("fullscreens with f, hides empty panels with h, and goes back with Escape", async () => {
    const c = await open(welcome(observer));
    await userEvent.keyboard("f");
    const full = screen.getByTestId("personal-fullscreen");
    expect(within(full).getByTestId("panel-p2")).toBeInTheDocument(); // the first with a source
    expect(screen.queryByTestId("panel-p1")).toBeNull();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByTestId("personal-fullscreen")).toBeNull();
    await userEvent.keyboard("h");
    expect(screen.getByRole("button", { name: "Hide empty panels" })).toHaveAttribute("aria-pressed", "true");
    expect(screen.queryByTestId("panel-p1")).toBeNull();
    expect(screen.getByTestId("panel-p2")).toBeInTheDocument();
    await userEvent.keyboard("h");
    expect(screen.getByTestId("panel-p1")).toBeInTheDocument();
    expect(c.sent).toEqual([]);
  });

  it("lets an observer watch another source in a panel, only for them, and go back to the shared one", async () => {
    const c = await open(welcome(observer));
    const p2 = () => screen.getByTestId("feed-p2");
    expect(p2()).toHaveTextContent("endoscope");
    const pick = screen.getByRole("combobox", { name: "Your source for panel p2" });
    expect(within(pick).getByRole("option", { name: "As shared (endoscope)" })).toBeInTheDocument();
    await userEvent.selectOptions(pick, "room-cam");
    expect(p2()).toHaveTextContent("room-cam");
    expect(p2()).not.toHaveTextContent("endoscope");
    expect(c.sent).toEqual([]);
    expect(JSON.parse(localStorage.getItem(viewKey(SESSION_ID))!)).toMatchObject({ sources: { p2: "room-cam" } });
    await userEvent.selectOptions(screen.getByRole("combobox", { name: "Your source for panel p2" }), "");
    expect(p2()).toHaveTextContent("endoscope");
    expect(JSON.parse(localStorage.getItem(viewKey(SESSION_ID))!)).toMatchObject({ sources: {} });
  });

  it("gives an editor the shared source picker, not a personal one", async () => {
    await open();
    expect(screen.getByRole("combobox", { name: "Source for panel p2" })).toBeInTheDocument();
    expect(screen.queryByRole("combobox", { name: "Your source for panel p2" })).toBeNull();
  });

  it("spotlights the focused panel with s", async () => {
    await open();
    screen.getByRole("button", { name: "Move panel p1" }).focus();
    await userEvent.keyboard("s");
    expect(screen.getByRole("button", { name: "Spotlight panel p1" })).toHaveAttribute("aria-pressed", "true");
  });

  it("shows the shortcuts with ? and closes them with Escape", async () => {
    await open();
    await userEvent.keyboard("?");
    const dialog = screen.getByRole("dialog", { name: "Keyboard shortcuts" });
    for (const does of [/Fullscreen/, /Spotlight/, /Hide or show empty panels/, /^Back/]) expect(within(dialog).getByText(does)).toBeInTheDocument();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("does not take keys typed into a field", async () => {
    await open();
    await userEvent.type(screen.getByLabelText("Source name"), "fsh?");
    expect(screen.queryByTestId("personal-fullscreen")).toBeNull();
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(screen.getByRole("button", { name: "Hide empty panels" })).toHaveAttribute("aria-pressed", "false");
  });
});
