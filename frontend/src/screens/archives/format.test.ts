import { describe, expect, it } from "vitest";
import { archiveOf } from "./fixtures";
import { formatBytes, formatDuration, isPlayable, percentOf, shortId } from "./format";
import { mergeArchives } from "./useArchives";
import { retentionPatch } from "./RetentionEditor";
import { mediaProblem } from "./ArchivePlayer";

describe("archive words", () => {
  it("says sizes in decimal units and durations as a clock", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(2_400_000)).toBe("2.4 MB");
    expect(formatBytes(734_000_000)).toBe("734 MB");
    expect(formatBytes(null)).toBe("—");
    expect(formatDuration(0)).toBe("0:00");
    expect(formatDuration(65_000)).toBe("1:05");
    expect(formatDuration(3_725_400)).toBe("1:02:05");
    expect(formatDuration(null)).toBe("—");
  });

  it("turns progress into a clamped percentage, and none into none", () => {
    expect(percentOf(0.424)).toBe(42);
    expect(percentOf(1.2)).toBe(100);
    expect(percentOf(null)).toBeNull();
  });

  it("calls only ready and incomplete archives playable", () => {
    expect(["recording", "processing", "ready", "incomplete", "failed", "expired"].filter((s) => isPlayable(archiveOf({ status: s as never })))).toEqual([
      "ready",
      "incomplete",
    ]);
    expect(shortId("aaaaaaaa-0000-7000")).toBe("aaaaaaaa");
  });
});

describe("mergeArchives", () => {
  it("keeps the server's first page order, adds new ones and refreshes those beyond it", () => {
    const a = archiveOf({ id: "a", status: "processing", progress: 0.1 });
    const b = archiveOf({ id: "b", status: "recording" });
    const c = archiveOf({ id: "c", status: "processing", progress: 0.2 });
    const fresh = [archiveOf({ id: "new" }), { ...a, progress: 0.5 }];
    const merged = mergeArchives([a, b, c], fresh, [{ ...c, status: "ready", progress: null }]);
    expect(merged.map((x) => x.id)).toEqual(["new", "a", "b", "c"]);
    expect(merged[1]?.progress).toBe(0.5);
    expect(merged[3]?.status).toBe("ready");
  });
});

describe("retentionPatch", () => {
  const archive = archiveOf({ expires_at: "2027-01-02T08:00:00Z", legal_hold: false });
  it("sends only what changed, and nothing when nothing did", () => {
    const local = (iso: string) => {
      const d = new Date(iso);
      const pad = (n: number) => String(n).padStart(2, "0");
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    };
    expect(retentionPatch(archive, local(archive.expires_at), false)).toBeNull();
    expect(retentionPatch(archive, local(archive.expires_at), true)).toEqual({ legal_hold: true });
    expect(retentionPatch(archive, local("2027-06-01T10:30:00Z"), false)).toEqual({ expires_at: "2027-06-01T10:30:00Z" });
    expect(() => retentionPatch(archive, "", false)).toThrow("expiry");
  });
});

describe("mediaProblem", () => {
  const playback = { content_type: "video/mp4", expires_at: "2026-12-03T09:00:00Z" };
  it("says the link expired once its time is up, whatever the element reports", () => {
    const p = mediaProblem(4, playback, Date.parse("2026-12-03T09:00:01Z"));
    expect(p.expired).toBe(true);
    expect(p.text).toMatch(/playback link expired/);
  });
  it("names the content type when the browser cannot play or decode it", () => {
    const now = Date.parse("2026-12-03T08:59:00Z");
    expect(mediaProblem(4, playback, now)).toEqual({ text: expect.stringContaining("cannot play this recording (video/mp4)"), expired: false });
    expect(mediaProblem(3, playback, now).text).toContain("could not be decoded (video/mp4)");
    expect(mediaProblem(2, playback, now).text).toContain("network error");
  });
});
