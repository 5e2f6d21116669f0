// The one way the app talks HTTP to the server: openapi-fetch typed by the generated
// `paths`, a bearer token on every call, one refresh-and-retry on 401, and every non-2xx
// answer turned into an `ApiError` carrying the server's error envelope.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./generated/openapi";

export type Schemas = components["schemas"];
export type User = Schemas["User"];
export type Session = Schemas["Session"];
export type Member = Schemas["Member"];
export type Layout = Schemas["Layout"];
export type Panel = Schemas["Panel"];
export type JoinResponse = Schemas["JoinResponse"];
export type TokenResponse = Schemas["TokenResponse"];
export type AuditEvent = Schemas["AuditEvent"];
export type Projection = Schemas["Projection"];
export type VerifyResult = Schemas["VerifyResult"];

/** A non-2xx answer: the server's `{error: {code, message, request_id}}` and the status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
    readonly body: unknown = null,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** A message fit to show a person: the server's text, and the request id to quote. */
  describe(): string {
    return this.requestId ? `${this.message} (request ${this.requestId})` : this.message;
  }
}

/** Turns a failed response into an `ApiError` (also for non-JSON bodies, e.g. a proxy's 502). */
export async function errorOf(response: Response, parsed?: unknown): Promise<ApiError> {
  const requestId = response.headers.get("X-Request-Id");
  // openapi-fetch has already read an error answer's body and hands it over parsed.
  let body: unknown = parsed ?? null;
  if (body === null) {
    try {
      body = await response.clone().json();
    } catch {
      // not JSON: keep the status text
    }
  }
  const detail = (body as { error?: { code?: string; message?: string } } | null)?.error;
  return new ApiError(
    response.status,
    detail?.code ?? `http_${response.status}`,
    detail?.message ?? (response.statusText || `HTTP ${response.status}`),
    requestId,
    body,
  );
}

/** Where the client reads and renews its tokens (the auth context provides it). */
export interface TokenSource {
  accessToken(): string | null;
  /** Trades the refresh token for new tokens; false when that is not possible (signed out). */
  refresh(): Promise<boolean>;
}

let tokens: TokenSource = { accessToken: () => null, refresh: async () => false };

/** Installs the token source (called once by the auth provider). */
export function setTokenSource(source: TokenSource): void {
  tokens = source;
}

const NO_AUTH = new Set(["/v1/auth/login", "/v1/auth/refresh", "/v1/setup"]);

const bearer: Middleware = {
  onRequest({ request, schemaPath }) {
    const token = tokens.accessToken();
    if (token && !NO_AUTH.has(schemaPath) && !request.headers.has("Authorization")) {
      request.headers.set("Authorization", `Bearer ${token}`);
    }
    return request;
  },
};

/** The typed client. Prefer `call(...)`, which throws `ApiError` and retries once after a refresh. */
export const http = createClient<paths>({
  // Absolute, so Request() accepts it outside a page too (unit tests); same origin as the app.
  baseUrl: globalThis.location?.origin ?? "",
  // Looked up per call, so a test's stubbed fetch is seen.
  fetch: (request) => globalThis.fetch(request),
});
http.use(bearer);

type Outcome<T> = { data?: T; error?: unknown; response: Response };

/**
 * Runs one typed request; on 401 refreshes the tokens once and runs it again. Returns the body
 * (and the response, for headers such as `X-Position`); throws `ApiError` on any non-2xx.
 */
export async function call<T>(
  request: () => Promise<Outcome<T>>,
): Promise<{ data: T; response: Response }> {
  let outcome = await request();
  if (outcome.response.status === 401 && (await tokens.refresh())) {
    outcome = await request();
  }
  if (!outcome.response.ok) {
    throw await errorOf(outcome.response, outcome.error);
  }
  return { data: outcome.data as T, response: outcome.response };
}

/** The log position a write reached (`X-Position`), for read-your-writes. */
export function positionOf(response: Response): number | null {
  const value = response.headers.get("X-Position");
  return value === null ? null : Number(value);
}
