// The chosen camera's picture before it is published, taken only while the preview is on.
import { useEffect, useRef, useState } from "react";
import { Alert, Button } from "../../components/ui";

/** The local preview of camera `deviceId` (absent: the default one), shown while `on`. */
export function CameraPreview({ deviceId, on, onToggle }: { deviceId: string; on: boolean; onToggle(on: boolean): void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!on) return;
    let stream: MediaStream | null = null;
    let live = true;
    setError(null);
    const md = globalThis.navigator?.mediaDevices;
    if (!md?.getUserMedia) {
      setError("This browser cannot use cameras on this page.");
      return;
    }
    md.getUserMedia({ video: deviceId ? { deviceId: { exact: deviceId } } : true, audio: false }).then(
      (s) => {
        if (!live) {
          s.getTracks().forEach((t) => t.stop());
          return;
        }
        stream = s;
        if (video.current) video.current.srcObject = s;
      },
      () => live && setError("The camera could not be opened for the preview."),
    );
    return () => {
      live = false;
      stream?.getTracks().forEach((t) => t.stop());
      if (video.current) video.current.srcObject = null;
    };
  }, [on, deviceId]);

  return (
    <div className="flex flex-col gap-1.5">
      <Button type="button" variant="secondary" aria-pressed={on} onClick={() => onToggle(!on)}>
        {on ? "Hide preview" : "Preview camera"}
      </Button>
      {on && (
        <video
          ref={video}
          autoPlay
          muted
          playsInline
          data-testid="camera-preview"
          aria-label="Preview of the chosen camera"
          className="aspect-video w-full rounded bg-black object-contain"
        />
      )}
      {error && <Alert>{error}</Alert>}
    </div>
  );
}
