import { act, renderHook, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JoinResponse } from "../api/client";
import { FakePeerConnection, FakeStream, FakeTrack, answerSdp } from "./fakeWebRtc";
import type { MediaOptions } from "./types";
import { useSessionMedia } from "./useSessionMedia";

const SID = "0190a1b2-0000-7000-8000-00000000000b";
const join = (token: string): JoinResponse => ({
  participant_id: "p1",
  role: "observer",
  permissions: ["subscribe"],
  ws: { url: "ws://h/ws", token: "w" },
  sfu: { whip_url: `/v1/sessions/${SID}/whip`, whep_url: `/v1/sessions/${SID}/whep`, node_id: "node-a", token },
  ice_servers: [],
  expires_at: "2030-01-01T00:00:00Z",
  recording: { active: false, recording_id: null },
});

afterEach(() => vi.unstubAllGlobals());

describe("useSessionMedia", () => {
  it("is idle without a join, then subscribes to what the panels wanted meanwhile", async () => {
    FakePeerConnection.all = [];
    vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
    vi.stubGlobal("MediaStream", FakeStream);
    const posts: Array<{ url: string; auth: string | null }> = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
        const url = input instanceof Request ? input.url : String(input);
        if (url.includes("/whep") && init?.method === "POST") {
          posts.push({ url, auth: new Headers(init.headers).get("Authorization") });
          return new Response(answerSdp(4), { status: 201, headers: { Location: `/v1/sessions/${SID}/whep/r${posts.length}` } });
        }
        if (url.endsWith("/media")) return new Response(JSON.stringify({ sources: [], subscriptions: [] }), { status: 200 });
        return new Response(null, { status: 200 });
      }),
    );
    const options = (token: string): MediaOptions => ({
      sessionId: SID,
      join: join(token),
      joinedAt: Date.now(),
      canPublish: false,
      sendFirstFrame: () => {},
    });
    const { result, rerender, unmount } = renderHook(({ o }: { o: MediaOptions | null }) => useSessionMedia(o), {
      initialProps: { o: null as MediaOptions | null },
    });
    expect(result.current.streamFor("endoscope")).toBeNull();
    await expect(result.current.publish("endoscope")).rejects.toThrow(/not connected yet/);
    act(() => result.current.setWanted(["endoscope"]));

    rerender({ o: options("t1") });
    await waitFor(() => expect(result.current.streamFor("endoscope")).not.toBeNull());
    expect(posts).toEqual([{ url: `${location.origin}/v1/sessions/${SID}/whep?slots=endoscope`, auth: "Bearer t1" }]);

    // A new join (token refresh): everything of the old one goes, the panels' wish stays.
    rerender({ o: options("t2") });
    await waitFor(() => expect(posts).toHaveLength(2));
    expect(posts[1]?.auth).toBe("Bearer t2");
    expect(FakePeerConnection.all[0]?.closed).toBe(true);
    unmount();
    await waitFor(() => expect(FakePeerConnection.all[1]?.closed).toBe(true));
  });

  it("publishes and subscribes again at the node the media was placed on, with the same token", async () => {
    FakePeerConnection.all = [];
    vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
    vi.stubGlobal("MediaStream", FakeStream);
    vi.stubGlobal("navigator", {
      mediaDevices: {
        getUserMedia: vi.fn(async () => new FakeStream([new FakeTrack("cam")])),
        enumerateDevices: vi.fn(async () => []),
        addEventListener: vi.fn(),
        removeEventListener: vi.fn(),
      },
    });
    const posts: Array<{ url: string; auth: string | null }> = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
        const url = input instanceof Request ? input.url : String(input);
        if (init?.method === "POST" && /\/wh[ie]p(\?|$)/.test(url)) {
          posts.push({ url, auth: new Headers(init.headers).get("Authorization") });
          const whip = url.includes("/whip");
          return new Response(answerSdp(whip ? 1 : 4), { status: 201, headers: { Location: `${url.split("?")[0]}/r${posts.length}` } });
        }
        if (url.endsWith("/media")) return new Response(JSON.stringify({ sources: [], subscriptions: [] }), { status: 200 });
        return new Response(null, { status: 200 });
      }),
    );
    const at = (base: string): MediaOptions => {
      const j = join("sfu-t");
      return {
        sessionId: SID,
        join: { ...j, sfu: { ...j.sfu, whip_url: `${base}/v1/sessions/${SID}/whip`, whep_url: `${base}/v1/sessions/${SID}/whep` } },
        joinedAt: 1,
        canPublish: true,
        sendFirstFrame: () => {},
      };
    };
    const { result, rerender, unmount } = renderHook(({ o }: { o: MediaOptions }) => useSessionMedia(o), {
      initialProps: { o: at("https://a.example.org") },
    });
    act(() => result.current.setWanted(["endoscope"]));
    await act(async () => {
      await result.current.publish("endoscope");
    });
    await waitFor(() => expect(posts).toHaveLength(2));
    expect(posts.every((p) => p.url.startsWith("https://a.example.org/"))).toBe(true);

    // `media.placed`: the workspace hands the same join with node B's URLs.
    rerender({ o: at("https://b.example.org") });
    await waitFor(() => expect(posts).toHaveLength(4));
    const again = posts.slice(2).map((p) => p.url.split("?")[0]).sort();
    expect(again).toEqual([`https://b.example.org/v1/sessions/${SID}/whep`, `https://b.example.org/v1/sessions/${SID}/whip`]);
    expect(posts.slice(2).map((p) => p.auth)).toEqual(["Bearer sfu-t", "Bearer sfu-t"]);
    expect(FakePeerConnection.all.slice(0, 2).every((pc) => pc.closed)).toBe(true);
    unmount();
  });

  it("publishes again on a new join what this browser published, and not what it stopped", async () => {
    FakePeerConnection.all = [];
    vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
    vi.stubGlobal("MediaStream", FakeStream);
    const getUserMedia = vi.fn(async () => new FakeStream([new FakeTrack("cam")]));
    vi.stubGlobal("navigator", {
      mediaDevices: { getUserMedia, enumerateDevices: vi.fn(async () => []), addEventListener: vi.fn(), removeEventListener: vi.fn() },
    });
    const whips: Array<{ url: string; auth: string | null }> = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
        const url = input instanceof Request ? input.url : String(input);
        if (/\/whip(\?|$)/.test(url) && init?.method === "POST") {
          whips.push({ url, auth: new Headers(init.headers).get("Authorization") });
          return new Response(answerSdp(1), { status: 201, headers: { Location: `/v1/sessions/${SID}/whip/p${whips.length}` } });
        }
        if (url.endsWith("/media")) return new Response(JSON.stringify({ sources: [], subscriptions: [] }), { status: 200 });
        return new Response(null, { status: 200 });
      }),
    );
    const options = (token: string): MediaOptions => ({
      sessionId: SID,
      join: join(token),
      joinedAt: Date.now(),
      canPublish: true,
      sendFirstFrame: () => {},
    });
    const { result, rerender, unmount } = renderHook(({ o }: { o: MediaOptions | null }) => useSessionMedia(o), {
      initialProps: { o: options("t1") },
    });
    await waitFor(() => expect(result.current.devices).toBeDefined());
    await act(async () => {
      await result.current.publish("endoscope", "cam1");
      await result.current.publish("room-camera");
    });
    await act(async () => {
      await result.current.unpublish("room-camera");
    });
    expect(whips.map((w) => w.auth)).toEqual(["Bearer t1", "Bearer t1"]);

    // A renewal: the new join publishes the endoscope again, with its camera and its own token.
    rerender({ o: options("t2") });
    await waitFor(() => expect(whips).toHaveLength(3));
    expect(whips[2]?.auth).toBe("Bearer t2");
    expect(getUserMedia).toHaveBeenLastCalledWith({ video: { deviceId: { exact: "cam1" } }, audio: false });
    await new Promise((r) => setTimeout(r, 50));
    expect(whips).toHaveLength(3);
    unmount();
  });
});
