// "Create user". An empty password field means "make one up": the app generates it (the API
// requires one) and shows it once, to be handed over; it is kept nowhere else.
import { useState } from "react";
import type { FormEvent } from "react";
import { call, http, positionOf } from "../../api/client";
import type { Schemas, User } from "../../api/client";
import { refreshDirectory } from "../../api/directory";
import { Alert, Button, SelectField, TextField, messageOf } from "../../components/ui";
import { MIN_PASSWORD, generatePassword } from "./password";
import { MAX_USERNAME, MIN_USERNAME, usernameProblem } from "./username";

type Role = Schemas["Role"];
export const ROLES: readonly Role[] = ["admin", "surgeon", "observer", "reviewer"];
export const roleLabel = (r: Role) => r[0]!.toUpperCase() + r.slice(1);

export function CreateUserForm({ onCreated }: { onCreated(user: User | null, position: number | null): void }) {
  const [username, setUsername] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [role, setRole] = useState<Role>("observer");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [passwordError, setPasswordError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<{ username: string; password: string } | null>(null);
  const [copied, setCopied] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setPasswordError(null);
    setCreated(null);
    if (usernameProblem(username.trim())) return;
    if (password && password.length < MIN_PASSWORD) {
      setPasswordError(`At least ${MIN_PASSWORD} characters, or leave it empty to generate one.`);
      return;
    }
    const generated = password ? null : generatePassword();
    setBusy(true);
    try {
      const { data, response } = await call(() =>
        http.POST("/v1/users", {
          body: { username: username.trim(), display_name: displayName.trim(), role, password: generated ?? password },
        }),
      );
      if (generated) setCreated({ username: username.trim(), password: generated });
      setUsername("");
      setDisplayName("");
      setPassword("");
      setCopied(null);
      void refreshDirectory().catch(() => {});
      onCreated(response.status === 201 ? (data as User) : null, positionOf(response));
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  async function copy(text: string) {
    try {
      await navigator.clipboard.writeText(text);
      setCopied("Copied.");
    } catch {
      setCopied("Copying is not allowed here: select the password and copy it by hand.");
    }
  }

  return (
    <section aria-labelledby="create-user-title" className="flex flex-col gap-3 rounded-lg border border-slate-700 bg-slate-900 p-4">
      <h3 id="create-user-title" className="text-base font-semibold">
        Create user
      </h3>
      {created && (
        <div role="status" className="flex flex-col gap-2 rounded border border-amber-500 bg-amber-950 p-3 text-sm text-amber-50">
          <p>
            <strong>Password for {created.username}</strong>: copy it now and hand it over securely. It is shown only
            this once and cannot be looked up later.
          </p>
          <div className="flex flex-wrap items-center gap-2">
            <code data-testid="generated-password" className="rounded bg-slate-950 px-2 py-1 font-mono text-base text-slate-50 select-all">
              {created.password}
            </code>
            <Button variant="secondary" onClick={() => void copy(created.password)}>
              Copy password
            </Button>
            <Button
              variant="ghost"
              onClick={() => {
                setCreated(null);
                setCopied(null);
              }}
            >
              Done
            </Button>
          </div>
          {copied && <p>{copied}</p>}
        </div>
      )}
      {error && <Alert>{error}</Alert>}
      <form onSubmit={submit} className="grid items-start gap-3 md:grid-cols-2 xl:grid-cols-4">
        <TextField
          label="Username"
          required
          autoComplete="off"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          error={usernameProblem(username.trim())}
          hint={`${MIN_USERNAME} to ${MAX_USERNAME} lowercase letters, digits, dots, underscores or hyphens, starting with a letter or digit`}
        />
        <TextField label="Display name" required autoComplete="off" value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
        <SelectField label="Role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {roleLabel(r)}
            </option>
          ))}
        </SelectField>
        <TextField
          label="Password"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={passwordError}
          hint="Optional: leave empty to generate one"
        />
        <div>
          <Button type="submit" disabled={busy}>
            {busy ? "Creating…" : "Create user"}
          </Button>
        </div>
      </form>
    </section>
  );
}
