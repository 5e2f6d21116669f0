// A session's members by name, their session roles, and (for hosts and admins) adding,
// re-roling and removing them. The server keeps at least one host and says so when refused.
import { useState } from "react";
import type { FormEvent } from "react";
import { call, http, positionOf } from "../../api/client";
import type { Member } from "../../api/client";
import { nameOf, type DirectoryEntry } from "../../api/directory";
import { Alert, Button, SelectField, messageOf } from "../../components/ui";
import { ConfirmDialog } from "./ConfirmDialog";
import { MEMBER_ROLES, memberRoleLabel, roleBeyondOrg, type MemberRole } from "./rules";

export interface MembersProps {
  sessionId: string;
  members: Member[];
  directory: Map<string, DirectoryEntry>;
  canManage: boolean;
  /** A write went through: re-read the members (and the session) after `position`. */
  onChanged(position: number | null): void;
}

const orgRoleLabel = (role: string | undefined) => (role ? role[0]!.toUpperCase() + role.slice(1) : "—");

/** Directory users who are not members yet, as the "User" select lists them. */
export function candidates(directory: Map<string, DirectoryEntry>, members: readonly Member[]): DirectoryEntry[] {
  const taken = new Set(members.map((m) => m.user_id));
  return [...directory.values()]
    .filter((u) => !taken.has(u.id))
    .sort((a, b) => a.display_name.localeCompare(b.display_name) || a.username.localeCompare(b.username));
}

