import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import { deleteResource, postOffer } from "./signal";

afterEach(() => vi.unstubAllGlobals());

const answerWith = (body: string, init: ResponseInit) => vi.stubGlobal("fetch", vi.fn(async () => new Response(body, init)));

describe("postOffer", () => {
  it("returns the answer and the resource, absolute against the endpoint", async () => {
    answerWith("v=0\r\n", { status: 201, headers: { Location: "/v1/sessions/s/whip/r1" } });
    await expect(postOffer("https://sfu.example/v1/sessions/s/whip?source=a", "t", "v=0")).resolves.toEqual({
      sdp: "v=0\r\n",
      location: "https://sfu.example/v1/sessions/s/whip/r1",
    });
  });
  it("turns the server's envelope into an ApiError", async () => {
    answerWith(JSON.stringify({ error: { code: "source_taken", message: "endoscope is taken", request_id: "q" } }), {
      status: 409,
      headers: { "Content-Type": "application/json", "X-Request-Id": "q" },
    });
    const err = await postOffer("http://h/whip", "t", "v=0").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 409, code: "source_taken", requestId: "q" });
  });
  it("refuses an answer that is not SDP or has no resource", async () => {
    answerWith("<html>proxy</html>", { status: 201, headers: { Location: "/r" } });
    await expect(postOffer("http://h/whep", "t", "v=0")).rejects.toMatchObject({ code: "invalid_answer" });
    answerWith("v=0\r\n", { status: 201 });
    await expect(postOffer("http://h/whep", "t", "v=0")).rejects.toMatchObject({ code: "no_location" });
  });
});

describe("deleteResource", () => {
  it("accepts a resource the server already ended", async () => {
    answerWith(JSON.stringify({ error: { code: "not_found", message: "gone", request_id: "x" } }), { status: 404 });
    await expect(deleteResource("http://h/whip/r1", "t")).resolves.toBeUndefined();
  });
  it("reports other refusals", async () => {
    answerWith(JSON.stringify({ error: { code: "forbidden", message: "not yours", request_id: "x" } }), { status: 403 });
    await expect(deleteResource("http://h/whip/r1", "t")).rejects.toMatchObject({ status: 403, code: "forbidden" });
  });
});
