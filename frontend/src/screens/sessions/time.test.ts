import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatDateTime, localInputToRfc3339, rfc3339ToLocalInput } from "./time";

const zone = process.env.TZ;
beforeAll(() => {
  process.env.TZ = "Europe/Berlin";
});
afterAll(() => {
  process.env.TZ = zone;
});

describe("localInputToRfc3339", () => {
  it("reads the field as local time and sends UTC", () => {
    expect(localInputToRfc3339("2026-12-03T08:00")).toBe("2026-12-03T07:00:00Z");
    // Summer time: two hours ahead of UTC.
    expect(localInputToRfc3339("2026-07-01T08:30")).toBe("2026-07-01T06:30:00Z");
  });
  it("sends nothing for an empty field", () => {
    expect(localInputToRfc3339("")).toBeNull();
    expect(localInputToRfc3339("  ")).toBeNull();
  });
  it("refuses what is not a date and time", () => {
    expect(() => localInputToRfc3339("tomorrow")).toThrow(RangeError);
    expect(() => localInputToRfc3339("2026-13-45T99:00")).toThrow(RangeError);
    // An offset would be silently applied by Date: not what the field means.
    expect(() => localInputToRfc3339("2026-12-03T08:00Z")).toThrow(RangeError);
  });
});

describe("rfc3339ToLocalInput", () => {
  it("shows a UTC time in the local zone, and round-trips", () => {
    expect(rfc3339ToLocalInput("2026-12-03T07:00:00Z")).toBe("2026-12-03T08:00");
    expect(localInputToRfc3339(rfc3339ToLocalInput("2026-07-01T06:30:00Z"))).toBe("2026-07-01T06:30:00Z");
  });
  it("is empty for none", () => {
    expect(rfc3339ToLocalInput(null)).toBe("");
    expect(rfc3339ToLocalInput(undefined)).toBe("");
  });
});

describe("formatDateTime", () => {
  it("formats in the given locale and zone", () => {
    expect(formatDateTime("2026-12-03T07:00:00Z", "en-GB", "UTC")).toBe("3 Dec 2026, 07:00");
    expect(formatDateTime("2026-12-03T07:00:00Z", "de-DE", "Europe/Berlin")).toBe("03.12.2026, 08:00");
  });
  it("shows a dash for no time", () => {
    expect(formatDateTime(null)).toBe("—");
  });
});
