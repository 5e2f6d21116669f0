// Who is signed in. The access token lives in memory only (never sessionStorage or
// localStorage, where any script on the page could read it). The refresh token is an HttpOnly
// cookie the server sets and scripts cannot read; the app sends it only to /v1/auth/refresh and
// /v1/auth/logout, with the X-LiveSurgery-CSRF header the server requires beside the cookie. A
// reload therefore starts with no token and restores the session by one refresh, when the
// server's script-readable marker cookie `livesurgery_signed_in` says there is one to restore.
// The access token is renewed on demand: after a 401, by `call` (so an idle app lets the
// server's idle timeout end the session).
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import type { ReactNode } from "react";
import { ApiError, call, errorOf, http, setTokenSource, type TokenResponse, type User } from "../api/client";

/** The header that asks for the cookie transport and proves the request is the app's own. */
export const CSRF_HEADER = "X-LiveSurgery-CSRF";
const WEB_APP = { [CSRF_HEADER]: "1" };
const SIGNED_IN_COOKIE = "livesurgery_signed_in";

interface Held {
  accessToken: string;
  /** ms since the epoch */
  accessExpiresAt: number;
  user: User;
}

// The tokens of this page, in memory: gone with the page.
let held: Held | null = null;

function fromResponse(t: TokenResponse): Held {
  return { accessToken: t.access_token, accessExpiresAt: Date.now() + t.expires_in * 1000, user: t.user };
}

/** Whether the server said a session can be restored from its cookie. */
function restorable(): boolean {
  return (globalThis.document?.cookie ?? "").split(";").some((c) => c.trim() === `${SIGNED_IN_COOKIE}=1`);
}

/** Runs `task` with no other tab of this origin refreshing at the same time (a refresh token is
 *  valid once; two tabs racing with one cookie would look like a stolen token to the server). */
async function exclusively<T>(task: () => Promise<T>): Promise<T> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (!locks) return task();
  return locks.request("livesurgery-refresh", task) as Promise<T>;
}

/** Signs `user` in with `accessToken` for the next `AuthProvider` (tests of screens). */
export function holdSignedIn(user: User, accessToken = "t"): void {
  held = { accessToken, accessExpiresAt: Date.now() + 3_600_000, user };
}

/** Forgets the tokens of this page (between tests). */
export function forgetSignedIn(): void {
  held = null;
}

export interface Auth {
  user: User | null;
  signIn(username: string, password: string): Promise<void>;
  signOut(): void;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [current, setCurrent] = useState<Held | null>(held);
  const [restoring, setRestoring] = useState(() => held === null && restorable());
  const refreshing = useRef<Promise<boolean> | null>(null);

  const update = useCallback((next: Held | null) => {
    held = next;
    setCurrent(next);
  }, []);

  const refresh = useCallback((): Promise<boolean> => {
    // One refresh at a time in this tab, and across tabs (see `exclusively`).
    if (refreshing.current) return refreshing.current;
    refreshing.current = (async () => {
      try {
        const { data, response } = await exclusively(() =>
          http.POST("/v1/auth/refresh", { body: {}, headers: WEB_APP }),
        );
        if (!response.ok || typeof data?.access_token !== "string") {
          update(null);
          return false;
        }
        update(fromResponse(data));
        return true;
      } catch {
        return false; // network down: keep what we have, try again later
      } finally {
        refreshing.current = null;
      }
    })();
    return refreshing.current;
  }, [update]);

  // After a reload: restore the session from the refresh cookie, once.
  useEffect(() => {
    if (!restoring) return;
    let live = true;
    void refresh().finally(() => {
      if (live) setRestoring(false);
    });
    return () => {
      live = false;
    };
  }, [restoring, refresh]);

  const signIn = useCallback(
    async (username: string, password: string) => {
      const { data, error, response } = await http.POST("/v1/auth/login", {
        body: { username, password },
        headers: WEB_APP,
      });
      if (!response.ok || !data) throw await errorOf(response, error);
      update(fromResponse(data));
    },
    [update],
  );

  const signOut = useCallback(() => {
    // The server revokes the sign-in and removes the cookies. `keepalive`: the request outlives
    // a navigation that follows at once. The marker goes now, so a reload before the answer
    // does not try to restore a sign-in that is being revoked.
    const logout = new Request(`${globalThis.location?.origin ?? ""}/v1/auth/logout`, {
      method: "POST",
      headers: WEB_APP,
      credentials: "same-origin",
      keepalive: true,
    });
    void globalThis.fetch(logout).catch(() => undefined);
    if (globalThis.document) document.cookie = `${SIGNED_IN_COOKIE}=; Max-Age=0; Path=/; Secure; SameSite=Strict`;
    update(null);
  }, [update]);

  const value = useMemo<Auth>(
    () => ({ user: current?.user ?? null, signIn, signOut }),
    [current, signIn, signOut],
  );
  // Installed before children render, so their first requests carry the token.
  setTokenSource({ accessToken: () => held?.accessToken ?? null, refresh });
  return <AuthContext.Provider value={value}>{restoring ? null : children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside AuthProvider");
  return auth;
}

/** The signed-in user's profile, fresh from the server (role changes show at once). */
export async function fetchMe(): Promise<User> {
  return (await call(() => http.GET("/v1/users/me"))).data;
}

export { ApiError };