export function Members({ sessionId, members, directory, canManage, onChanged }: MembersProps) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [removing, setRemoving] = useState<Member | null>(null);
  const [removeError, setRemoveError] = useState<string | null>(null);
  const [newUser, setNewUser] = useState("");
  const [newRole, setNewRole] = useState<MemberRole>("observer");
  // A role beyond the user's organisation role, waiting for the manager to confirm it.
  const [beyond, setBeyond] = useState<{ userId: string; role: MemberRole; why: string; adding: boolean } | null>(null);

  const options = candidates(directory, members);

  async function put(userId: string, role: MemberRole): Promise<boolean> {
    setBusy(userId);
    setError(null);
    try {
      const { response } = await call(() =>
        http.PUT("/v1/sessions/{id}/members/{user_id}", {
          params: { path: { id: sessionId, user_id: userId } },
          body: { role },
        }),
      );
      onChanged(positionOf(response));
      return true;
    } catch (err) {
      setError(messageOf(err));
      return false;
    } finally {
      setBusy(null);
    }
  }

  /** Sets a member's role, after a warning when it goes beyond their organisation role. */
  async function setRole(userId: string, role: MemberRole, adding: boolean, confirmed = false): Promise<void> {
    const why = roleBeyondOrg(directory.get(userId)?.role, role);
    if (why && !confirmed) {
      setBeyond({ userId, role, why, adding });
      return;
    }
    if ((await put(userId, role)) && adding) setNewUser("");
    setBeyond(null);
  }

  function add(e: FormEvent) {
    e.preventDefault();
    if (!newUser) {
      setError("Choose a user to add.");
      return;
    }
    void setRole(newUser, newRole, true);
  }

  async function remove(member: Member) {
    setBusy(member.user_id);
    setRemoveError(null);
    try {
      const { response } = await call(() =>
        http.DELETE("/v1/sessions/{id}/members/{user_id}", {
          params: { path: { id: sessionId, user_id: member.user_id } },
        }),
      );
      setRemoving(null);
      onChanged(positionOf(response));
    } catch (err) {
      setRemoveError(messageOf(err));
    } finally {
      setBusy(null);
    }
  }

  return (
    <section aria-labelledby="members-title" className="flex flex-col gap-3">
      <h2 id="members-title" className="text-lg font-semibold">
        Members
      </h2>
      {error && <Alert>{error}</Alert>}
      {members.length === 0 ? (
        <p className="text-slate-300">No members.</p>
      ) : (
        <div className="overflow-x-auto">
          <table aria-label="Members" className="w-full text-left text-sm">
            <thead className="border-b border-slate-700 text-slate-300">
              <tr>
                <th scope="col" className="py-2 pr-3 font-medium">Name</th>
                <th scope="col" className="py-2 pr-3 font-medium">Org role</th>
                <th scope="col" className="py-2 pr-3 font-medium">Session role</th>
                {canManage && (
                  <th scope="col" className="py-2 pr-3 font-medium">
                    <span className="sr-only">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {members.map((m) => {
                const name = nameOf(directory, m.user_id);
                const entry = directory.get(m.user_id);
                return (
                  <tr key={m.user_id} className="border-b border-slate-800">
                    <td className="py-2 pr-3">
                      {name}
                      {entry && <span className="ml-1 text-slate-400">({entry.username})</span>}
                    </td>
                    <td className="py-2 pr-3 text-slate-200">{orgRoleLabel(entry?.role)}</td>
                    <td className="py-2 pr-3">
                      {canManage ? (
                        <select
                          aria-label={`Session role for ${name}`}
                          value={m.role}
                          disabled={busy === m.user_id}
                          onChange={(e) => void setRole(m.user_id, e.target.value as MemberRole, false)}
                          className="rounded border border-slate-600 bg-slate-900 px-2 py-1 text-slate-100"
                        >
                          {MEMBER_ROLES.map((r) => (
                            <option key={r} value={r}>
                              {memberRoleLabel(r)}
                            </option>
                          ))}
                        </select>
                      ) : (
                        memberRoleLabel(m.role)
                      )}
                    </td>
                    {canManage && (
                      <td className="py-2 pr-3 text-right">
                        <Button
                          variant="ghost"
                          aria-label={`Remove ${name}`}
                          disabled={busy === m.user_id}
                          onClick={() => {
                            setRemoveError(null);
                            setRemoving(m);
                          }}
                        >
                          Remove
                        </Button>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}

      {canManage && (
        <form onSubmit={add} aria-labelledby="add-member-title" className="flex flex-wrap items-end gap-3 rounded-lg border border-slate-700 bg-slate-900 p-3">
          <h3 id="add-member-title" className="sr-only">
            Add member
          </h3>
          {options.length === 0 ? (
            <p className="text-sm text-slate-300">
              {directory.size === 0 ? "Loading the directory of users…" : "Every active user is a member already."}
            </p>
          ) : (
            <>
              <SelectField label="User" value={newUser} onChange={(e) => setNewUser(e.target.value)} className="min-w-64">
                <option value="">Choose a user…</option>
                {options.map((u) => (
                  <option key={u.id} value={u.id}>
                    {u.display_name} ({u.username})
                  </option>
                ))}
              </SelectField>
              <SelectField label="Session role" value={newRole} onChange={(e) => setNewRole(e.target.value as MemberRole)}>
                {MEMBER_ROLES.map((r) => (
                  <option key={r} value={r}>
                    {memberRoleLabel(r)}
                  </option>
                ))}
              </SelectField>
              <Button type="submit" disabled={busy !== null}>
                Add member
              </Button>
            </>
          )}
        </form>
      )}

      {beyond && (
        <ConfirmDialog
          title={`Make ${nameOf(directory, beyond.userId)} session ${beyond.role}?`}
          confirmLabel={`Make ${beyond.role}`}
          busy={busy === beyond.userId}
          onConfirm={() => void setRole(beyond.userId, beyond.role, beyond.adding, true)}
          onCancel={() => setBeyond(null)}
        >
          <p className="text-sm text-slate-300">{beyond.why}</p>
        </ConfirmDialog>
      )}

      {removing && (
        <ConfirmDialog
          title={`Remove ${nameOf(directory, removing.user_id)}?`}
          confirmLabel="Remove member"
          busy={busy === removing.user_id}
          error={removeError}
          onConfirm={() => void remove(removing)}
          onCancel={() => setRemoving(null)}
        >
          <p className="text-sm text-slate-300">They lose access to this session; if they are in it now, they leave it.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
