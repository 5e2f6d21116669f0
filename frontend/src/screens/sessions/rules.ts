// Who may do what on a session screen, from README "Permissions" (domain/src/permissions.rs)
// and the status machine (scheduled -> live -> ended, scheduled -> cancelled). The screens hide
// what the caller may not do; the server still decides, and its refusals are shown.
import type { Member, Schemas } from "../../api/client";

export type OrgRole = Schemas["Role"];
export type MemberRole = Schemas["MemberRole"];
export type Status = Schemas["Status"];

export const STATUSES: readonly Status[] = ["scheduled", "live", "ended", "cancelled"];
export const MEMBER_ROLES: readonly MemberRole[] = ["host", "surgeon", "observer"];

/** `POST /v1/sessions`: admin; surgeon. */
export function canCreateSession(orgRole: OrgRole | undefined): boolean {
  return orgRole === "admin" || orgRole === "surgeon";
}

/** The caller's role in the session, or null when they are not a member. */
export function sessionRoleOf(members: readonly Member[], userId: string | undefined): MemberRole | null {
  if (!userId) return null;
  return members.find((m) => m.user_id === userId)?.role ?? null;
}

export interface SessionActions {
  start: boolean;
  end: boolean;
  cancel: boolean;
  edit: boolean;
  manageMembers: boolean;
  openWorkspace: boolean;
  audit: boolean;
  /** Start and stop recording (issue 14): hosts and session surgeons, and admins; live sessions. */
  record: boolean;
}

export function sessionActions(orgRole: OrgRole | undefined, myRole: MemberRole | null, status: Status): SessionActions {
  // Every session write is "admin; surgeon as session host".
  const host = orgRole === "admin" || (orgRole === "surgeon" && myRole === "host");
  const open = status === "scheduled" || status === "live";
  return {
    start: host && status === "scheduled",
    end: host && status === "live",
    cancel: host && status === "scheduled",
    edit: host && open,
    manageMembers: host && open,
    // Joining needs membership, admins included; reviewers never join.
    openWorkspace: status === "live" && myRole !== null && orgRole !== "reviewer" && orgRole !== undefined,
    audit: orgRole === "admin" || orgRole === "reviewer",
    // "host and surgeons of the session" (org observers never), and admins.
    record: status === "live" && (orgRole === "admin" || (orgRole === "surgeon" && (myRole === "host" || myRole === "surgeon"))),
  };
}

export function statusLabel(status: Status): string {
  return { scheduled: "Scheduled", live: "Live", ended: "Ended", cancelled: "Cancelled" }[status];
}

export function statusTone(status: Status): "sky" | "emerald" | "slate" | "rose" {
  return ({ scheduled: "sky", live: "emerald", ended: "slate", cancelled: "rose" } as const)[status];
}

export function memberRoleLabel(role: MemberRole): string {
  return { host: "Host", surgeon: "Surgeon", observer: "Observer" }[role];
}

/**
 * Why a session role goes beyond what the user's organisation role suggests (an org observer
 * or reviewer as session surgeon or host), to warn about before applying it; null if it does not.
 */
export function roleBeyondOrg(orgRole: OrgRole | undefined, role: MemberRole): string | null {
  if (role === "observer" || (orgRole !== "observer" && orgRole !== "reviewer")) return null;
  return `They are ${orgRole === "observer" ? "an observer" : "a reviewer"} in the organisation: as session ${role} they could ${
    role === "host" ? "run the session, manage its members" : "change the layout"
  } and publish video.`;
}

/** The query that makes a read wait for a write's position (README "Read your writes"). */
export function readAfter(position: number | null | undefined): { min_position?: number } {
  return position == null || Number.isNaN(position) ? {} : { min_position: position };
}
