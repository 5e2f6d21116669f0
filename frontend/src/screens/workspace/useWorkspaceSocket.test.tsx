import { act, renderHook } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JoinResponse } from "../../api/client";
import type { ConnectionOptions, OutgoingMessage } from "../../realtime/connection";
import { SESSION_ID, event, welcome } from "../../realtime/testFixtures";
import { json } from "../../test/http";
import { useWorkspaceSocket, type ConnectionLike } from "./useWorkspaceSocket";

const joinAs = (token: string): JoinResponse => ({
  participant_id: "pt-me",
  role: "surgeon",
  permissions: ["publish", "subscribe", "edit_layout"],
  ws: { url: `/v1/sessions/${SESSION_ID}/ws`, token },
  sfu: { whip_url: "/whip", whep_url: "/whep", node_id: "node-a", token: `sfu-${token}` },
  ice_servers: [],
  expires_at: "2099-01-01T00:00:00Z",
  recording: { active: false, recording_id: null },
});

afterEach(() => vi.unstubAllGlobals());

class FakeConnection implements ConnectionLike {
  connected = true;
  sent: OutgoingMessage[] = [];
  start() {}
  stop() {}
  send(msg: OutgoingMessage): string {
    if (!this.connected) throw new Error("Not connected to the session: the change was not sent.");
    this.sent.push(msg);
    return `ref-${this.sent.length}`;
  }
}

function setup() {
  let options: ConnectionOptions | null = null;
  const conn = new FakeConnection();
  const onSessionEvent = vi.fn();
  const hook = renderHook(() =>
    useWorkspaceSocket({
      sessionId: SESSION_ID,
      initial: { join: joinAs("ws-1"), joinedAt: 1 },
      connect: (o) => ((options = o), conn),
      directory: new Map(),
      onSessionEvent,
    }),
  );
  const server = (msg: Parameters<ConnectionOptions["onMessage"]>[0]) => act(() => options!.onMessage(msg));
  return { ...hook, conn, server, onSessionEvent, options: () => options! };
}

describe("useWorkspaceSocket", () => {
  it("connects with the join's WS token and, once expired, joins again for both tokens", async () => {
    const { result, options } = setup();
    expect(options().access).toEqual({ url: `/v1/sessions/${SESSION_ID}/ws`, token: "ws-1", expiresAt: "2099-01-01T00:00:00Z" });
    vi.stubGlobal("fetch", vi.fn(async () => json(joinAs("ws-2"), 201)));
    let access;
    await act(async () => {
      access = await options().renew!();
    });
    expect(access).toMatchObject({ token: "ws-2" });
    expect(result.current.joined.join.sfu.token).toBe("sfu-ws-2");
  });

  it("moves the join's media to the node a placement names, keeping the SFU token", () => {
    const { result, server } = setup();
    server(welcome());
    const first = result.current.joined;
    const onB = {
      node_id: "node-b",
      whip_url: `https://b.example.org/v1/sessions/${SESSION_ID}/whip`,
      whep_url: `https://b.example.org/v1/sessions/${SESSION_ID}/whep`,
    };
    server({ type: "media.placed", position: 12, reason: "node_gone", ...onB });
    const moved = result.current.joined;
    expect(moved).not.toBe(first);
    expect(moved.join.sfu).toEqual({ ...onB, token: "sfu-ws-1" });
    expect(moved.join.ws).toEqual(first.join.ws);
    expect(moved.joinedAt).toBe(first.joinedAt);

    // The same placement again (a resume's replay) moves nothing: the media is not redone.
    server({ type: "media.placed", position: 12, reason: "node_gone", ...onB });
    expect(result.current.joined).toBe(moved);

    // A welcome (the socket was away too long to resume) says where the media is now.
    const onC = { node_id: "node-c", whip_url: "https://c.example.org/whip", whep_url: "https://c.example.org/whep" };
    server(welcome({ position: 20 }, { media: onC }));
    expect(result.current.joined.join.sfu).toMatchObject(onC);
  });

  it("hands each new session event on once", () => {
    const { server, onSessionEvent } = setup();
    server(welcome());
    const joined = event(11, "ParticipantJoined", { participant_id: "pt-alice", user_id: "u-alice", role: "host", device: "tablet" });
    server(joined);
    server(joined);
    expect(onSessionEvent).toHaveBeenCalledTimes(1);
    expect(onSessionEvent).toHaveBeenCalledWith(
      "ParticipantJoined",
      expect.objectContaining({ participant_id: "pt-alice" }),
      expect.objectContaining({ type: "event", event_type: "ParticipantJoined" }),
    );
  });

  it("shows a sent move as pending, and has the grid redrawn when a move could not be sent", () => {
    const { result, server, conn } = setup();
    server(welcome());
    act(() => result.current.move("p1", { x: 1, y: 0, w: 6, h: 6 }));
    expect(conn.sent).toEqual([{ type: "layout.update", base_version: 1, changes: { panels: { p1: { x: 1 } } } }]);
    expect(result.current.pending.get("p1")).toEqual({ ref: "ref-1", rect: { x: 1, y: 0, w: 6, h: 6 }, ackVersion: null });
    expect(result.current.shown.find((p) => p.id === "p1")?.x).toBe(1);
    expect(result.current.state.layout.panels.find((p) => p.id === "p1")?.x).toBe(0);

    conn.connected = false;
    const epoch = result.current.gridEpoch;
    act(() => result.current.move("p2", { x: 0, y: 6, w: 6, h: 6 }));
    expect(result.current.gridEpoch).toBe(epoch + 1);
    expect(result.current.pending.has("p2")).toBe(false);
    // A lost first-frame measurement is no error.
    expect(() => result.current.sendFirstFrame({ source_id: "endoscope", join_to_first_frame_ms: 5 })).not.toThrow();
  });
});
