import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { JoinResponse } from "../api/client";
import { MediaEngine, type EngineOptions } from "./engine";
import { FakePeerConnection, FakeStream, FakeTrack, answerSdp } from "./fakeWebRtc";

const SID = "0190a1b2-0000-7000-8000-00000000000a";
const JOIN: JoinResponse = {
  participant_id: "p1",
  role: "surgeon",
  permissions: ["publish", "subscribe", "edit_layout"],
  ws: { url: "ws://h/ws", token: "ws-token" },
  sfu: { whip_url: `/v1/sessions/${SID}/whip`, whep_url: `/v1/sessions/${SID}/whep`, node_id: "node-a", token: "sfu-token" },
  ice_servers: [{ urls: ["stun:stun.example:3478"], username: null, credential: null }],
  expires_at: "2030-01-01T00:00:00Z",
  recording: { active: false, recording_id: null },
};

interface Sent {
  method: string;
  url: URL;
  headers: Headers;
  body: string;
  keepalive: boolean;
}

type Handler = (req: Sent) => Response | Promise<Response>;

/** A fetch stub that records every request and answers through `routes` (first match wins). */
function server(routes: Array<[method: string, path: RegExp, handler: Handler]>) {
  const sent: Sent[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : null;
    const req: Sent = {
      method: init?.method ?? request?.method ?? "GET",
      url: new URL(request ? request.url : String(input), location.href),
      headers: new Headers(init?.headers ?? request?.headers),
      body: typeof init?.body === "string" ? init.body : request ? await request.clone().text() : "",
      keepalive: init?.keepalive ?? false,
    };
    sent.push(req);
    for (const [method, path, handler] of routes) {
      if (method === req.method && path.test(req.url.pathname)) return handler(req);
    }
    return new Response(JSON.stringify({ error: { code: "not_found", message: "no route", request_id: "t" } }), { status: 404 });
  });
  vi.stubGlobal("fetch", fetch);
  return sent;
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", "X-Request-Id": "r7" } });

let whepCount = 0;
const whep: Handler = (req) => {
  whepCount += 1;
  const n = (req.body.match(/^m=video /gm) ?? []).length;
  return new Response(answerSdp(n), {
    status: 201,
    headers: { "Content-Type": "application/sdp", Location: `/v1/sessions/${SID}/whep/sub-${whepCount}` },
  });
};
const subscribe: Handler = (req) => {
  const { slots } = JSON.parse(req.body) as { slots: (string | null)[] };
  return json({ resources: [{ resource_id: `sub-${whepCount}`, participant_id: "p1", user_id: "u1", slots }] });
};
const media: Handler = () => json({ sources: [], subscriptions: [] });
const ok: Handler = () => new Response(null, { status: 200 });

function engine(extra: Partial<EngineOptions> = {}) {
  const e = new MediaEngine({
    sessionId: SID,
    join: JOIN,
    joinedAt: Date.now() - 1000,
    canPublish: true,
    sendFirstFrame: vi.fn(),
    ...extra,
  });
  e.start();
  return e;
}

const pcs = () => FakePeerConnection.all;
const last = () => {
  const pc = pcs()[pcs().length - 1];
  if (!pc) throw new Error("no peer connection");
  return pc;
};

