// The organisation's users: change a role or deactivate (each after a confirmation), reactivate,
// and create new ones. Changes bite on the user's very next request (README "Sign in").
import { useCallback, useEffect, useRef, useState } from "react";
import { call, http, positionOf } from "../../api/client";
import type { Schemas, User } from "../../api/client";
import { refreshDirectory } from "../../api/directory";
import { useAuth } from "../../auth/AuthContext";
import { Alert, Badge, Button, messageOf } from "../../components/ui";
import { useToasts } from "../../components/Toasts";
import { ConfirmDialog } from "../sessions/ConfirmDialog";
import { readAfter } from "../sessions/rules";
import { CreateUserForm, ROLES, roleLabel } from "./CreateUserForm";

type Role = Schemas["Role"];
const PAGE = 50;

export function Users() {
  const { user: me } = useAuth();
  const toasts = useToasts();
  const [items, setItems] = useState<User[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [deactivating, setDeactivating] = useState<User | null>(null);
  const [changingRole, setChangingRole] = useState<{ user: User; role: Role } | null>(null);
  const [dialogError, setDialogError] = useState<string | null>(null);
  const latest = useRef(0);

  const load = useCallback(async (opts: { cursor?: string; minPosition?: number | null } = {}) => {
    const mine = opts.cursor ? latest.current : ++latest.current;
    if (opts.cursor) setLoadingMore(true);
    try {
      const { data } = await call(() =>
        http.GET("/v1/users", {
          params: { query: { limit: PAGE, ...(opts.cursor ? { cursor: opts.cursor } : {}), ...readAfter(opts.minPosition) } },
        }),
      );
      if (mine !== latest.current) return;
      setItems((old) => (opts.cursor ? [...old, ...data.items] : data.items));
      setNext(data.next_cursor ?? null);
      setError(null);
    } catch (err) {
      if (mine === latest.current) setError(messageOf(err));
    } finally {
      if (mine === latest.current) {
        setLoading(false);
        setLoadingMore(false);
      }
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  /** PATCHes one user; shows the answer in place (re-reads the list after a 202). */
  async function patch(user: User, body: Schemas["UpdateUserRequest"], done: string, inDialog = false): Promise<boolean> {
    setBusy(user.id);
    setError(null);
    setDialogError(null);
    try {
      const { data, response } = await call(() => http.PATCH("/v1/users/{id}", { params: { path: { id: user.id } }, body }));
      if (response.status === 200) {
        const updated = data as User;
        setItems((old) => old.map((u) => (u.id === updated.id ? updated : u)));
      } else {
        await load({ minPosition: positionOf(response) });
      }
      void refreshDirectory().catch(() => {});
      toasts.push(done, "success");
      return true;
    } catch (err) {
      if (inDialog) setDialogError(messageOf(err));
      else setError(messageOf(err));
      return false;
    } finally {
      setBusy(null);
    }
  }

  return (
    <section aria-labelledby="users-title" className="flex flex-col gap-3">
      <h2 id="users-title" className="text-lg font-semibold">
        Users
      </h2>
      <CreateUserForm
        onCreated={(created, position) => {
          if (created) {
            toasts.push(`Created ${created.username}.`, "success");
          }
          void load({ minPosition: position });
        }}
      />
      {error && <Alert>{error}</Alert>}
      {loading ? (
        <p role="status" className="text-slate-300">
          Loading users…
        </p>
      ) : items.length === 0 ? (
        !error && <p className="text-slate-300">No users.</p>
      ) : (
        <div className="overflow-x-auto">
          <table aria-label="Users" className="w-full text-left text-sm">
            <thead className="border-b border-slate-700 text-slate-300">
              <tr>
                <th scope="col" className="py-2 pr-3 font-medium">Username</th>
                <th scope="col" className="hidden py-2 pr-3 font-medium sm:table-cell">Display name</th>
                <th scope="col" className="py-2 pr-3 font-medium">Role</th>
                <th scope="col" className="hidden py-2 pr-3 font-medium md:table-cell">State</th>
                <th scope="col" className="py-2 pr-3 font-medium">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((u) => (
                <tr key={u.id} className="border-b border-slate-800">
                  <td className="py-2 pr-3 font-medium">
                    {u.username}
                    {u.id === me?.id && <span className="ml-1 text-slate-400">(you)</span>}
                  </td>
                  <td className="hidden py-2 pr-3 sm:table-cell">{u.display_name}</td>
                  <td className="py-2 pr-3">
                    <select
                      aria-label={`Role for ${u.username}`}
                      value={u.role}
                      disabled={busy === u.id}
                      onChange={(e) => {
                        setDialogError(null);
                        setChangingRole({ user: u, role: e.target.value as Role });
                      }}
                      className="rounded border border-slate-600 bg-slate-900 px-2 py-1 text-slate-100"
                    >
                      {ROLES.map((r) => (
                        <option key={r} value={r}>
                          {roleLabel(r)}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td className="hidden py-2 pr-3 md:table-cell">
                    {u.active ? <Badge tone="emerald">Active</Badge> : <Badge tone="rose">Deactivated</Badge>}
                  </td>
                  <td className="py-2 pr-3 text-right">
                    {u.active ? (
                      <Button
                        variant="danger"
                        aria-label={`Deactivate ${u.username}`}
                        disabled={busy === u.id}
                        onClick={() => {
                          setDialogError(null);
                          setDeactivating(u);
                        }}
                      >
                        Deactivate
                      </Button>
                    ) : (
                      <Button
                        variant="secondary"
                        aria-label={`Reactivate ${u.username}`}
                        disabled={busy === u.id}
                        onClick={() => void patch(u, { active: true }, `${u.username} is active again.`)}
                      >
                        Reactivate
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {next && !loading && (
        <div>
          <Button variant="secondary" disabled={loadingMore} onClick={() => void load({ cursor: next })}>
            {loadingMore ? "Loading…" : "Load more"}
          </Button>
        </div>
      )}
      {changingRole && (
        <ConfirmDialog
          title={`Make ${changingRole.user.username} ${roleLabel(changingRole.role).toLowerCase()}?`}
          confirmLabel="Change role"
          busy={busy === changingRole.user.id}
          error={dialogError}
          onConfirm={() => {
            const { user: u, role } = changingRole;
            void patch(u, { role }, `${u.username} is now ${roleLabel(role).toLowerCase()}.`, true).then(
              (ok) => ok && setChangingRole(null),
            );
          }}
          onCancel={() => setChangingRole(null)}
        >
          <p className="text-sm text-slate-300">
            {changingRole.user.display_name} is {roleLabel(changingRole.user.role).toLowerCase()} now; the new role applies
            from their next request.
          </p>
        </ConfirmDialog>
      )}
      {deactivating && (
        <ConfirmDialog
          title={`Deactivate ${deactivating.username}?`}
          confirmLabel="Deactivate"
          busy={busy === deactivating.id}
          error={dialogError}
          onConfirm={() =>
            void patch(deactivating, { active: false }, `${deactivating.username} is deactivated.`, true).then(
              (ok) => ok && setDeactivating(null),
            )
          }
          onCancel={() => setDeactivating(null)}
        >
          <p className="text-sm text-slate-300">
            {deactivating.display_name} can no longer sign in, and their current sign-ins stop working at once.
            {deactivating.id === me?.id && " This is your own account: you will be signed out."}
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
