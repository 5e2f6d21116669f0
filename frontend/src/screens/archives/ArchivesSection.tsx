// The session page's archives: the list (pages; refreshed while anything is still recording or
// processing), one player at a time, and the retention editor for admins.
import { useState } from "react";
import type { Archive } from "../../api/archives";
import { useToasts } from "../../components/Toasts";
import { Alert, Button, messageOf } from "../../components/ui";
import { ArchiveItem } from "./ArchiveItem";
import { ArchivePlayer } from "./ArchivePlayer";
import { RetentionEditor } from "./RetentionEditor";
import { useArchives } from "./useArchives";

export function ArchivesSection({
  sessionId,
  watch,
  canManage,
}: {
  sessionId: string;
  /** The session is being recorded: keep looking for new archives. */
  watch: boolean;
  /** Admins change expiry and legal hold. */
  canManage: boolean;
}) {
  const list = useArchives(sessionId, { watch });
  const toasts = useToasts();
  // Each Play opens the player afresh (a new playback link); `opened` tells the openings apart.
  const [playing, setPlaying] = useState<{ archive: Archive; opened: number } | null>(null);
  const [editing, setEditing] = useState<string | null>(null);

  const play = (archive: Archive) => setPlaying((p) => ({ archive, opened: (p?.opened ?? 0) + 1 }));

  return (
    <section aria-labelledby="archives-title" className="flex max-w-4xl flex-col gap-3">
      <div className="flex items-center gap-2">
        <h2 id="archives-title" className="text-lg font-semibold">
          Archives
        </h2>
        {!list.loading && (
          <Button variant="ghost" className="ml-auto" onClick={list.reload}>
            Refresh
          </Button>
        )}
      </div>
      {list.error ? <Alert>Could not load the archives: {messageOf(list.error)}</Alert> : null}
      {list.loading ? (
        <p role="status" className="text-sm text-slate-300">
          Loading archives…
        </p>
      ) : list.items.length === 0 ? (
        list.error ? null : <p className="text-sm text-slate-400">No recordings of this session yet.</p>
      ) : (
        <ul aria-label="Archives" className="flex flex-col gap-2">
          {list.items.map((a) => (
            <ArchiveItem
              key={a.id}
              archive={a}
              playing={playing?.archive.id === a.id}
              canManage={canManage}
              editing={editing === a.id}
              onPlay={() => play(a)}
              onEdit={() => setEditing(a.id)}
            >
              {editing === a.id && (
                <RetentionEditor
                  archive={a}
                  onClose={() => setEditing(null)}
                  onSaved={(saved) => {
                    list.replace(saved);
                    setEditing(null);
                    toasts.push(`Retention of ${saved.source} saved.`, "success");
                  }}
                />
              )}
            </ArchiveItem>
          ))}
        </ul>
      )}
      {list.hasMore && (
        <div>
          <Button variant="secondary" onClick={() => void list.loadMore()} disabled={list.loadingMore} aria-busy={list.loadingMore}>
            {list.loadingMore ? "Loading…" : "More archives"}
          </Button>
        </div>
      )}
      {playing && (
        <section aria-labelledby="player-title" className="flex flex-col gap-2 rounded border border-slate-700 bg-slate-900 p-3">
          <h3 id="player-title" className="font-semibold">
            Playing {playing.archive.source}
          </h3>
          <ArchivePlayer key={`${playing.archive.id}/${playing.opened}`} archiveId={playing.archive.id} onClose={() => setPlaying(null)} />
        </section>
      )}
    </section>
  );
}
