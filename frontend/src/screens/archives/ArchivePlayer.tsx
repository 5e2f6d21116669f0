// Plays one archive in a <video>: a fresh playback URL from the server each time it is opened
// (each is audited as `ArchiveAccessed`), errors in words (not playable, a format this browser
// cannot play, a link that has expired), and an optional moment to seek to (the audit replay).
import { useEffect, useRef, useState } from "react";
import type { ReactNode } from "react";
import { ApiError } from "../../api/client";
import { getPlayback, type Playback } from "../../api/archives";
import { Alert, Button, messageOf } from "../../components/ui";
import { formatDateTime } from "../sessions/time";

/** What went wrong with the media element, in words; `expired` when the link's time is up. */
export function mediaProblem(
  code: number | null,
  playback: Pick<Playback, "content_type" | "expires_at">,
  now: number = Date.now(),
): { text: string; expired: boolean } {
  const expiresAt = Date.parse(playback.expires_at);
  if (!Number.isNaN(expiresAt) && now >= expiresAt) {
    return { text: `The playback link expired at ${formatDateTime(playback.expires_at)}. Get a new link to go on watching.`, expired: true };
  }
  const type = playback.content_type || "unknown type";
  switch (code) {
    case 2: // MEDIA_ERR_NETWORK
      return { text: "The recording could not be loaded: a network error. Try a new link.", expired: false };
    case 3: // MEDIA_ERR_DECODE
      return { text: `The recording could not be decoded (${type}).`, expired: false };
    case 4: // MEDIA_ERR_SRC_NOT_SUPPORTED: a format the browser does not play, or a refused URL
      return { text: `This browser cannot play this recording (${type}), or the server refused the link.`, expired: false };
    default:
      return { text: "The recording could not be played.", expired: false };
  }
}

/** Whether this browser says it cannot play `contentType` at all ("" from canPlayType). */
export function cannotPlay(contentType: string | null | undefined): boolean {
  if (!contentType || typeof document === "undefined") return false;
  return document.createElement("video").canPlayType(contentType) === "";
}

export function ArchivePlayer({
  archiveId,
  seekSeconds = null,
  paused = false,
  onClose,
  overlay,
}: {
  archiveId: string;
  /** Where to stand in the recording (seconds); null: from the start. */
  seekSeconds?: number | null;
  /** Pauses the video (the player is kept but not shown). */
  paused?: boolean;
  onClose?: () => void;
  /** Drawn over the video (the audit replay's strokes); it finds the <video> beside it. */
  overlay?: ReactNode;
}) {
  const video = useRef<HTMLVideoElement>(null);
  const [playback, setPlayback] = useState<Playback | null>(null);
  const [fetchError, setFetchError] = useState<unknown>(null);
  const [problem, setProblem] = useState<{ text: string; expired: boolean } | null>(null);
  const [attempt, setAttempt] = useState(0);
  // Where to resume after a new link (the old one expired mid-way).
  const resumeAt = useRef<number | null>(null);

  useEffect(() => {
    let live = true;
    setFetchError(null);
    setProblem(null);
    getPlayback(archiveId)
      .then((p) => live && setPlayback(p))
      .catch((err: unknown) => live && setFetchError(err));
    return () => {
      live = false;
    };
  }, [archiveId, attempt]);

  // Seek when asked to and the media knows its timeline (else onLoadedMetadata does it).
  useEffect(() => {
    const v = video.current;
    if (v && seekSeconds !== null && v.readyState >= 1) v.currentTime = seekSeconds;
  }, [seekSeconds, playback]);

  useEffect(() => {
    if (paused) video.current?.pause();
  }, [paused]);

  const renew = () => {
    resumeAt.current = video.current?.currentTime ?? null;
    setAttempt((n) => n + 1);
  };

  const unsupported = playback !== null && cannotPlay(playback.content_type);

  return (
    <div className="flex flex-col gap-2" data-testid="archive-player">
      {fetchError ? (
        <Alert>
          {fetchError instanceof ApiError && fetchError.code === "archive_not_playable"
            ? `This recording cannot be played: ${fetchError.describe()}`
            : `Could not get a playback link: ${messageOf(fetchError)}`}
        </Alert>
      ) : !playback ? (
        <p role="status" className="text-sm text-slate-300">
          Getting a playback link…
        </p>
      ) : null}
      {problem && <Alert>{problem.text}</Alert>}
      {unsupported && !problem && (
        <Alert kind="info">This browser may not be able to play {playback?.content_type}.</Alert>
      )}
      <div className="relative">
        <video
          ref={video}
          controls
          preload="metadata"
          aria-label="Archive player"
          src={playback?.url}
          data-content-type={playback?.content_type}
          hidden={!playback}
          className="aspect-video w-full rounded border border-slate-700 bg-black"
          onLoadedMetadata={(e) => {
            const at = resumeAt.current ?? seekSeconds;
            resumeAt.current = null;
            if (at !== null) e.currentTarget.currentTime = at;
          }}
          onError={(e) => playback && setProblem(mediaProblem(e.currentTarget.error?.code ?? null, playback))}
        />
        {playback && overlay}
      </div>
      <div className="flex flex-wrap items-center gap-2 text-xs text-slate-400">
        {playback && <span>Link valid until {formatDateTime(playback.expires_at)}</span>}
        <span className="ml-auto flex gap-2">
          {(problem || fetchError !== null) && (
            <Button variant="secondary" onClick={renew}>
              Get a new link
            </Button>
          )}
          {onClose && (
            <Button variant="secondary" onClick={onClose}>
              Close player
            </Button>
          )}
        </span>
      </div>
    </div>
  );
}
