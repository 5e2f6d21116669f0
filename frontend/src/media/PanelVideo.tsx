// One panel's video: the received stream in a muted inline <video>, a placeholder until it shows.
import { useEffect, useRef, useState } from "react";

export function PanelVideo({
  panelId,
  source,
  stream,
  placeholder: said,
}: {
  panelId: string;
  source: string | null;
  stream: MediaStream | null;
  /** What to say while no picture shows (default: waiting for the source). */
  placeholder?: string;
}) {
  const video = useRef<HTMLVideoElement>(null);
  // Which stream has shown a picture: a new stream waits for its own first frame.
  const [shown, setShown] = useState<MediaStream | null>(null);

  useEffect(() => {
    const v = video.current;
    if (!v) return;
    if (v.srcObject !== stream) v.srcObject = stream;
    if (!stream) return;
    const onFrame = () => {
      if (v.videoWidth > 0 || v.readyState >= 2) setShown(stream);
    };
    v.addEventListener("loadeddata", onFrame);
    v.addEventListener("playing", onFrame);
    v.addEventListener("resize", onFrame);
    onFrame();
    return () => {
      v.removeEventListener("loadeddata", onFrame);
      v.removeEventListener("playing", onFrame);
      v.removeEventListener("resize", onFrame);
    };
  }, [stream]);

  // Detach on unmount, so the element lets go of the track at once.
  useEffect(() => {
    const v = video.current;
    return () => {
      if (v) v.srcObject = null;
    };
  }, []);

  const sound = useSound(stream);
  // Muted by default (autoplay needs it, and one source in two panels would echo): the viewer
  // turns a panel's sound on.
  const [listening, setListening] = useState(false);
  useEffect(() => {
    if (video.current) video.current.muted = !listening;
  }, [listening, stream]);

  const playing = stream !== null && shown === stream;
  const placeholder = said ?? (source === null ? "No source" : `Waiting for ${source}…`);
  return (
    <div className="relative h-full w-full overflow-hidden bg-black">
      <video
        ref={video}
        autoPlay
        muted
        playsInline
        data-testid={`panel-video-${panelId}`}
        data-source={source ?? ""}
        data-state={playing ? "playing" : stream ? "waiting" : "empty"}
        aria-label={source === null ? "Video panel without a source" : `Video of ${source}`}
        className="h-full w-full object-contain"
      />
      {playing && sound && source !== null && (
        <button
          type="button"
          aria-pressed={listening}
          aria-label={`Sound of ${source}`}
          title={listening ? "Sound on: press to mute" : "Sound off: press to listen"}
          onClick={() => setListening((l) => !l)}
          className={`absolute right-1 bottom-1 rounded px-2 py-0.5 text-xs hover:bg-slate-700 ${listening ? "bg-emerald-700 text-white" : "bg-slate-900/80 text-slate-300 line-through"}`}
        >
          Sound
        </button>
      )}
      {!playing && (
        <div
          data-testid={`panel-placeholder-${panelId}`}
          className="pointer-events-none absolute inset-0 flex items-center justify-center bg-slate-950 p-2 text-center text-sm text-slate-400"
        >
          {placeholder}
        </div>
      )}
    </div>
  );
}

/** Whether `stream` carries sound now: an audio track whose packets arrive (a remote track is
 * muted while none come, as for a source published without a microphone). */
function useSound(stream: MediaStream | null): boolean {
  const [sound, setSound] = useState(false);
  useEffect(() => {
    const track = stream?.getAudioTracks?.()[0];
    if (!track) {
      setSound(false);
      return;
    }
    const update = () => setSound(!track.muted);
    update();
    track.addEventListener("mute", update);
    track.addEventListener("unmute", update);
    return () => {
      track.removeEventListener("mute", update);
      track.removeEventListener("unmute", update);
    };
  }, [stream]);
  return sound;
}
