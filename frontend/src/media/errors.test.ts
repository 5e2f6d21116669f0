import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import { cameraErrorText, connectionFailedText, isRetryable, publishErrorText, receiveErrorText } from "./errors";

const dom = (name: string) => Object.assign(new Error("x"), { name });

describe("camera errors", () => {
  it("says how to allow a refused camera", () => {
    expect(cameraErrorText(dom("NotAllowedError"))).toMatch(/refused.*Allow the camera/);
  });
  it("names a missing or busy camera", () => {
    expect(cameraErrorText(dom("NotFoundError"))).toMatch(/not found/);
    expect(cameraErrorText(dom("OverconstrainedError"))).toMatch(/not found/);
    expect(cameraErrorText(dom("NotReadableError"))).toMatch(/another application/);
  });
});

describe("publish errors", () => {
  it("asks for another name when the label is taken (409)", () => {
    const err = new ApiError(409, "source_taken", "taken", "r1");
    expect(publishErrorText(err, "endoscope")).toBe('A source named "endoscope" is already published in this session. Choose another name.');
  });
  it("explains a refusal for the role (403) with the request id", () => {
    const text = publishErrorText(new ApiError(403, "forbidden", "observers may not publish", "req-9"), "x");
    expect(text).toMatch(/observers can only watch/);
    expect(text).toContain("req-9");
  });
  it("tells when the session is not live, the token expired, or the server is away", () => {
    expect(publishErrorText(new ApiError(409, "session_not_live", "m", null), "x")).toMatch(/only while the session is live/);
    expect(publishErrorText(new ApiError(401, "token_expired", "m", null), "x")).toMatch(/open it again/);
    expect(publishErrorText(new TypeError("Failed to fetch"), "x")).toMatch(/cannot be reached/);
  });
});

describe("receive errors", () => {
  it("maps the server's refusals", () => {
    expect(receiveErrorText(new ApiError(403, "forbidden", "no", null))).toMatch(/may not receive/);
    expect(receiveErrorText(new ApiError(400, "too_many_slots", "at most 16 slots", null))).toMatch(/At most 16/);
    expect(receiveErrorText(new ApiError(500, "internal_error", "boom", "r2"))).toBe("Live video could not be started: boom (request r2)");
  });
  it("retries what time can fix, not refusals", () => {
    expect(isRetryable(new TypeError("Failed to fetch"))).toBe(true);
    expect(isRetryable(new ApiError(503, "sfu_unavailable", "m", null))).toBe(true);
    expect(isRetryable(new ApiError(404, "not_found", "no subscription", null))).toBe(true);
    expect(isRetryable(new ApiError(403, "forbidden", "m", null))).toBe(false);
    expect(isRetryable(new ApiError(401, "token_expired", "m", null))).toBe(false);
  });
  it("says a lost connection is being repaired, and a failed publish what to check", () => {
    expect(connectionFailedText(null)).toMatch(/reconnecting/);
    expect(connectionFailedText("endoscope")).toMatch(/"endoscope".*firewall/);
  });
});
