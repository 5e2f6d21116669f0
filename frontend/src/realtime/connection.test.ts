import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ServerMessage } from "../api/generated/ws";
import { NotConnectedError, RealtimeConnection, wsUrl, type ConnectionOptions, type ConnectionStatus } from "./connection";
import { FakeSocket } from "./fakeSocket";
import { event, panel, welcome } from "./testFixtures";

const base = { protocol: "http:", host: "or.example:8080" };

function setup(over: Partial<ConnectionOptions> = {}) {
  const received: ServerMessage[] = [];
  const statuses: ConnectionStatus[] = [];
  const events = new EventTarget();
  let refs = 0;
  const conn = new RealtimeConnection({
    access: { url: "/v1/sessions/s1/ws", token: "tok-1" },
    onMessage: (m) => received.push(m),
    onStatus: (s) => statuses.push(s),
    WebSocketImpl: FakeSocket,
    events,
    base,
    random: () => 0.5, // no jitter: delays are exactly the base
    newRef: () => `r${++refs}`,
    ...over,
  });
  return { conn, received, statuses, events };
}

function layoutEvent(position: number, version: number) {
  return event(position, "LayoutUpdated", {
    version,
    base_version: version - 1,
    changes: [{ panel_id: "p1", field: "x", value: version }],
    conflicts: [],
    panels: [panel("p1", version % 6, 0)],
    changed_by: { user_id: "u-alice", role: "surgeon", participant_id: "pt-alice" },
  });
}

