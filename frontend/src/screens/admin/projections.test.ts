import { describe, expect, it } from "vitest";
import type { Projection } from "../../api/client";
import { rebuildOutcome, rebuildProgress, statusText } from "./projections";

const p = (over: Partial<Projection> = {}): Projection => ({
  name: "sessions",
  position: 40,
  lag: 0,
  generation: 1,
  updated_at: "2026-12-02T10:00:00Z",
  rebuilding: false,
  rebuild_position: null,
  ...over,
});

describe("rebuildProgress", () => {
  it("is indeterminate until the rebuild reports a position", () => {
    expect(rebuildProgress(p({ rebuilding: true }), 40)).toEqual({ value: null, max: 40, text: "Starting…" });
  });
  it("counts events against the log head", () => {
    expect(rebuildProgress(p({ rebuilding: true, rebuild_position: 10 }), 40)).toEqual({ value: 10, max: 40, text: "10 of 40 events (25%)" });
  });
  it("never goes past the end", () => {
    expect(rebuildProgress(p({ rebuilding: true, rebuild_position: 50 }), 40).value).toBe(40);
  });
});

describe("statusText", () => {
  it("names rebuilding, up to date and lag", () => {
    expect(statusText(p({ rebuilding: true }))).toBe("Rebuilding");
    expect(statusText(p())).toBe("Up to date");
    expect(statusText(p({ lag: 3 }))).toBe("3 behind");
  });
});

describe("rebuildOutcome", () => {
  it("is done once the generation grew", () => {
    expect(rebuildOutcome(p({ generation: 2 }), 1)).toBe("done");
    expect(rebuildOutcome(p({ generation: 2, rebuilding: true }), 1)).toBe("done");
  });
  it("is running while the flag is up at the old generation", () => {
    expect(rebuildOutcome(p({ rebuilding: true }), 1)).toBe("running");
  });
  it("stopped when it ended without a new generation", () => {
    expect(rebuildOutcome(p(), 1)).toBe("stopped");
    expect(rebuildOutcome(undefined, 1)).toBe("stopped");
  });
});
