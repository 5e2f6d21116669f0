// Who publishes each source of the session (a display name), for the source picker: from
// `GET /v1/sessions/{id}/media` (`user_id` of each source) and the user directory.
import { useEffect, useState } from "react";
import { call, http } from "../../api/client";
import { nameOf, type DirectoryEntry } from "../../api/directory";

/** `publisherOf(source)`: the publisher's name, or null while unknown. Asks again when the sources change. */
export function useSourcePublishers(sessionId: string, sources: readonly string[], directory: Map<string, DirectoryEntry>): (source: string) => string | null {
  const [users, setUsers] = useState<ReadonlyMap<string, string>>(new Map());
  const key = sources.join("\n");
  useEffect(() => {
    if (key === "") return;
    let live = true;
    call(() => http.GET("/v1/sessions/{id}/media", { params: { path: { id: sessionId } } })).then(
      ({ data }) => live && setUsers(new Map(data.sources.map((s) => [s.source, s.user_id]))),
      () => {}, // the picker then shows the labels alone
    );
    return () => {
      live = false;
    };
  }, [sessionId, key]);
  return (source) => {
    const user = users.get(source);
    return user ? nameOf(directory, user) : null;
  };
}
