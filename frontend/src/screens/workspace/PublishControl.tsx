// Publish a local camera as a named source of the session (WHIP, through the media layer).
import { useId, useState } from "react";
import type { FormEvent } from "react";
import { Alert, Badge, Button, SelectField, TextField, messageOf } from "../../components/ui";
import type { SessionMedia } from "../../media/types";

export const SOURCE_LABEL = /^[a-z0-9._-]{1,64}$/;
const SUGGESTED = ["endoscope", "room-cam", "vitals"];

export function PublishControl({ media }: { media: SessionMedia }) {
  const listId = useId();
  const [source, setSource] = useState("endoscope");
  const [deviceId, setDeviceId] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);
  const cameras = media.devices.filter((d) => d.kind === "videoinput");
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
    try {
      await media.publish(name, deviceId || undefined);
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
          {cameras.map((d, i) => (
            <option key={d.deviceId || i} value={d.deviceId}>
              {d.label || `Camera ${i + 1}`}
            </option>
          ))}
        </SelectField>
        <Button type="submit" disabled={busy}>
          {busy ? "Publishing…" : "Publish"}
        </Button>
      </form>
      {/* A failed publish usually stays listed with its reason below; say it once. */}
      {error && !media.published.some((p) => p.error === error) && <Alert>{error}</Alert>}
      {media.error && <Alert>{media.error}</Alert>}
      {media.published.length > 0 && (
        <ul aria-label="Published by this browser" className="flex flex-col gap-1.5">
          {media.published.map((p) => (
            <li key={p.source} data-testid={`published-${p.source}`} className="flex flex-wrap items-center gap-1.5 text-sm">
              <span className="font-medium text-slate-100">{p.source}</span>
              <Badge tone={p.state === "live" ? "emerald" : p.state === "failed" ? "rose" : "amber"}>{p.state}</Badge>
              <span className="w-full truncate text-xs text-slate-400">{p.deviceLabel}</span>
              {p.error && <span className="w-full text-xs text-rose-300">{p.error}</span>}
              <Button
                variant="secondary"
                aria-label={`Stop publishing ${p.source}`}
                onClick={() => void media.unpublish(p.source).catch((err: unknown) => setError(messageOf(err)))}
              >
                Stop
              </Button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
