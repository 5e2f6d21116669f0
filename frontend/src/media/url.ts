// Where the media requests go. The join answer's URLs may be absolute or paths.

/** A WHIP source label as the server accepts it. */
export const SOURCE_LABEL = /^[a-z0-9._-]{1,64}$/;

function pageBase(): string {
  return globalThis.location?.href ?? "http://localhost/";
}

/** `url` made absolute against `base` (default: the page). */
export function resolveUrl(url: string, base: string = pageBase()): string {
  return new URL(url, new URL(base, pageBase())).href;
}

/** The WHIP endpoint for publishing `source` (`?source=` replaced if the URL had one). */
export function whipUrlFor(whipUrl: string, source: string, base?: string): string {
  const u = new URL(resolveUrl(whipUrl, base));
  u.searchParams.set("source", source);
  return u.href;
}

/**
 * The WHEP endpoint filling the first slots with `sources`. Commas stay literal (`?slots=a,b`,
 * as the server documents it); labels need no escaping, but anything else is escaped.
 */
export function whepUrlFor(whepUrl: string, sources: readonly string[], base?: string): string {
  const u = new URL(resolveUrl(whepUrl, base));
  u.searchParams.delete("slots");
  if (sources.length === 0) return u.href;
  const slots = `slots=${sources.map(encodeURIComponent).join(",")}`;
  u.search = u.search ? `${u.search}&${slots}` : `?${slots}`;
  return u.href;
}

/**
 * `media:subscribe` beside the WHEP endpoint, so it reaches the server process that holds the
 * subscription (media of a session lives in one process; the path keeps any prefix of the base).
 */
export function subscribeUrlFor(whepUrl: string, sessionId: string, base?: string): string {
  const u = new URL(resolveUrl(whepUrl, base));
  u.search = "";
  u.hash = "";
  if (/\/whep\/?$/.test(u.pathname)) {
    u.pathname = u.pathname.replace(/\/whep\/?$/, "/media:subscribe");
  } else {
    u.pathname = `/v1/sessions/${encodeURIComponent(sessionId)}/media:subscribe`;
  }
  return u.href;
}

/** The resource id at the end of a WHIP/WHEP `Location` (it names the resource in media events). */
export function resourceIdOf(location: string): string | null {
  let path: string;
  try {
    path = new URL(location, "http://x/").pathname;
  } catch {
    return null;
  }
  const last = path.split("/").filter(Boolean).pop();
  return last ? decodeURIComponent(last) : null;
}
