import { describe, expect, it } from "vitest";
import { archiveOf } from "./fixtures";
import { endOf, placeAt, sourcesOf, spansOf } from "./timing";

const t = (iso: string) => Date.parse(iso);

// endoscope recorded 08:00:00-08:00:10 and again 08:05:00-08:05:30; room-cam 08:00:02-08:00:12.
const first = archiveOf({ id: "e1" });
const second = archiveOf({
  id: "e2",
  started_at: "2026-12-03T08:05:00.000Z",
  ended_at: "2026-12-03T08:05:30.000Z",
  duration_ms: 30_000,
});
const cam = archiveOf({ id: "c1", source: "room-cam", started_at: "2026-12-03T08:00:02.000Z", ended_at: "2026-12-03T08:00:12.000Z" });
const all = [second, cam, first];

describe("placeAt", () => {
  it("maps a moment inside an archive to its offset from the archive's start", () => {
    expect(placeAt(all, "endoscope", t("2026-12-03T08:00:04.250Z"))).toEqual({ archive: first, offsetMs: 4250 });
    expect(placeAt(all, "endoscope", t("2026-12-03T08:05:29.000Z"))).toEqual({ archive: second, offsetMs: 29_000 });
    expect(placeAt(all, "room-cam", t("2026-12-03T08:00:04.250Z"))).toEqual({ archive: cam, offsetMs: 2250 });
  });

  it("includes both ends of an archive", () => {
    expect(placeAt(all, "endoscope", t("2026-12-03T08:00:00.000Z"))?.offsetMs).toBe(0);
    expect(placeAt(all, "endoscope", t("2026-12-03T08:00:10.000Z"))?.offsetMs).toBe(10_000);
  });

  it("finds nothing before, between and after the recordings, or for another source", () => {
    expect(placeAt(all, "endoscope", t("2026-12-03T07:59:59.999Z"))).toBeNull();
    expect(placeAt(all, "endoscope", t("2026-12-03T08:00:10.001Z"))).toBeNull();
    expect(placeAt(all, "endoscope", t("2026-12-03T08:02:00.000Z"))).toBeNull();
    expect(placeAt(all, "endoscope", t("2026-12-03T08:06:00.000Z"))).toBeNull();
    expect(placeAt(all, "vitals", t("2026-12-03T08:00:04.000Z"))).toBeNull();
  });

  it("lets an archive still recording cover everything after its start", () => {
    const open = archiveOf({ id: "o", status: "recording", ended_at: null, duration_ms: null });
    expect(endOf(open)).toBeNull();
    expect(placeAt([open], "endoscope", t("2026-12-03T09:00:00.000Z"))?.offsetMs).toBe(3_600_000);
  });

  it("falls back to start + duration when the end is not known", () => {
    const a = archiveOf({ ended_at: null, duration_ms: 5000, status: "incomplete" });
    expect(endOf(a)).toBe(t("2026-12-03T08:00:05.000Z"));
    expect(placeAt([a], "endoscope", t("2026-12-03T08:00:06.000Z"))).toBeNull();
  });
});

describe("sources and spans", () => {
  it("lists sources in order of first recording, and each source's spans", () => {
    expect(sourcesOf(all)).toEqual(["endoscope", "room-cam"]);
    expect(spansOf(all, "endoscope")).toEqual([
      { start: first.started_at, end: "2026-12-03T08:00:10.000Z" },
      { start: second.started_at, end: "2026-12-03T08:05:30.000Z" },
    ]);
  });
});
