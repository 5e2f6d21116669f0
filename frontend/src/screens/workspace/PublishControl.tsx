// Publish a local camera (seen first in a preview) with a microphone as a named source of the
// session (WHIP, through the media layer).
import { useId, useState } from "react";
import type { FormEvent } from "react";
import { Alert, Button, SelectField, TextField, messageOf } from "../../components/ui";
import type { SessionMedia } from "../../media/types";
import { CameraPreview } from "./CameraPreview";
import type { FeedHealth } from "./feedHealth";
import { PublishedList } from "./PublishedList";

export const SOURCE_LABEL = /^[a-z0-9._-]{1,64}$/;
const SUGGESTED = ["endoscope", "room-cam", "vitals"];
/** The microphone select's value for "video only". */
const NO_MIC = "none";

export function PublishControl({ media, health }: { media: SessionMedia; health: FeedHealth }) {
  const listId = useId();
  const [source, setSource] = useState("endoscope");
  const [deviceId, setDeviceId] = useState("");
  const [micId, setMicId] = useState("");
  const [previewing, setPreviewing] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);
  const cameras = media.devices.filter((d) => d.kind === "videoinput");
  const mics = media.devices.filter((d) => d.kind === "audioinput");
  const mine = new Set(media.published.map((p) => p.source));

  async function submit(e: FormEvent) {
    e.preventDefault();
    const name = source.trim();
    if (!SOURCE_LABEL.test(name)) {
      setInvalid("1 to 64 characters: lowercase letters, digits, dot, underscore or dash.");
      return;
    }
    if (mine.has(name) || media.sessionSources.includes(name)) {
      setInvalid(`"${name}" is already published in this session.`);
      return;
    }
    setInvalid(null);
    setError(null);
    setBusy(true);
    // The camera goes from the preview to the publication (some cameras open only once).
    setPreviewing(false);
    try {
      await media.publish(name, deviceId || undefined, micId === NO_MIC ? null : micId ? { deviceId: micId } : {});
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-label="Publish camera" data-testid="publish" className="flex flex-col gap-2">
      <h2 className="text-sm font-semibold text-slate-200">Publish camera</h2>
      <form onSubmit={submit} className="flex flex-col gap-2" noValidate>
        <TextField
          label="Source name"
          value={source}
          onChange={(e) => setSource(e.target.value)}
          list={listId}
          autoComplete="off"
          spellCheck={false}
          error={invalid}
          hint="e.g. endoscope, room-cam, vitals"
        />
        <datalist id={listId}>
          {SUGGESTED.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
        <SelectField label="Camera" value={deviceId} onChange={(e) => setDeviceId(e.target.value)}>
          <option value="">Default camera</option>
          {deviceOptions(cameras, "Camera")}
        </SelectField>
        <CameraPreview deviceId={deviceId} on={previewing} onToggle={setPreviewing} />
        <SelectField label="Microphone" value={micId} onChange={(e) => setMicId(e.target.value)}>
          <option value="">Default microphone</option>
          {deviceOptions(mics, "Microphone")}
          <option value={NO_MIC}>No microphone (video only)</option>
        </SelectField>
        <Button type="submit" disabled={busy}>
          {busy ? "Publishing…" : "Publish"}
        </Button>
      </form>
      {/* A failed publish usually stays listed with its reason below; say it once. */}
      {error && !media.published.some((p) => p.error === error) && <Alert>{error}</Alert>}
      {media.error && <Alert>{media.error}</Alert>}
      <PublishedList media={media} health={health} onError={setError} />
    </section>
  );
}

/** One option per device, named by its label (known once permission was granted) or its rank. */
function deviceOptions(devices: MediaDeviceInfo[], noun: string) {
  return devices.map((d, i) => (
    <option key={d.deviceId || i} value={d.deviceId}>
      {d.label || `${noun} ${i + 1}`}
    </option>
  ));
}
