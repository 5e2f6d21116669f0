// A session's archives for the session page: the first page, more pages on request, and a
// refresh every few seconds while anything is still recording or processing (or the session is
// being recorded, so new sources appear).
import { useCallback, useEffect, useRef, useState } from "react";
import { getArchive, isActive, listArchives, type Archive } from "../../api/archives";

/** How often the list is re-read while something in it is still changing. */
export const ARCHIVE_REFRESH_MS = 4000;

/**
 * The list after a re-read of the first page: the page's archives in the server's order (new
 * ones included), then the ones known from later pages, each in its freshest form.
 */
export function mergeArchives(known: readonly Archive[], firstPage: readonly Archive[], fetched: readonly Archive[] = []): Archive[] {
  const fresh = new Map<string, Archive>([...fetched, ...firstPage].map((a) => [a.id, a]));
  const onPage = new Set(firstPage.map((a) => a.id));
  return [...firstPage, ...known.filter((a) => !onPage.has(a.id)).map((a) => fresh.get(a.id) ?? a)];
}

export interface ArchivesList {
  items: Archive[];
  loading: boolean;
  /** The last load's or refresh's error (the items stay as they were). */
  error: unknown;
  hasMore: boolean;
  loadingMore: boolean;
  loadMore(): Promise<void>;
  reload(): void;
  /** Puts an archive the server answered with (after a change) in place. */
  replace(archive: Archive): void;
}

export function useArchives(sessionId: string, { watch = false }: { watch?: boolean } = {}): ArchivesList {
  const [items, setItems] = useState<Archive[]>([]);
  const itemsRef = useRef(items);
  const [cursor, setCursor] = useState<string | null>(null);
  const [pages, setPages] = useState(0);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [epoch, setEpoch] = useState(0);
  const [tick, setTick] = useState(0);

  const show = useCallback((next: Archive[]) => {
    itemsRef.current = next;
    setItems(next);
  }, []);

  // First page (again on `reload`).
  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(null);
    listArchives(sessionId)
      .then((page) => {
        if (!live) return;
        show(page.items);
        setCursor(page.next_cursor);
        setPages(1);
      })
      .catch((err: unknown) => live && setError(err))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [sessionId, epoch, show]);

  const changing = watch || items.some(isActive);

  // While something changes: re-read the first page, and any archive still changing beyond it.
  useEffect(() => {
    if (loading || !changing) return;
    let live = true;
    const timer = setTimeout(async () => {
      try {
        const page = await listArchives(sessionId);
        const onPage = new Set(page.items.map((a) => a.id));
        const beyond = itemsRef.current.filter((a) => isActive(a) && !onPage.has(a.id));
        const fetched = await Promise.all(beyond.map((a) => getArchive(a.id)));
        if (!live) return;
        show(mergeArchives(itemsRef.current, page.items, fetched));
        if (pages <= 1) setCursor(page.next_cursor);
        setError(null);
      } catch (err) {
        if (live) setError(err);
      } finally {
        if (live) setTick((n) => n + 1);
      }
    }, ARCHIVE_REFRESH_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [sessionId, loading, changing, tick, pages, show]);

  const loadMore = useCallback(async () => {
    if (!cursor) return;
    setLoadingMore(true);
    try {
      const page = await listArchives(sessionId, cursor);
      const seen = new Set(itemsRef.current.map((a) => a.id));
      show([...itemsRef.current, ...page.items.filter((a) => !seen.has(a.id))]);
      setCursor(page.next_cursor);
      setPages((n) => n + 1);
      setError(null);
    } catch (err) {
      setError(err);
    } finally {
      setLoadingMore(false);
    }
  }, [sessionId, cursor, show]);

  const replace = useCallback(
    (archive: Archive) => show(itemsRef.current.map((a) => (a.id === archive.id ? archive : a))),
    [show],
  );

  return {
    items,
    loading,
    error,
    hasMore: cursor !== null,
    loadingMore,
    loadMore,
    reload: () => setEpoch((n) => n + 1),
    replace,
  };
}
