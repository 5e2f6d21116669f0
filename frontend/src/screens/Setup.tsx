// First start: the page of the one-time setup link the server prints when no admin exists
// (`/setup?token=…`). The person creates the first admin with their own password, then is
// signed in as them.
import { useEffect, useState } from "react";
import type { FormEvent } from "react";
import { Link, Navigate, useNavigate, useSearchParams } from "react-router";
import { ApiError, errorOf, http } from "../api/client";
import { useAuth } from "../auth/AuthContext";
import { Alert, Button, TextField, messageOf } from "../components/ui";
import { MIN_PASSWORD } from "./admin/password";

/** Why the form cannot be used at all (the link, not the fields, is the problem). */
type Blocked = "no_token" | "invalid_link" | "setup_done";

/** What to tell a person whose setup failed; `blocked` when the link itself cannot work. */
export function setupMessage(error: unknown): { message: string; blocked?: Blocked } {
  if (error instanceof ApiError) {
    if (error.code === "invalid_setup_token") {
      return {
        message:
          "This setup link is not valid: it was used already, or the server restarted since it was printed. Open the newest setup link in the server's log.",
        blocked: "invalid_link",
      };
    }
    if (error.code === "setup_done") return { message: "An administrator exists already.", blocked: "setup_done" };
    if (error.code === "already_exists") return { message: "This username is taken. Choose another." };
    if (error.code === "too_many_attempts") return { message: "Too many attempts. Wait a minute and try again." };
    return { message: error.describe() };
  }
  if (error instanceof TypeError) return { message: "The server cannot be reached. Check your connection." };
  return { message: messageOf(error) };
}

export function Setup() {
  const { user, signIn } = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [username, setUsername] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [passwordError, setPasswordError] = useState<string | null>(null);
  const [confirmError, setConfirmError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [blocked, setBlocked] = useState<Blocked | null>(token ? null : "no_token");
  const [busy, setBusy] = useState(false);

  // Say at once when an admin exists already, rather than after the form is filled in.
  useEffect(() => {
    let live = true;
    void (async () => {
      try {
        const { data, response } = await http.GET("/v1/setup");
        if (live && response.ok && data && !data.needed && token) {
          // Not needed: either an admin exists, or this process offered no link.
          setBlocked("setup_done");
        }
      } catch {
        // The submit will say what is wrong.
      }
    })();
    return () => {
      live = false;
    };
  }, [token]);

  if (user) return <Navigate to="/sessions" replace />;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setPasswordError(null);
    setConfirmError(null);
    if (password.length < MIN_PASSWORD) {
      setPasswordError(`At least ${MIN_PASSWORD} characters.`);
      return;
    }
    if (confirm !== password) {
      setConfirmError("The two passwords differ.");
      return;
    }
    setBusy(true);
    const name = username.trim();
    try {
      const { error: failure, response } = await http.POST("/v1/setup", {
        body: { token, username: name, display_name: displayName.trim(), password },
      });
      if (!response.ok) throw await errorOf(response, failure);
    } catch (err) {
      const { message, blocked } = setupMessage(err);
      setError(message);
      if (blocked) setBlocked(blocked);
      setBusy(false);
      return;
    }
    try {
      await signIn(name, password);
      navigate("/sessions", { replace: true });
    } catch {
      // Created, but signing in did not work (a read wait, a rate limit): sign in by hand.
      navigate("/login", { replace: true, state: { username: name, created: true } });
    }
  }

  return (
    <main className="flex min-h-screen items-center justify-center p-4">
      <form
        onSubmit={submit}
        noValidate
        className="flex w-full max-w-md flex-col gap-4 rounded-lg border border-slate-700 bg-slate-900 p-6"
        aria-labelledby="setup-title"
      >
        <h1 id="setup-title" className="text-2xl font-semibold text-sky-300">
          Set up LiveSurgery
        </h1>
        <p className="text-sm text-slate-300">
          Create the first administrator: you. Choose your own password; the administrator then creates everyone
          else&apos;s accounts.
        </p>
        {blocked === "no_token" && (
          <Alert>
            This page needs the setup link printed in the server&apos;s log when it starts (it ends with{" "}
            <code>/setup?token=…</code>). Open that link.
          </Alert>
        )}
        {blocked === "setup_done" && (
          <Alert kind="info">
            An administrator exists already, so there is nothing to set up.{" "}
            <Link className="text-sky-300 underline" to="/login">
              Go to sign-in
            </Link>
          </Alert>
        )}
        {error && blocked !== "setup_done" && <Alert>{error}</Alert>}
        {blocked === null && (
          <>
            <TextField
              label="Username"
              name="username"
              autoComplete="username"
              required
              hint="3 to 64 characters: lowercase letters, digits, dot, dash or underscore."
              value={username}
              onChange={(e) => setUsername(e.target.value)}
            />
            <TextField
              label="Display name"
              name="display_name"
              autoComplete="name"
              required
              hint="As others see you, e.g. Dr Jane Smith."
              value={displayName}
              onChange={(e) => setDisplayName(e.target.value)}
            />
            <TextField
              label="Password"
              name="password"
              type="password"
              autoComplete="new-password"
              required
              hint={`At least ${MIN_PASSWORD} characters.`}
              error={passwordError}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
            <TextField
              label="Confirm password"
              name="confirm"
              type="password"
              autoComplete="new-password"
              required
              error={confirmError}
              value={confirm}
              onChange={(e) => setConfirm(e.target.value)}
            />
            <Button type="submit" disabled={busy}>
              {busy ? "Creating…" : "Create administrator"}
            </Button>
          </>
        )}
      </form>
    </main>
  );
}