beforeEach(() => {
  whepCount = 0;
  FakePeerConnection.all = [];
  vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
  vi.stubGlobal("MediaStream", FakeStream);
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe("receiving", () => {
  it("opens no subscription until a panel wants a source", async () => {
    const sent = server([["GET", /\/media$/, media]]);
    const e = engine();
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]?.url.pathname).toBe(`/v1/sessions/${SID}/media`);
    expect(pcs()).toHaveLength(0);
    e.dispose();
  });

  it("subscribes over WHEP with the SFU token and the wanted sources as slots", async () => {
    const sent = server([["GET", /\/media$/, media], ["POST", /\/whep$/, whep]]);
    const e = engine();
    e.setWanted(["endoscope", "room-cam"]);
    await vi.waitFor(() => expect(e.streamFor("endoscope")).not.toBeNull());
    const post = sent.find((r) => r.method === "POST");
    expect(post?.url.search).toBe("?slots=endoscope,room-cam");
    expect(post?.headers.get("Authorization")).toBe("Bearer sfu-token");
    expect(post?.headers.get("Content-Type")).toBe("application/sdp");
    expect(post?.body.match(/^m=video /gm)).toHaveLength(4);
    // Audio m-line i plays the source of video slot i: a slot's stream carries its sound too.
    expect(post?.body.match(/^m=audio /gm)).toHaveLength(4);
    expect(last().transceivers.every((t) => t.direction === "recvonly")).toBe(true);
    const stream = e.streamFor("endoscope") as unknown as FakeStream;
    expect(stream.getVideoTracks()).toEqual([last().transceivers[0]?.receiver.track]);
    expect(stream.getAudioTracks()).toEqual([last().transceivers[4]?.receiver.track]);
    // null username/credential are left out (browsers reject them)
    expect(last().config.iceServers).toEqual([{ urls: ["stun:stun.example:3478"] }]);
    expect(e.streamFor("room-cam")).not.toBeNull();
    expect(e.streamFor("vitals")).toBeNull();
    e.dispose();
  });

  it("switches slots with media:subscribe, keeping a kept source's stream, showing a new one only once assigned", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const sent = server([
      ["GET", /\/media$/, media],
      ["POST", /\/whep$/, whep],
      ["POST", /\/media:subscribe$/, async (req) => (await held, subscribe(req))],
    ]);
    const e = engine({ wanted: ["endoscope", "room-cam"] });
    await vi.waitFor(() => expect(e.streamFor("room-cam")).not.toBeNull());
    const roomCam = e.streamFor("room-cam");
    const listener = vi.fn();
    e.subscribe(listener);

    e.setWanted(["room-cam", "vitals"]);
    await vi.waitFor(() => expect(sent.some((r) => r.url.pathname.endsWith("/media:subscribe"))).toBe(true));
    const select = sent.find((r) => r.url.pathname.endsWith("/media:subscribe"));
    expect(select?.url.pathname).toBe(`/v1/sessions/${SID}/media:subscribe`);
    expect(select?.headers.get("Authorization")).toBe("Bearer sfu-token");
    expect(JSON.parse(select?.body ?? "")).toEqual({ slots: ["vitals", "room-cam", null, null] });
    // Not yet confirmed by the server.
    expect(e.streamFor("vitals")).toBeNull();

    release();
    await vi.waitFor(() => expect(e.streamFor("vitals")).not.toBeNull());
    expect(listener).toHaveBeenCalled();
    expect(e.streamFor("room-cam")).toBe(roomCam);
    expect(e.streamFor("endoscope")).toBeNull();
    expect(pcs()).toHaveLength(1);
    e.dispose();
  });

  it("renegotiates a bigger subscription when the sources do not fit, then deletes the old one", async () => {
    const sent = server([["GET", /\/media$/, media], ["POST", /\/whep$/, whep], ["DELETE", /\/whep\//, ok]]);
    const e = engine({ wanted: ["a", "b", "c", "d"] });
    await vi.waitFor(() => expect(e.streamFor("a")).not.toBeNull());
    e.setWanted(["a", "b", "c", "d", "e"]);
    await vi.waitFor(() => expect(e.streamFor("e")).not.toBeNull());
    const posts = sent.filter((r) => r.method === "POST");
    expect(posts[1]?.url.search).toBe("?slots=a,b,c,d,e");
    expect(posts[1]?.body.match(/^m=video /gm)).toHaveLength(8);
    await vi.waitFor(() => expect(sent.some((r) => r.method === "DELETE")).toBe(true));
    expect(sent.find((r) => r.method === "DELETE")?.url.pathname).toBe(`/v1/sessions/${SID}/whep/sub-1`);
    await vi.waitFor(() => expect(pcs()[0]?.closed).toBe(true));
    expect(pcs()[1]?.closed).toBe(false);
    e.dispose();
  });

  it("reports each source's first decoded frame once, measured from the join", async () => {
    server([["GET", /\/media$/, media], ["POST", /\/whep$/, whep], ["POST", /\/media:subscribe$/, subscribe]]);
    const sendFirstFrame = vi.fn();
    const e = engine({ wanted: ["endoscope"], sendFirstFrame, joinedAt: Date.now() - 5000 });
    await vi.waitFor(() => expect(e.streamFor("endoscope")).not.toBeNull());
    await new Promise((r) => setTimeout(r, 250));
    expect(sendFirstFrame).not.toHaveBeenCalled();
    last().decoded("0", 3);
    await vi.waitFor(() => expect(sendFirstFrame).toHaveBeenCalledTimes(1));
    const [msg] = sendFirstFrame.mock.calls[0] as [{ source_id: string; join_to_first_frame_ms: number }];
    expect(msg.source_id).toBe("endoscope");
    expect(msg.join_to_first_frame_ms).toBeGreaterThanOrEqual(5000);

    // A reused slot counts from what it decoded before the switch.
    e.setWanted(["room-cam"]);
    await vi.waitFor(() => expect(e.streamFor("room-cam")).not.toBeNull());
    await new Promise((r) => setTimeout(r, 250));
    expect(sendFirstFrame).toHaveBeenCalledTimes(1);
    last().decoded("0", 4);
    await vi.waitFor(() => expect(sendFirstFrame).toHaveBeenCalledTimes(2));
    expect(sendFirstFrame.mock.calls[1]?.[0]).toMatchObject({ source_id: "room-cam" });

    // Back to a source already reported: no second report.
    e.setWanted(["endoscope"]);
    last().decoded("0", 9);
    await new Promise((r) => setTimeout(r, 450));
    expect(sendFirstFrame).toHaveBeenCalledTimes(2);
    e.dispose();
  });

  it("makes a new subscription with the current assignment when the connection fails", async () => {
    const sent = server([["GET", /\/media$/, media], ["POST", /\/whep$/, whep], ["DELETE", /\/whep\//, ok]]);
    const e = engine({ wanted: ["endoscope"] });
    await vi.waitFor(() => expect(e.streamFor("endoscope")).not.toBeNull());
    last().become("failed");
    expect(e.streamFor("endoscope")).toBeNull();
    expect(e.getSnapshot().error).toMatch(/reconnecting/);
    await vi.waitFor(() => expect(pcs()).toHaveLength(2), { timeout: 3000 });
    await vi.waitFor(() => expect(e.streamFor("endoscope")).not.toBeNull());
    expect(sent.filter((r) => r.method === "POST").map((r) => r.url.search)).toEqual(["?slots=endoscope", "?slots=endoscope"]);
    expect(e.getSnapshot().error).toBeNull();
    e.dispose();
  });

  it("says which sources do not fit when more than 16 are wanted, until fewer are", async () => {
    server([["GET", /\/media$/, media], ["POST", /\/whep$/, whep], ["POST", /\/media:subscribe$/, subscribe]]);
    const e = engine();
    const many = Array.from({ length: 18 }, (_, i) => `s${i}`);
    e.setWanted(many);
    await vi.waitFor(() => expect(e.streamFor("s15")).not.toBeNull());
    expect(e.streamFor("s16")).toBeNull();
    expect(e.getSnapshot().error).toBe("At most 16 different sources can be shown at once; not shown: s16, s17.");
    e.setWanted(many.slice(0, 3));
    await vi.waitFor(() => expect(e.getSnapshot().error).toBeNull());
    e.dispose();
  });

  it("stops retrying after a refusal and says why", async () => {
    const sent = server([
      ["GET", /\/media$/, media],
      ["POST", /\/whep$/, () => json({ error: { code: "forbidden", message: "not a member", request_id: "r7" } }, 403)],
    ]);
    const e = engine({ wanted: ["endoscope"] });
    await vi.waitFor(() => expect(e.getSnapshot().error).toMatch(/may not receive live video.*r7/));
    await new Promise((r) => setTimeout(r, 700));
    expect(sent.filter((r) => r.method === "POST")).toHaveLength(1);
    expect(last().closed).toBe(true);
    e.dispose();
  });

  it("deletes its subscription (keepalive) and closes everything on dispose", async () => {
    const sent = server([["GET", /\/media$/, media], ["POST", /\/whep$/, whep], ["DELETE", /\/whep\//, ok]]);
    const e = engine({ wanted: ["endoscope"] });
    await vi.waitFor(() => expect(e.streamFor("endoscope")).not.toBeNull());
    expect(window.__livesurgeryMedia).toBeDefined();
    e.dispose();
    const del = sent.find((r) => r.method === "DELETE");
    expect(del?.url.pathname).toBe(`/v1/sessions/${SID}/whep/sub-1`);
    expect(del?.keepalive).toBe(true);
    expect(del?.headers.get("Authorization")).toBe("Bearer sfu-token");
    await vi.waitFor(() => expect(last().closed).toBe(true));
    expect(window.__livesurgeryMedia).toBeUndefined();
  });

  it("shows the placeholder, not a frozen frame, while a shown source is unpublished", async () => {
    server([["GET", /\/media$/, media], ["POST", /\/whep$/, whep]]);
    const e = engine({ wanted: ["endoscope"] });
    await vi.waitFor(() => expect(e.streamFor("endoscope")).not.toBeNull());
    const stream = e.streamFor("endoscope");
    e.onSessionEvent("PublisherDisconnected", { source: "endoscope", resource_id: "other", reason: "disconnected" });
    expect(e.streamFor("endoscope")).toBeNull();
    e.onSessionEvent("TrackPublished", { source: "endoscope", resource_id: "other2", kind: "video" });
    expect(e.streamFor("endoscope")).toBe(stream);
    e.dispose();
  });

  it("exposes per-slot inbound stats on window for the E2E test", async () => {
    server([["GET", /\/media$/, media], ["POST", /\/whep$/, whep]]);
    const e = engine({ wanted: ["endoscope"] });
    await vi.waitFor(() => expect(e.streamFor("endoscope")).not.toBeNull());
    last().decoded("0", 7);
    const inbound = await window.__livesurgeryMedia?.inbound();
    expect(inbound?.[0]).toEqual({ slot: 0, source: "endoscope", framesDecoded: 7, frameWidth: 640, frameHeight: 480 });
    expect(inbound?.[1]).toEqual({ slot: 1, source: null, framesDecoded: 0 });
    e.dispose();
  });
});

describe("the end of the session", () => {
  it("lets every resource go without DELETEs the server would refuse", async () => {
    vi.stubGlobal("navigator", {
      mediaDevices: {
        getUserMedia: vi.fn(async () => new FakeStream([new FakeTrack("cam")])),
        enumerateDevices: vi.fn(async () => []),
        addEventListener: vi.fn(),
        removeEventListener: vi.fn(),
      },
    });
    const sent = server([
      ["GET", /\/media$/, media],
      ["POST", /\/whep$/, whep],
      ["POST", /\/whip$/, () => new Response(answerSdp(1), { status: 201, headers: { Location: `/v1/sessions/${SID}/whip/pub-1` } })],
    ]);
    const e = engine({ wanted: ["endoscope"] });
    await vi.waitFor(() => expect(e.streamFor("endoscope")).not.toBeNull());
    await e.publish("endoscope");
    e.onSessionEvent("SessionEnded", {});
    expect(e.streamFor("endoscope")).toBeNull();
    expect(e.getSnapshot().published[0]).toMatchObject({ state: "failed", error: '"endoscope" stopped: the session has ended.' });
    expect(e.getSnapshot().error).toBe("Live video stopped: the session has ended.");
    e.setWanted(["room-cam"]);
    e.dispose();
    await new Promise((r) => setTimeout(r, 50));
    expect(sent.filter((r) => r.method === "DELETE")).toEqual([]);
    expect(FakePeerConnection.all.every((pc) => pc.closed)).toBe(true);
  });
});

describe("the session's sources", () => {
  it("knows which sources the server says are stalled, and since when", async () => {
    let stalled = true;
    server([
      ["GET", /\/media$/, () => json({ sources: [
        { source: "endoscope", resource_id: "r", participant_id: "p", user_id: "u", tracks: [], stalled, stalled_since: stalled ? "2026-12-04T08:00:00Z" : null },
        { source: "room-cam", resource_id: "r2", participant_id: "p", user_id: "u", tracks: [], stalled: false, stalled_since: null },
      ], subscriptions: [] })],
    ]);
    const e = engine();
    await vi.waitFor(() => expect(e.getSnapshot().sourceStalledSince).toEqual({ endoscope: Date.parse("2026-12-04T08:00:00Z") }));
    stalled = false;
    e.onSessionEvent("TrackPublished", { source: "room-cam", kind: "video" });
    await vi.waitFor(() => expect(e.getSnapshot().sourceStalledSince).toEqual({}));
  });

  it("lists them from GET .../media and refreshes on media events", async () => {
    let sources = ["endoscope"];
    const sent = server([
      ["GET", /\/media$/, () => json({ sources: sources.map((source) => ({ source, resource_id: "r", participant_id: "p", user_id: "u", tracks: [] })), subscriptions: [] })],
    ]);
    const e = engine();
    await vi.waitFor(() => expect(e.getSnapshot().sessionSources).toEqual(["endoscope"]));
    // Who publishes each, from the same answer.
    expect(e.getSnapshot().sourcePublishers).toEqual({ endoscope: "u" });
    sources = ["endoscope", "room-cam"];
    e.onSessionEvent("LayoutUpdated", {});
    e.onSessionEvent("TrackPublished", { source: "room-cam", kind: "video" });
    // At once from the event, then confirmed by the server.
    expect(e.getSnapshot().sessionSources).toEqual(["endoscope", "room-cam"]);
    await vi.waitFor(() => expect(sent).toHaveLength(2));
    sources = ["room-cam"];
    e.onSessionEvent("PublisherDisconnected", { source: "endoscope", resource_id: "r", reason: "deleted" });
    expect(e.getSnapshot().sessionSources).toEqual(["room-cam"]);
    await vi.waitFor(() => expect(sent).toHaveLength(3));
    expect(e.getSnapshot().sessionSources).toEqual(["room-cam"]);
    e.dispose();
  });
});

describe("publishing", () => {
  function camera() {
    const track = new FakeTrack("Fake camera");
    const getUserMedia = vi.fn(async () => new FakeStream([track]));
    const enumerateDevices = vi.fn(async () => [
      { kind: "videoinput", deviceId: "cam1", label: "Fake camera", groupId: "g" },
      { kind: "audioinput", deviceId: "mic1", label: "Mic", groupId: "g" },
    ]);
    vi.stubGlobal("navigator", { mediaDevices: { getUserMedia, enumerateDevices, addEventListener: vi.fn(), removeEventListener: vi.fn() } });
    return { track, getUserMedia };
  }

  it("publishes the chosen camera over WHIP as a named source, live once connected", async () => {
    const { getUserMedia } = camera();
    const sent = server([
      ["GET", /\/media$/, media],
      ["POST", /\/whip$/, () => new Response(answerSdp(1), { status: 201, headers: { Location: `/v1/sessions/${SID}/whip/pub-1` } })],
      ["DELETE", /\/whip\//, ok],
    ]);
    const e = engine();
    await vi.waitFor(() => expect(e.getSnapshot().devices.map((d) => d.deviceId)).toEqual(["cam1", "mic1"]));
    await e.publish("endoscope", "cam1");
    expect(getUserMedia).toHaveBeenCalledWith({ video: { deviceId: { exact: "cam1" } }, audio: false });
    const post = sent.find((r) => r.method === "POST");
    expect(post?.url.search).toBe("?source=endoscope");
    expect(post?.headers.get("Authorization")).toBe("Bearer sfu-token");
    expect(last().transceivers[0]?.direction).toBe("sendonly");
    expect(e.getSnapshot().published).toMatchObject([{ source: "endoscope", deviceLabel: "Fake camera", state: "connecting" }]);
    expect(window.__livesurgeryMedia?.published()).toEqual([]);
    last().become("connected");
    expect(e.getSnapshot().published[0]?.state).toBe("live");
    expect(window.__livesurgeryMedia?.published()).toEqual(["endoscope"]);

    await e.unpublish("endoscope");
    expect(sent.find((r) => r.method === "DELETE")?.url.pathname).toBe(`/v1/sessions/${SID}/whip/pub-1`);
    expect(last().closed).toBe(true);
    expect(e.getSnapshot().published).toEqual([]);
    e.dispose();
  });

  it("publishes the chosen microphone with the camera in the same WHIP offer, and mutes it", async () => {
    const video = new FakeTrack("Fake camera");
    const mic = new FakeTrack("Fake mic", "audio");
    const getUserMedia = vi.fn(async () => new FakeStream([video, mic]));
    vi.stubGlobal("navigator", { mediaDevices: { getUserMedia, enumerateDevices: vi.fn(async () => []), addEventListener: vi.fn(), removeEventListener: vi.fn() } });
    const sent = server([
      ["GET", /\/media$/, media],
      ["POST", /\/whip$/, () => new Response(answerSdp(1), { status: 201, headers: { Location: `/v1/sessions/${SID}/whip/pub-1` } })],
      ["DELETE", /\/whip\//, ok],
    ]);
    const e = engine();
    await e.publish("endoscope", "cam1", { deviceId: "mic1" });
    expect(getUserMedia).toHaveBeenCalledWith({ video: { deviceId: { exact: "cam1" } }, audio: { deviceId: { exact: "mic1" } } });
    const offer = sent.find((r) => r.method === "POST")?.body;
    expect(offer).toMatch(/m=video[\s\S]*m=audio/);
    expect(last().transceivers.map((t) => [t.sending?.kind, t.direction])).toEqual([
      ["video", "sendonly"],
      ["audio", "sendonly"],
    ]);
    expect(e.getSnapshot().published[0]).toMatchObject({ source: "endoscope", deviceId: "cam1", audio: { deviceId: "mic1" }, muted: false });

    e.setMuted("endoscope", true);
    expect(mic.enabled).toBe(false);
    expect(video.enabled).toBe(true);
    expect(e.getSnapshot().published[0]?.muted).toBe(true);
    e.setMuted("endoscope", false);
    expect(mic.enabled).toBe(true);
    await e.unpublish("endoscope");
    expect(mic.stopped).toBe(true);
    e.dispose();
  });

  it("keeps a refused source as failed with the reason, and frees the camera", async () => {
    const { track } = camera();
    server([
      ["GET", /\/media$/, media],
      ["POST", /\/whip$/, () => json({ error: { code: "source_taken", message: "taken", request_id: "r" } }, 409)],
    ]);
    const e = engine();
    await expect(e.publish("endoscope")).rejects.toThrow('A source named "endoscope" is already published in this session. Choose another name.');
    expect(e.getSnapshot().published).toMatchObject([{ source: "endoscope", state: "failed", error: expect.stringMatching(/Choose another name/) }]);
    expect(track.stopped).toBe(true);
    expect(last().closed).toBe(true);
    e.dispose();
  });

  it("says how to allow a refused camera", async () => {
    const denied = Object.assign(new Error("Permission denied"), { name: "NotAllowedError" });
    vi.stubGlobal("navigator", { mediaDevices: { getUserMedia: vi.fn(async () => Promise.reject(denied)), enumerateDevices: vi.fn(async () => []), addEventListener: vi.fn(), removeEventListener: vi.fn() } });
    server([["GET", /\/media$/, media]]);
    const e = engine();
    await expect(e.publish("endoscope")).rejects.toThrow(/Camera access was refused/);
    expect(e.getSnapshot().published[0]).toMatchObject({ state: "failed", error: expect.stringMatching(/Allow the camera/) });
    expect(pcs()).toHaveLength(0);
    e.dispose();
  });

  it("marks a source failed when its connection fails, with an alert", async () => {
    camera();
    server([
      ["GET", /\/media$/, media],
      ["POST", /\/whip$/, () => new Response(answerSdp(1), { status: 201, headers: { Location: `/v1/sessions/${SID}/whip/pub-1` } })],
      ["DELETE", /\/whip\//, ok],
    ]);
    const e = engine();
    await e.publish("room-cam");
    last().become("failed");
    expect(e.getSnapshot().published[0]).toMatchObject({ state: "failed", error: expect.stringMatching(/"room-cam" failed/) });
    expect(e.getSnapshot().error).toMatch(/firewall/);
    e.dispose();
  });

  it("refuses to publish for an observer and for a bad name, without asking for the camera", async () => {
    const { getUserMedia } = camera();
    server([["GET", /\/media$/, media]]);
    const observer = engine({ canPublish: false });
    await expect(observer.publish("endoscope")).rejects.toThrow(/observers can only watch/);
    observer.dispose();
    const e = engine();
    await expect(e.publish("Room Cam")).rejects.toThrow(/lowercase letters/);
    expect(getUserMedia).not.toHaveBeenCalled();
    e.dispose();
  });
});
