// WHIP/WHEP signalling and slot selection: plain `fetch` with the SFU token (never the access
// token, which `call` would add), every refusal turned into an `ApiError`.
import { ApiError, errorOf } from "../api/client";
import type { Schemas } from "../api/client";
import { isSdp } from "./sdp";
import { resolveUrl } from "./url";

export interface Answer {
  /** The SDP answer. */
  sdp: string;
  /** The resource to DELETE, absolute. */
  location: string;
}

/** POSTs an offer (WHIP or WHEP); the answer and the resource, or throws `ApiError`. */
export async function postOffer(url: string, token: string, offer: string): Promise<Answer> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` },
    body: offer,
  });
  if (!response.ok) throw await errorOf(response);
  const requestId = response.headers.get("X-Request-Id");
  const location = response.headers.get("Location");
  const sdp = await response.text();
  if (!location) {
    throw new ApiError(response.status, "no_location", "The media server answered without a resource location.", requestId);
  }
  if (!isSdp(sdp)) {
    throw new ApiError(response.status, "invalid_answer", "The media server's answer is not SDP.", requestId);
  }
  return { sdp, location: resolveUrl(location, url) };
}

/**
 * DELETEs a WHIP/WHEP resource. `keepalive` lets it outlive the page (unload). A resource the
 * server already ended (404) is fine; other failures are only worth a warning to the caller.
 */
export async function deleteResource(url: string, token: string, keepalive = false): Promise<void> {
  const response = await fetch(url, {
    method: "DELETE",
    headers: { Authorization: `Bearer ${token}` },
    keepalive,
  });
  if (!response.ok && response.status !== 404) throw await errorOf(response);
}

/** `POST .../media:subscribe`: which source each slot of every WHEP subscription shows. */
export async function selectSlots(
  url: string,
  token: string,
  slots: readonly (string | null)[],
): Promise<Schemas["SubscribeResponse"]> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ slots: [...slots] } satisfies Schemas["SubscribeRequest"]),
  });
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as Schemas["SubscribeResponse"];
}
