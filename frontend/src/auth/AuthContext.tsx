// Who is signed in. Tokens live in sessionStorage, so a reload keeps the session but closing
// the tab ends it (a shared OR workstation should not stay signed in). The access token is
// renewed from the refresh token shortly before it expires and after any 401.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import type { ReactNode } from "react";
import { ApiError, call, errorOf, http, setTokenSource, type TokenResponse, type User } from "../api/client";

const STORAGE_KEY = "livesurgery.auth";

interface Stored {
  accessToken: string;
  refreshToken: string;
  /** ms since the epoch */
  accessExpiresAt: number;
  user: User;
}

function load(): Stored | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Stored) : null;
  } catch {
    return null;
  }
}

function save(stored: Stored | null): void {
  if (stored) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(stored));
  else sessionStorage.removeItem(STORAGE_KEY);
}

function fromResponse(t: TokenResponse): Stored {
  return {
    accessToken: t.access_token,
    refreshToken: t.refresh_token,
    accessExpiresAt: Date.now() + t.expires_in * 1000,
    user: t.user,
  };
}

export interface Auth {
  user: User | null;
  signIn(username: string, password: string): Promise<void>;
  signOut(): void;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [stored, setStored] = useState<Stored | null>(load);
  const current = useRef(stored);
  const refreshing = useRef<Promise<boolean> | null>(null);

  const update = useCallback((next: Stored | null) => {
    current.current = next;
    save(next);
    setStored(next);
  }, []);

  const refresh = useCallback((): Promise<boolean> => {
    // One refresh at a time: a refresh token is valid once.
    if (refreshing.current) return refreshing.current;
    const refreshToken = current.current?.refreshToken;
    if (!refreshToken) return Promise.resolve(false);
    refreshing.current = (async () => {
      try {
        const { data, response } = await http.POST("/v1/auth/refresh", {
          body: { refresh_token: refreshToken },
        });
        if (!response.ok || !data) {
          update(null);
          return false;
        }
        update(fromResponse(data));
        return true;
      } catch {
        return false; // network down: keep the tokens, try again later
      } finally {
        refreshing.current = null;
      }
    })();
    return refreshing.current;
  }, [update]);

  // Renew a minute before the access token expires.
  useEffect(() => {
    if (!stored) return;
    const wait = Math.max(stored.accessExpiresAt - Date.now() - 60_000, 1_000);
    const timer = setTimeout(() => void refresh(), wait);
    return () => clearTimeout(timer);
  }, [stored, refresh]);

  const signIn = useCallback(
    async (username: string, password: string) => {
      const { data, error, response } = await http.POST("/v1/auth/login", { body: { username, password } });
      if (!response.ok || !data) throw await errorOf(response, error);
      update(fromResponse(data));
    },
    [update],
  );

  const signOut = useCallback(() => update(null), [update]);

  const value = useMemo<Auth>(
    () => ({ user: stored?.user ?? null, signIn, signOut }),
    [stored, signIn, signOut],
  );
  // Installed before children render, so their first requests carry the token.
  setTokenSource({ accessToken: () => current.current?.accessToken ?? null, refresh });
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
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
