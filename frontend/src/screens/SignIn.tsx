import { useEffect, useState } from "react";
import type { FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router";
import { useAuth } from "../auth/AuthContext";
import { ApiError, http } from "../api/client";
import { Alert, Button, TextField, messageOf } from "../components/ui";

/** What to tell a person whose sign-in failed. */
export function signInMessage(error: unknown): string {
  if (error instanceof ApiError) {
    // The code before the status: a deactivated account is a 401 too. (The server says
    // `user_deactivated` only after the right password, so this tells a guesser nothing.)
    if (error.code === "user_deactivated") return "This account is deactivated. Ask an administrator.";
    if (error.code === "too_many_attempts") return "Too many attempts. Wait a minute and try again.";
    if (error.code === "invalid_credentials" || error.status === 401) return "Wrong username or password.";
    return error.describe();
  }
  if (error instanceof TypeError) return "The server cannot be reached. Check your connection.";
  return messageOf(error);
}

export function SignIn() {
  const { user, signIn } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const state = location.state as { from?: string; username?: string; created?: boolean } | null;
  const from = state?.from ?? "/sessions";
  const [username, setUsername] = useState(state?.username ?? "");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [setupNeeded, setSetupNeeded] = useState(false);

  // First start: nobody can sign in until the setup link creates the first admin.
  useEffect(() => {
    let live = true;
    void (async () => {
      try {
        const { data, response } = await http.GET("/v1/setup");
        if (live && response.ok && data) setSetupNeeded(data.needed);
      } catch {
        // An old server without /v1/setup, or none reachable: no hint.
      }
    })();
    return () => {
      live = false;
    };
  }, []);

  if (user) return <Navigate to={from} replace />;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(username.trim(), password);
      navigate(from, { replace: true });
    } catch (err) {
      setError(signInMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="flex min-h-screen items-center justify-center p-4">
      <form onSubmit={submit} className="flex w-full max-w-sm flex-col gap-4 rounded-lg border border-slate-700 bg-slate-900 p-6" aria-labelledby="signin-title">
        <h1 id="signin-title" className="text-2xl font-semibold text-sky-300">
          LiveSurgery
        </h1>
        <p className="text-sm text-slate-300">Sign in to join live sessions.</p>
        {setupNeeded && (
          <Alert kind="info">
            First start: open the setup link printed in the server&apos;s log to create the first administrator.
          </Alert>
        )}
        {state?.created && <Alert kind="success">Administrator {state.username} created. Sign in with your new password.</Alert>}
        {error && <Alert>{error}</Alert>}
        <TextField label="Username" name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} />
        <TextField label="Password" name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <Button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </Button>
      </form>
    </main>
  );
}
