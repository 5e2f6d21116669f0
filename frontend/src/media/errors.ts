// Media problems in words a person in the OR can act on.
import { ApiError } from "../api/client";

const EXPIRED = "Your access to live media has expired. Leave the workspace and open it again to rejoin.";
const UNREACHABLE = "The server cannot be reached. Check the network connection, then try again.";

function domName(err: unknown): string | null {
  if (err && typeof err === "object" && "name" in err && typeof err.name === "string") return err.name;
  return null;
}

/** A network failure of `fetch` (no HTTP answer at all). */
export function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError && !(err instanceof ApiError);
}

/** `getUserMedia` refused or failed. */
export function cameraErrorText(err: unknown): string {
  switch (domName(err)) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return "Camera access was refused. Allow the camera for this site in the browser (the camera icon in the address bar), then publish again.";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return "That camera was not found. Connect it or choose another camera, then publish again.";
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return "The camera could not be started: another application may be using it. Close that application, then publish again.";
    default:
      return `The camera could not be started (${err instanceof Error ? err.message : String(err)}).`;
  }
}

/** WHIP refused (or could not be reached) when publishing `source`. */
export function publishErrorText(err: unknown, source: string): string {
  if (isNetworkError(err)) return UNREACHABLE;
  if (!(err instanceof ApiError)) return `Publishing "${source}" failed: ${err instanceof Error ? err.message : String(err)}`;
  if (err.status === 409 && err.code === "source_taken") {
    return `A source named "${source}" is already published in this session. Choose another name.`;
  }
  if (err.status === 409 && err.code === "session_not_live") {
    return "Cameras can be published only while the session is live.";
  }
  if (err.status === 403) {
    return `You may not publish cameras in this session (observers can only watch). ${err.describe()}`;
  }
  if (err.status === 401) return EXPIRED;
  if (err.status === 503) return "The media server is not available right now. Try again in a moment.";
  if (err.code === "invalid_sdp" || err.code === "sdp_refused") {
    return `The server cannot take this camera's video (VP8 or H.264 is needed): ${err.describe()}`;
  }
  return `Publishing "${source}" failed: ${err.describe()}`;
}

/** WHEP or `media:subscribe` refused (or could not be reached). */
export function receiveErrorText(err: unknown): string {
  if (isNetworkError(err)) return `Live video: ${UNREACHABLE}`;
  if (!(err instanceof ApiError)) return `Live video could not be started: ${err instanceof Error ? err.message : String(err)}`;
  if (err.status === 401) return EXPIRED;
  if (err.status === 403) return `You may not receive live video in this session. ${err.describe()}`;
  if (err.status === 409 && err.code === "session_not_live") return "Live video is available only while the session is live.";
  if (err.code === "too_many_slots") return "At most 16 different sources can be shown at once.";
  if (err.status === 503) return "The media server is not available right now; retrying.";
  return `Live video could not be started: ${err.describe()}`;
}

/** A peer connection that reached `failed` (ICE or DTLS): no path to the media server. */
export function connectionFailedText(source: string | null): string {
  return source === null
    ? "The live video connection was lost; reconnecting…"
    : `The connection for "${source}" failed: the media server cannot be reached over UDP. Check the network or firewall, then publish again.`;
}

/** Worth trying again later without a new join: the network or the server's momentary state. */
export function isRetryable(err: unknown): boolean {
  if (isNetworkError(err)) return true;
  if (err instanceof ApiError) return err.status >= 500 || err.status === 404;
  return false;
}
