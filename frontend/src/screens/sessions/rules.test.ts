import { describe, expect, it } from "vitest";
import { canCreateSession, readAfter, roleBeyondOrg, sessionActions, sessionRoleOf } from "./rules";

const none = { start: false, end: false, cancel: false, edit: false, manageMembers: false, openWorkspace: false, audit: false, record: false };

describe("canCreateSession", () => {
  it("is for admins and surgeons", () => {
    expect(canCreateSession("admin")).toBe(true);
    expect(canCreateSession("surgeon")).toBe(true);
    expect(canCreateSession("observer")).toBe(false);
    expect(canCreateSession("reviewer")).toBe(false);
    expect(canCreateSession(undefined)).toBe(false);
  });
});

describe("sessionActions", () => {
  it("lets a surgeon who hosts start, edit, cancel and manage a scheduled session", () => {
    expect(sessionActions("surgeon", "host", "scheduled")).toEqual({
      ...none,
      start: true,
      cancel: true,
      edit: true,
      manageMembers: true,
    });
  });
  it("lets the host end a live session and open its workspace, not start or cancel it", () => {
    expect(sessionActions("surgeon", "host", "live")).toEqual({
      ...none,
      end: true,
      edit: true,
      manageMembers: true,
      openWorkspace: true,
      record: true,
    });
  });
  it("gives a surgeon who is not host only the workspace and recording", () => {
    expect(sessionActions("surgeon", "surgeon", "live")).toEqual({ ...none, openWorkspace: true, record: true });
    expect(sessionActions("surgeon", "surgeon", "scheduled")).toEqual(none);
  });
  it("never lets an observer manage or record, even as host", () => {
    expect(sessionActions("observer", "host", "scheduled")).toEqual(none);
    expect(sessionActions("observer", "host", "live")).toEqual({ ...none, openWorkspace: true });
    expect(sessionActions("observer", "observer", "live")).toEqual({ ...none, openWorkspace: true });
  });
  it("lets an admin manage without being a member, but join only as one", () => {
    expect(sessionActions("admin", null, "live")).toEqual({ ...none, end: true, edit: true, manageMembers: true, audit: true, record: true });
    expect(sessionActions("admin", "observer", "live").openWorkspace).toBe(true);
  });
  it("gives a reviewer the audit trail only, never the workspace", () => {
    expect(sessionActions("reviewer", null, "live")).toEqual({ ...none, audit: true });
  });
  it("offers nothing but the audit trail on an ended or cancelled session", () => {
    expect(sessionActions("admin", "host", "ended")).toEqual({ ...none, audit: true });
    expect(sessionActions("surgeon", "host", "cancelled")).toEqual(none);
  });
});

describe("recording control", () => {
  it("is for live sessions only", () => {
    expect(sessionActions("surgeon", "host", "scheduled").record).toBe(false);
    expect(sessionActions("surgeon", "host", "ended").record).toBe(false);
    expect(sessionActions("surgeon", "observer", "live").record).toBe(false);
  });
});

describe("sessionRoleOf", () => {
  const members = [
    { user_id: "a", role: "host" as const, added_at: "2026-12-01T08:00:00Z" },
    { user_id: "b", role: "observer" as const, added_at: "2026-12-01T08:00:00Z" },
  ];
  it("finds the caller's session role", () => {
    expect(sessionRoleOf(members, "b")).toBe("observer");
    expect(sessionRoleOf(members, "c")).toBeNull();
    expect(sessionRoleOf(members, undefined)).toBeNull();
  });
});

describe("readAfter", () => {
  it("asks to wait for a write's position, and for nothing without one", () => {
    expect(readAfter(42)).toEqual({ min_position: 42 });
    expect(readAfter(null)).toEqual({});
    expect(readAfter(Number.NaN)).toEqual({});
  });
});

describe("roleBeyondOrg", () => {
  it("warns when an org observer or reviewer would be a session surgeon or host", () => {
    expect(roleBeyondOrg("observer", "surgeon")).toMatch(/an observer in the organisation/);
    expect(roleBeyondOrg("observer", "host")).toMatch(/run the session/);
    expect(roleBeyondOrg("reviewer", "surgeon")).toMatch(/a reviewer in the organisation/);
  });
  it("says nothing for a role the org role covers", () => {
    expect(roleBeyondOrg("observer", "observer")).toBeNull();
    expect(roleBeyondOrg("surgeon", "host")).toBeNull();
    expect(roleBeyondOrg("admin", "surgeon")).toBeNull();
  });
});
