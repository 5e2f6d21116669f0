// Names for user ids: the organisation's directory of active users (id, username, display
// name, role), readable by every signed-in user so members and participants show by name.
// Audit readers (admins, reviewers) also load deactivated users, whom old events still name.
import { useEffect, useState } from "react";
import { call, http } from "./client";
import type { Schemas } from "./client";

export type DirectoryEntry = Schemas["DirectoryEntry"];

let cached: Promise<DirectoryEntry[]> | null = null;
let cachedWithDeactivated: Promise<DirectoryEntry[]> | null = null;

/** Every page of the directory, in username order (deactivated users too if asked). */
async function fetchAll(includeDeactivated = false): Promise<DirectoryEntry[]> {
  const items: DirectoryEntry[] = [];
  let cursor: string | undefined;
  do {
    const query = {
      limit: 1000,
      ...(includeDeactivated ? { include_deactivated: true } : {}),
      ...(cursor ? { cursor } : {}),
    };
    const { data } = await call(() => http.GET("/v1/users/directory", { params: { query } }));
    items.push(...data.items);
    cursor = data.next_cursor ?? undefined;
  } while (cursor);
  return items;
}

/** The directory, fetched once per page load (call `refreshDirectory` after creating users). */
export function loadDirectory(): Promise<DirectoryEntry[]> {
  cached ??= fetchAll();
  cached.catch(() => {
    cached = null;
  });
  return cached;
}

export function refreshDirectory(): Promise<DirectoryEntry[]> {
  cached = null;
  cachedWithDeactivated = null;
  return loadDirectory();
}

/**
 * The directory with deactivated users (`include_deactivated=true`, for audit readers); the
 * active users alone if the server refuses it.
 */
export function loadDirectoryWithDeactivated(): Promise<DirectoryEntry[]> {
  cachedWithDeactivated ??= fetchAll(true).catch(() => loadDirectory());
  cachedWithDeactivated.catch(() => {
    cachedWithDeactivated = null;
  });
  return cachedWithDeactivated;
}

/**
 * A map from user id to entry; empty until loaded (show the id's first characters meanwhile).
 * `withDeactivated` for the audit screens.
 */
export function useDirectory(withDeactivated = false): Map<string, DirectoryEntry> {
  const [map, setMap] = useState<Map<string, DirectoryEntry>>(new Map());
  useEffect(() => {
    let live = true;
    (withDeactivated ? loadDirectoryWithDeactivated() : loadDirectory())
      .then((items) => live && setMap(new Map(items.map((u) => [u.id, u]))))
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [withDeactivated]);
  return map;
}

/** The name to show for a user id. */
export function nameOf(directory: Map<string, DirectoryEntry>, userId: string): string {
  return directory.get(userId)?.display_name ?? `user ${userId.slice(0, 8)}`;
}

/**
 * The name the audit shows for a user id: "Display Name (username)", marked when deactivated,
 * so users whose ids share a prefix never read alike.
 */
export function auditNameOf(directory: Map<string, DirectoryEntry>, userId: string): string {
  const entry = directory.get(userId);
  if (!entry) return `user ${userId.slice(0, 8)}`;
  return `${entry.display_name} (${entry.username}${entry.active === false ? ", deactivated" : ""})`;
}
