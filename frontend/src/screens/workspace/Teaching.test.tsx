// Teaching in the workspace (issue 21): who gets which drawing tools, chat with mentions,
// questions and the hand queue, over a fake socket.
import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { refreshDirectory } from "../../api/directory";
import type { ServerMessage, WelcomeMessage } from "../../api/generated/ws";
import { ToastProvider } from "../../components/Toasts";
import type { SessionMedia } from "../../media/types";
import type { ConnectionOptions, OutgoingMessage } from "../../realtime/connection";
import { ALICE, ME, SESSION_ID, welcome } from "../../realtime/testFixtures";
import { BOB, teachingEvent } from "../../teaching/testFixtures";
import type { TeachingView } from "../../teaching/types";
import { json } from "../../test/http";
import { Workspace } from "./Workspace";

vi.mock("../../media", () => ({
  useSessionMedia: (): SessionMedia => ({
    published: [],
    publish: async () => {},
    unpublish: async () => {},
    setMuted: () => {},
    devices: [],
    sessionSources: ["endoscope"],
    sourcePublishers: {},
    sourceStalledSince: {},
    setWanted: () => {},
    streamFor: () => null,
    framesDecoded: async () => null,
    onSessionEvent: () => {},
    error: null,
  }),
  PanelVideo: ({ source }: { source: string | null }) => <video data-testid="video" data-source={source ?? ""} />,
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
  /** The teaching messages sent, as plain objects. */
  teaching() {
    return this.sent.map((m) => m as unknown as Record<string, unknown>);
  }
}

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
        return json({
          items: [
            { id: ME.user_id, username: "me", display_name: "Dr Me", role: "surgeon" },
            { id: ALICE.user_id, username: "alice", display_name: "Alice Host", role: "surgeon" },
            { id: BOB.user_id, username: "bob", display_name: "Bob Student", role: "observer" },
          ],
        });
      }
      return json({ error: { code: "not_found", message: "no", request_id: "r" } }, 404);
    }),
  );
  void refreshDirectory().catch(() => {});
});
afterEach(() => vi.unstubAllGlobals());

const members = [
  { user_id: ME.user_id, role: "surgeon" as const },
  { user_id: ALICE.user_id, role: "host" as const },
  { user_id: BOB.user_id, role: "observer" as const },
];

type Role = WelcomeMessage["role"];
const permissionsOf = (role: Role): WelcomeMessage["permissions"] => (role === "observer" ? ["subscribe"] : ["publish", "subscribe", "edit_layout"]);

async function open(role: Role, teaching?: Partial<TeachingView>) {
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
  c.push(welcome({ role, permissions: permissionsOf(role) }, { members, ...(teaching ? { teaching } : {}) } as never));
  await screen.findByTestId("panel-p1");
  // The names come from the directory.
  await waitFor(() => expect(screen.getAllByText("Dr Me").length).toBeGreaterThan(0));
  return c;
}

const tools = () => screen.queryByRole("toolbar", { name: "Drawing tools" });

describe("drawing tools by role", () => {
  it("are off until asked for: the video keeps the pointer", async () => {
    await open("surgeon");
    expect(tools()).toBeNull();
    expect(screen.getByTestId("overlay-p2")).toHaveAttribute("data-tool", "none");
    await userEvent.click(screen.getByRole("button", { name: "Draw" }));
    expect(tools()).not.toBeNull();
    expect(screen.getByTestId("overlay-p2")).toHaveAttribute("data-tool", "freehand");
    await userEvent.click(within(tools()!).getByRole("button", { name: "Arrow" }));
    expect(within(tools()!).getByRole("button", { name: "Arrow" })).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByTestId("overlay-p2")).toHaveAttribute("data-tool", "arrow");
    await userEvent.keyboard("{Escape}");
    expect(tools()).toBeNull();
    expect(screen.getByTestId("overlay-p2")).toHaveAttribute("data-tool", "none");
  });

  it("give a surgeon Clear mine but not Clear all, and send the clear", async () => {
    const c = await open("surgeon");
    await userEvent.click(screen.getByRole("button", { name: "Draw" }));
    expect(within(tools()!).queryByRole("button", { name: "Clear all" })).toBeNull();
    await userEvent.click(within(tools()!).getByRole("button", { name: "Clear mine" }));
    expect(c.teaching().at(-1)).toEqual({ type: "annotation.clear", scope: "mine", panel_id: null });
  });

  it("give the host Clear all", async () => {
    const c = await open("host");
    await userEvent.click(screen.getByRole("button", { name: "Draw" }));
    await userEvent.click(within(tools()!).getByRole("button", { name: "Clear all" }));
    expect(c.teaching().at(-1)).toEqual({ type: "annotation.clear", scope: "all", panel_id: null });
  });

  it("give an observer nothing to draw with until the host allows it", async () => {
    const c = await open("observer");
    expect(screen.queryByRole("button", { name: "Draw" })).toBeNull();
    c.push(teachingEvent("TeachingSettingsChanged", { observers_may_annotate: true }));
    await userEvent.click(screen.getByRole("button", { name: "Draw" }));
    expect(within(tools()!).getByRole("button", { name: "Clear mine" })).toBeInTheDocument();
    expect(within(tools()!).queryByRole("button", { name: "Clear all" })).toBeNull();
    // Allowed no more: the tools go.
    c.push(teachingEvent("TeachingSettingsChanged", { observers_may_annotate: false }));
    expect(tools()).toBeNull();
  });

  it("let the host set who may draw and chat", async () => {
    const c = await open("host");
    await userEvent.click(screen.getByText("Teaching settings (host)"));
    await userEvent.click(screen.getByRole("checkbox", { name: "Observers may draw" }));
    expect(c.teaching().at(-1)).toEqual({ type: "teaching.settings", observers_may_annotate: true });
    await userEvent.click(screen.getByRole("checkbox", { name: "Observers may chat" }));
    expect(c.teaching().at(-1)).toEqual({ type: "teaching.settings", observer_chat: false });
  });
});