beforeEach(() => {
  FakeSocket.reset();
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("wsUrl", () => {
  it("puts a path on the page's host with ws or wss", () => {
    expect(wsUrl("/v1/sessions/s/ws", base)).toBe("ws://or.example:8080/v1/sessions/s/ws");
    expect(wsUrl("/v1/sessions/s/ws", { protocol: "https:", host: "or.example" })).toBe("wss://or.example/v1/sessions/s/ws");
  });
  it("turns http(s) into ws(s) and keeps ws URLs", () => {
    expect(wsUrl("http://10.0.0.1:8080/v1/x", base)).toBe("ws://10.0.0.1:8080/v1/x");
    expect(wsUrl("https://h/v1/x", base)).toBe("wss://h/v1/x");
    expect(wsUrl("wss://h/v1/x", base)).toBe("wss://h/v1/x");
  });
});

describe("RealtimeConnection", () => {
  it("offers the token as a subprotocol and pings first to get the welcome at once", () => {
    const { conn, statuses } = setup();
    conn.start();
    const s = FakeSocket.last();
    expect(s.url).toBe("ws://or.example:8080/v1/sessions/s1/ws");
    expect(s.protocols).toEqual(["livesurgery.v1", "bearer.tok-1"]);
    s.open();
    expect(s.sent).toEqual([{ type: "ping" }]);
    expect(conn.status).toBe("connecting");
    s.push(welcome({ position: 10 }));
    expect(conn.status).toBe("connected");
    expect(statuses).toEqual(["connected"]);
  });

  it("after a cut resumes with the last position as the first message and stays gap-free", () => {
    const { conn, received, statuses } = setup();
    conn.start();
    const first = FakeSocket.last();
    first.open();
    first.push(welcome({ position: 10 }));
    first.push(layoutEvent(11, 2));
    first.push(layoutEvent(12, 3));
    first.drop(1006);
    expect(conn.status).toBe("reconnecting");

    vi.advanceTimersByTime(250);
    const second = FakeSocket.last();
    expect(second).not.toBe(first);
    second.open();
    expect(second.sent[0]).toEqual({ type: "resume", after_position: 12 });
    // The replay may overlap what was seen: 12 again is dropped, 13 comes through once.
    second.push(layoutEvent(12, 3));
    second.push(layoutEvent(13, 4));
    second.push({ type: "resumed", after_position: 12, position: 13, replayed: 1 });
    expect(conn.status).toBe("connected");
    expect(statuses).toEqual(["connected", "reconnecting", "connected"]);
    const positions = received.filter((m) => m.type === "event").map((m) => (m.type === "event" ? m.position : 0));
    expect(positions).toEqual([11, 12, 13]);
    expect(conn.lastPosition).toBe(13);
  });

  it("drops events at or below the welcome's position (no duplicate of the snapshot)", () => {
    const { conn, received } = setup();
    conn.start();
    const s = FakeSocket.last();
    s.open();
    s.push(welcome({ position: 20 }));
    s.push(layoutEvent(19, 2));
    s.push(layoutEvent(20, 3));
    s.push(layoutEvent(21, 4));
    expect(received.map((m) => m.type)).toEqual(["welcome", "event"]);
    expect(conn.lastPosition).toBe(21);
  });

  it("takes a fresh welcome after a resume that was too far behind as the new base", () => {
    const { conn } = setup();
    conn.start();
    FakeSocket.last().open();
    FakeSocket.last().push(welcome({ position: 5 }));
    FakeSocket.last().drop(4008);
    vi.advanceTimersByTime(250);
    const s = FakeSocket.last();
    s.open();
    expect(s.sent[0]).toEqual({ type: "resume", after_position: 5 });
    s.push(welcome({ position: 3000, reason: "resume_too_far_behind" }));
    expect(conn.lastPosition).toBe(3000);
    expect(conn.status).toBe("connected");
  });

  it("backs off 250 ms doubling to 5 s and starts over after a welcome", () => {
    const { conn } = setup();
    conn.start();
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const before = FakeSocket.instances.length;
      FakeSocket.last().drop(1006);
      let waited = 0;
      while (FakeSocket.instances.length === before) {
        vi.advanceTimersByTime(1);
        waited += 1;
      }
      delays.push(waited);
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
    FakeSocket.last().open();
    FakeSocket.last().push(welcome());
    FakeSocket.last().drop(1001);
    vi.advanceTimersByTime(249);
    const count = FakeSocket.instances.length;
    vi.advanceTimersByTime(1);
    expect(FakeSocket.instances.length).toBe(count + 1);
  });

  it("jitters each delay within 0.8-1.2 of the base", () => {
    const low = setup({ random: () => 0 }).conn;
    const high = setup({ random: () => 0.999 }).conn;
    expect(low.nextDelay()).toBe(200);
    expect(high.nextDelay()).toBeGreaterThanOrEqual(299);
  });

  it.each([
    [4003, "removed"],
    [4009, "replaced"],
    [1000, "ended"],
  ])("does not reconnect after close %i (%s)", (code, reason) => {
    const { conn } = setup();
    conn.start();
    FakeSocket.last().open();
    FakeSocket.last().push(welcome());
    FakeSocket.last().drop(code);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.instances).toHaveLength(1);
    expect(conn.status).toBe("closed");
    expect(conn.closeReason).toBe(reason);
  });

  it.each([1001, 1006, 1011, 4008, 4010])("reconnects after close %i", (code) => {
    const { conn } = setup();
    conn.start();
    FakeSocket.last().open();
    FakeSocket.last().push(welcome());
    FakeSocket.last().drop(code);
    vi.advanceTimersByTime(300);
    expect(FakeSocket.instances).toHaveLength(2);
  });

  it("joins again for a new token after 4001 and resumes with it", async () => {
    const renew = vi.fn(async () => ({ url: "/v1/sessions/s1/ws", token: "tok-2" }));
    const { conn } = setup({ renew });
    conn.start();
    FakeSocket.last().open();
    FakeSocket.last().push(welcome({ position: 7 }));
    FakeSocket.last().drop(4001);
    await vi.waitFor(() => expect(FakeSocket.instances).toHaveLength(2));
    expect(renew).toHaveBeenCalledTimes(1);
    const s = FakeSocket.last();
    expect(s.protocols).toEqual(["livesurgery.v1", "bearer.tok-2"]);
    s.open();
    expect(s.sent[0]).toEqual({ type: "resume", after_position: 7 });
  });

  it("treats a refused upgrade past the token's expiry as token_expired", async () => {
    const renew = vi.fn(async () => ({ url: "/v1/sessions/s1/ws", token: "tok-2" }));
    const { conn } = setup({
      renew,
      access: { url: "/ws", token: "tok-1", expiresAt: new Date(Date.now() - 1000).toISOString() },
    });
    conn.start();
    FakeSocket.last().drop(1006); // never opened
    await vi.waitFor(() => expect(renew).toHaveBeenCalledTimes(1));
  });

  it("gives up when joining again is refused (e.g. the session is over)", async () => {
    const renew = vi.fn(async () => {
      throw Object.assign(new Error("session not live"), { status: 409 });
    });
    const { conn } = setup({ renew });
    conn.start();
    FakeSocket.last().open();
    FakeSocket.last().push(welcome());
    FakeSocket.last().drop(4001);
    await vi.waitFor(() => expect(conn.status).toBe("closed"));
    expect(conn.closeReason).toBe("renew_failed");
  });

  it("goes offline at once on the offline event and reconnects immediately when online", () => {
    const { conn, events } = setup();
    conn.start();
    const s = FakeSocket.last();
    s.open();
    s.push(welcome({ position: 4 }));
    events.dispatchEvent(new Event("offline"));
    expect(conn.status).toBe("offline");
    expect(s.closedWith).not.toBeNull();
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.instances).toHaveLength(1);
    events.dispatchEvent(new Event("online"));
    expect(FakeSocket.instances).toHaveLength(2);
    expect(conn.status).toBe("reconnecting");
    FakeSocket.last().open();
    expect(FakeSocket.last().sent[0]).toEqual({ type: "resume", after_position: 4 });
  });

  it("pings every heartbeat interval and drops a socket silent for the timeout", () => {
    const { conn } = setup();
    conn.start();
    const s = FakeSocket.last();
    s.open();
    s.push(welcome({ heartbeat_interval_ms: 1000, heartbeat_timeout_ms: 3000 }));
    vi.advanceTimersByTime(2000);
    expect(s.sent.filter((m) => (m as { type: string }).type === "ping")).toHaveLength(3); // first + 2
    s.push({ type: "pong", ref: null, time: "t" }); // heard: the timeout starts again
    vi.advanceTimersByTime(2999);
    expect(conn.status).toBe("connected");
    vi.advanceTimersByTime(1);
    expect(conn.status).toBe("reconnecting");
    expect(s.closedWith).toBe(4000);
    vi.advanceTimersByTime(250);
    expect(FakeSocket.instances).toHaveLength(2);
  });

  it("sends with a generated ref and refuses writes while not connected", () => {
    const { conn } = setup();
    conn.start();
    expect(() => conn.send({ type: "source.select", panel_id: "p1", source_id: null })).toThrow(NotConnectedError);
    const s = FakeSocket.last();
    s.open();
    s.push(welcome());
    const ref = conn.send({ type: "layout.update", base_version: 1, changes: { panels: { p1: { x: 2 } } } });
    expect(ref).toBe("r1");
    expect(s.sent[1]).toEqual({ type: "layout.update", ref: "r1", base_version: 1, changes: { panels: { p1: { x: 2 } } } });
    s.drop(1006);
    expect(() => conn.send({ type: "layout.update", base_version: 1, changes: {} })).toThrow(/Not connected/);
  });

  it("stop closes the socket and never comes back", () => {
    const { conn } = setup();
    conn.start();
    const s = FakeSocket.last();
    s.open();
    s.push(welcome());
    conn.stop();
    expect(s.closedWith).toBe(1000);
    expect(conn.status).toBe("closed");
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it("closes a socket stopped while still connecting only once it opens (no browser error)", () => {
    const { conn } = setup();
    conn.start();
    const s = FakeSocket.last();
    conn.stop();
    expect(s.closedWith).toBeNull();
    s.open();
    expect(s.closedWith).toBe(1000);
    expect(s.sent).toEqual([]);
  });
});
