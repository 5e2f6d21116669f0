// Names for user ids: the organisation's directory of active users (id, username, display
// name, role), readable by every signed-in user so members and participants show by name.
import { useEffect, useState } from "react";
import { call, http } from "./client";
import type { Schemas } from "./client";

export type DirectoryEntry = Schemas["DirectoryEntry"];

let cached: Promise<DirectoryEntry[]> | null = null;

/** Every page of the directory, in username order. */
async function fetchAll(): Promise<DirectoryEntry[]> {
  const items: DirectoryEntry[] = [];
  let cursor: string | undefined;
  do {
    const query = { limit: 1000, ...(cursor ? { cursor } : {}) };
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
  return loadDirectory();
}

/** A map from user id to entry; empty until loaded (show the id's first characters meanwhile). */
export function useDirectory(): Map<string, DirectoryEntry> {
  const [map, setMap] = useState<Map<string, DirectoryEntry>>(new Map());
  useEffect(() => {
    let live = true;
    loadDirectory()
      .then((items) => live && setMap(new Map(items.map((u) => [u.id, u]))))
      .catch(() => {});
    return () => {
      live = false;
    };
  }, []);
  return map;
}

/** The name to show for a user id. */
export function nameOf(directory: Map<string, DirectoryEntry>, userId: string): string {
  return directory.get(userId)?.display_name ?? `user ${userId.slice(0, 8)}`;
}
