import { describe, expect, it } from "vitest";
import { SOURCE_LABEL, resolveUrl, resourceIdOf, subscribeUrlFor, whepUrlFor, whipUrlFor } from "./url";

const S = "0190a1b2-0000-7000-8000-000000000001";

describe("media URLs", () => {
  it("accepts absolute URLs and paths from the join answer", () => {
    expect(resolveUrl("/v1/sessions/x/whip", "http://app.example/sessions/x/workspace")).toBe("http://app.example/v1/sessions/x/whip");
    expect(resolveUrl("https://sfu.example/v1/sessions/x/whip", "http://app.example/")).toBe("https://sfu.example/v1/sessions/x/whip");
    // jsdom's page origin is the default base
    expect(resolveUrl("/v1/a")).toBe(`${location.origin}/v1/a`);
  });
  it("adds the source label to WHIP, replacing one already there", () => {
    expect(whipUrlFor(`/v1/sessions/${S}/whip`, "room-cam", "http://h/")).toBe(`http://h/v1/sessions/${S}/whip?source=room-cam`);
    expect(whipUrlFor("http://h/whip?source=old&x=1", "endoscope")).toBe("http://h/whip?source=endoscope&x=1");
  });
  it("lists WHEP slots with literal commas, and none when nothing is asked", () => {
    expect(whepUrlFor("http://h/v1/sessions/s/whep", ["endoscope", "room-cam"])).toBe("http://h/v1/sessions/s/whep?slots=endoscope,room-cam");
    expect(whepUrlFor("http://h/v1/sessions/s/whep?slots=old", [])).toBe("http://h/v1/sessions/s/whep");
    expect(whepUrlFor("http://h/p/whep?k=v", ["a b"])).toBe("http://h/p/whep?k=v&slots=a%20b");
  });
  it("puts media:subscribe beside WHEP (same server, same prefix)", () => {
    expect(subscribeUrlFor(`https://sfu.example/base/v1/sessions/${S}/whep?slots=a`, S)).toBe(
      `https://sfu.example/base/v1/sessions/${S}/media:subscribe`,
    );
    expect(subscribeUrlFor("http://h/odd/endpoint", S)).toBe(`http://h/v1/sessions/${S}/media:subscribe`);
  });
  it("reads the resource id from a Location", () => {
    expect(resourceIdOf(`/v1/sessions/${S}/whip/abc-123`)).toBe("abc-123");
    expect(resourceIdOf("http://h/v1/sessions/s/whep/r1/")).toBe("r1");
    expect(resourceIdOf("")).toBeNull();
  });
  it("knows the server's source labels", () => {
    expect(SOURCE_LABEL.test("room-cam.2_b")).toBe(true);
    expect(SOURCE_LABEL.test("Room cam")).toBe(false);
    expect(SOURCE_LABEL.test("x".repeat(65))).toBe(false);
  });
});
