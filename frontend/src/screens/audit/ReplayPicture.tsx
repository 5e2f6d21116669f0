// The recorded picture at the replayed moment: the reviewer picks a recorded source, and the
// player stands at (scrubbed time − the archive's start) in the archive that covers the moment,
// or says the source was not recorded then. Opening a recording is itself audited
// (`ArchiveAccessed`), so nothing is opened until a source is picked.
import { useEffect, useState } from "react";
import { listAllArchives, type Archive } from "../../api/archives";
import { Alert, SelectField, messageOf } from "../../components/ui";
import { ArchivePlayer } from "../archives/ArchivePlayer";
import { formatDuration, isPlayable, statusLabel } from "../archives/format";
import { placeAt, sourcesOf, spansOf } from "../archives/timing";
import { formatTime } from "./format";
import type { ScrubPoint } from "./trail";
import { PictureStrokes } from "../../teaching/ReplayStrokes";
import type { TeachingStroke } from "../../teaching/types";

export function ReplayPicture({
  sessionId,
  point,
  strokes = [],
}: {
  sessionId: string;
  point: ScrubPoint | null;
  /** The drawings on screen at the replayed moment (those on the picked source are drawn on it). */
  strokes?: TeachingStroke[];
}) {
  const [archives, setArchives] = useState<Archive[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [source, setSource] = useState("");
  // The archive whose player is open; kept (paused, hidden) while the scrubber is outside it.
  const [opened, setOpened] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    listAllArchives(sessionId)
      .then((list) => live && setArchives(list))
      .catch((err: unknown) => live && setError(err));
    return () => {
      live = false;
    };
  }, [sessionId]);

  const placement = archives && source && point ? placeAt(archives, source, point.ms) : null;
  const showable = placement !== null && isPlayable(placement.archive) ? placement : null;
  useEffect(() => {
    if (showable) setOpened(showable.archive.id);
  }, [showable?.archive.id]);

  const sources = archives ? sourcesOf(archives) : [];
  return (
    <section aria-labelledby="picture-title" className="rounded border border-slate-700 bg-slate-900 p-3">
      <h2 id="picture-title" className="font-semibold">
        Recorded picture
      </h2>
      <div className="mt-2 flex flex-col gap-2 text-sm">
        {error ? (
          <Alert>Could not load the recordings: {messageOf(error)}</Alert>
        ) : archives === null ? (
          <p role="status" className="text-slate-300">
            Loading recordings…
          </p>
        ) : sources.length === 0 ? (
          <p className="text-slate-400">This session has no recordings.</p>
        ) : (
          <>
            <SelectField label="Recorded source" value={source} onChange={(e) => setSource(e.target.value)}>
              <option value="">Choose a source</option>
              {sources.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </SelectField>
            <p className="text-xs text-slate-400">Opening a recording is noted in the audit trail.</p>
            {source && point && (
              <div aria-live="polite" data-testid="picture-state">
                {placement === null ? (
                  <NotRecorded archives={archives} source={source} />
                ) : showable === null ? (
                  <p role="status" className="text-slate-300">
                    {source} was being recorded at this moment, but that recording is{" "}
                    {statusLabel(placement.archive.status).toLowerCase()}: it cannot be shown.
                  </p>
                ) : (
                  <p className="text-slate-300" data-testid="picture-offset">
                    {formatDuration(showable.offsetMs)} into the recording of {source} (started{" "}
                    <time dateTime={showable.archive.started_at}>{formatTime(showable.archive.started_at)}</time>)
                  </p>
                )}
              </div>
            )}
            {opened && (
              <div hidden={showable?.archive.id !== opened}>
                <ArchivePlayer
                  key={opened}
                  archiveId={opened}
                  seekSeconds={showable?.archive.id === opened ? showable.offsetMs / 1000 : null}
                  paused={showable?.archive.id !== opened}
                  overlay={<PictureStrokes strokes={strokes.filter((s) => s.source_id === source)} label={`Recording of ${source}`} />}
                />
              </div>
            )}
          </>
        )}
      </div>
    </section>
  );
}

function NotRecorded({ archives, source }: { archives: Archive[]; source: string }) {
  const spans = spansOf(archives, source);
  return (
    <div className="flex flex-col gap-1">
      <p role="status" className="font-medium text-amber-200">
        {source}: not recorded at this moment.
      </p>
      <ul aria-label={`When ${source} was recorded`} className="text-xs text-slate-400">
        {spans.map((s) => (
          <li key={s.start}>
            {formatTime(s.start)} – {s.end ? formatTime(s.end) : "still recording"}
          </li>
        ))}
      </ul>
    </div>
  );
}