describe("chat", () => {
  it("sends @names as the members' user ids, and shows the length limit", async () => {
    const c = await open("surgeon");
    const box = screen.getByRole("textbox", { name: "Chat message" });
    await userEvent.type(box, "@alice please look at @BobStudent's question");
    expect(screen.getByText("44/1000")).toBeInTheDocument();
    await userEvent.keyboard("{Enter}");
    const sent = c.teaching().at(-1)!;
    expect(sent).toMatchObject({ type: "chat.post", text: "@alice please look at @BobStudent's question", mentions: [ALICE.user_id, BOB.user_id] });
    expect(typeof sent.message_id).toBe("string");
    expect(box).toHaveValue("");
  });

  it("highlights a message that mentions this user", async () => {
    const c = await open("surgeon", {
      chat: [{ message_id: "m0", user_id: BOB.user_id, text: "hello all", mentions: [], posted_at: "2026-12-02T06:00:00Z" }],
    });
    c.push(teachingEvent("ChatMessagePosted", { message_id: "m1", text: "@me see the clip", mentions: [ME.user_id] }));
    const messages = within(screen.getByRole("list", { name: "Chat messages" })).getAllByTestId("chat-message");
    expect(messages).toHaveLength(2);
    expect(messages[0]).not.toHaveAttribute("data-mentions-me");
    expect(messages[1]).toHaveAttribute("data-mentions-me", "true");
    expect(within(messages[1]!).getByTestId("mention")).toHaveTextContent("@me");
    expect(messages[1]).toHaveTextContent("Alice Host");
    expect(await screen.findByText("Alice Host mentioned you in the chat")).toBeInTheDocument();
  });

  it("tells an observer when the host turned observer chat off", async () => {
    const c = await open("observer");
    expect(screen.getByRole("textbox", { name: "Chat message" })).toBeEnabled();
    c.push(teachingEvent("TeachingSettingsChanged", { observer_chat: false }));
    expect(screen.queryByRole("textbox", { name: "Chat message" })).toBeNull();
    expect(screen.getByText("The host has turned chat off for observers.")).toBeInTheDocument();
  });
});

describe("questions and hands", () => {
  it("lets anyone ask; the host marks a question answered", async () => {
    const c = await open("host");
    await userEvent.click(screen.getByRole("tab", { name: /Questions/ }));
    c.push(teachingEvent("QuestionAsked", { question_id: "q1", text: "Which plane?" }, BOB));
    const question = screen.getByTestId("question");
    expect(question).toHaveTextContent("Bob Student");
    expect(question).toHaveAttribute("data-answered", "false");
    await userEvent.click(within(question).getByRole("button", { name: "Mark answered" }));
    expect(c.teaching().at(-1)).toEqual({ type: "question.answer", question_id: "q1" });
    c.push(teachingEvent("QuestionAnswered", { question_id: "q1" }, ALICE));
    expect(screen.getByTestId("question")).toHaveAttribute("data-answered", "true");
  });

  it("shows the hand queue in the order raised; the host lowers one", async () => {
    const c = await open("host", { hands: [{ user_id: BOB.user_id, raised_at: "2026-12-02T06:00:00Z" }] });
    await userEvent.click(screen.getByRole("tab", { name: /Hands/ }));
    c.push(teachingEvent("HandRaised", {}, ME));
    const queue = () => within(screen.getByRole("list", { name: "Raised hands, in order" })).getAllByTestId("hand").map((h) => h.dataset.userId);
    expect(queue()).toEqual([BOB.user_id, ME.user_id]);
    await userEvent.click(screen.getByRole("button", { name: "Lower the hand of Bob Student" }));
    expect(c.teaching().at(-1)).toEqual({ type: "hand.lower", user_id: BOB.user_id });
    c.push(teachingEvent("HandLowered", { user_id: BOB.user_id }, ALICE));
    expect(queue()).toEqual([ME.user_id]);
  });

  it("lets a participant raise and lower their own hand", async () => {
    const c = await open("observer");
    await userEvent.click(screen.getByRole("tab", { name: /Hands/ }));
    await userEvent.click(screen.getByRole("button", { name: /Raise my hand/ }));
    expect(c.teaching().at(-1)).toEqual({ type: "hand.raise" });
    c.push(teachingEvent("HandRaised", {}, { user_id: ME.user_id, participant_id: ME.participant_id }));
    expect(screen.getByText("You are 1st in the queue.")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Lower the hand of/ })).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: /Lower my hand/ }));
    expect(c.teaching().at(-1)).toEqual({ type: "hand.lower" });
  });
});
