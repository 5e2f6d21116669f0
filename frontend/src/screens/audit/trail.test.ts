import { describe, expect, it } from "vitest";
import { ALICE, BOB, event } from "./fixtures";
import { actorsOf, eventTimes, filtersProblem, NO_FILTERS, pointAt, queryOf, spanOf, stepTime } from "./trail";

const events = [
  event("SessionCreated", {}, { position: 4, recorded_at: "2026-12-02T05:41:13.085081Z" }),
  event("MemberAdded", {}, { position: 5, recorded_at: "2026-12-02T05:41:13.085081Z" }),
  event("SessionStarted", {}, { position: 7, recorded_at: "2026-12-02T05:41:13.277098Z" }),
  event("AccessDenied", {}, { position: 10, recorded_at: "2026-12-02T05:41:13.277900Z", actor_user_id: BOB }),
  event("LayoutUpdated", {}, { position: 11, recorded_at: "2026-12-02T05:42:00.000001Z" }),
];
const ms = (iso: string) => new Date(iso).getTime();

describe("queryOf", () => {
  it("leaves out empty filters and always asks for a full page", () => {
    expect(queryOf(NO_FILTERS)).toEqual({ limit: 200 });
  });
  it("turns the form into query parameters, times in UTC", () => {
    const q = queryOf(
      { actor: ALICE, type: "LayoutUpdated", outcome: "denied", from: "2026-12-02T06:00", to: "2026-12-02T07:30:15" },
      "42",
    );
    expect(q).toEqual({
      actor: ALICE,
      type: "LayoutUpdated",
      outcome: "denied",
      from: new Date(2026, 11, 2, 6, 0).toISOString(),
      to: new Date(2026, 11, 2, 7, 30, 15).toISOString(),
      limit: 200,
      cursor: "42",
    });
  });
  it("refuses a time range that ends before it starts", () => {
    expect(filtersProblem({ ...NO_FILTERS, from: "2026-12-02T07:00", to: "2026-12-02T06:00" })).toMatch(/before/);
    expect(filtersProblem({ ...NO_FILTERS, from: "2026-12-02T06:00", to: "2026-12-02T07:00" })).toBeNull();
    expect(filtersProblem({ ...NO_FILTERS, from: "2026-12-02T06:00" })).toBeNull();
  });
});

describe("the scrubber", () => {
  it("spans the first to the last event, with distinct times", () => {
    expect(spanOf(events)).toEqual({ min: ms("2026-12-02T05:41:13.085Z"), max: ms("2026-12-02T05:42:00.000Z") });
    expect(eventTimes(events)).toHaveLength(3);
    expect(spanOf([])).toBeNull();
  });
  it("replays to the latest event within a millisecond, with its microseconds", () => {
    expect(pointAt(events, ms("2026-12-02T05:41:13.277Z"))).toEqual({
      ms: ms("2026-12-02T05:41:13.277Z"),
      at: "2026-12-02T05:41:13.277900Z",
    });
  });
  it("pads a time between events to the end of its millisecond", () => {
    expect(pointAt(events, ms("2026-12-02T05:41:30.500Z")).at).toBe("2026-12-02T05:41:30.500999Z");
  });
  it("steps to the previous and next event time, and stops at the ends", () => {
    const started = ms("2026-12-02T05:41:13.277Z");
    expect(stepTime(events, started, 1)).toBe(ms("2026-12-02T05:42:00.000Z"));
    expect(stepTime(events, started, -1)).toBe(ms("2026-12-02T05:41:13.085Z"));
    expect(stepTime(events, started + 5, -1)).toBe(started);
    expect(stepTime(events, ms("2026-12-02T05:42:00.000Z"), 1)).toBeNull();
    expect(stepTime(events, ms("2026-12-02T05:41:13.085Z"), -1)).toBeNull();
  });
});

describe("actorsOf", () => {
  it("lists each actor once, in order of appearance", () => {
    expect(actorsOf(events)).toEqual([ALICE, BOB]);
  });
});
