import { describe, expect, it } from "vitest";
import type { Session } from "../../api/client";
import { createBody, formOf, updateBody, validateDetails } from "./details";
import { localInputToRfc3339 } from "./time";

const session: Session = {
  id: "s1",
  title: "Lap chole",
  procedure: "Cholecystectomy",
  scheduled_start: "2026-12-03T07:00:00Z",
  status: "scheduled",
  created_by: "u1",
  created_at: "2026-12-01T08:00:00Z",
  recording: "idle",
  member_count: 1,
  updated_at: "2026-12-01T08:00:00Z",
};

describe("validateDetails", () => {
  it("wants a title of at most 200 characters", () => {
    expect(validateDetails({ title: "  ", procedure: "", scheduledStart: "" }).title).toBe("Enter a title.");
    expect(validateDetails({ title: "x".repeat(201), procedure: "", scheduledStart: "" }).title).toMatch(/200/);
    expect(validateDetails({ title: "ok", procedure: "", scheduledStart: "" })).toEqual({});
  });
});

describe("createBody", () => {
  it("trims, and leaves out empty optional fields", () => {
    expect(createBody({ title: " Lap chole ", procedure: " ", scheduledStart: "" })).toEqual({ title: "Lap chole" });
  });
  it("sends the scheduled start as RFC 3339 UTC", () => {
    expect(createBody({ title: "A", procedure: "B", scheduledStart: "2026-12-03T08:00" })).toEqual({
      title: "A",
      procedure: "B",
      scheduled_start: localInputToRfc3339("2026-12-03T08:00"),
    });
  });
});

describe("updateBody", () => {
  it("is null when nothing changed", () => {
    expect(updateBody(session, formOf(session))).toBeNull();
  });
  it("sends only the changed fields, and null to clear", () => {
    const form = { ...formOf(session), title: "Lap chole (2)", procedure: "" };
    expect(updateBody(session, form)).toEqual({ title: "Lap chole (2)", procedure: null });
    expect(updateBody(session, { ...formOf(session), scheduledStart: "" })).toEqual({ scheduled_start: null });
  });
});
