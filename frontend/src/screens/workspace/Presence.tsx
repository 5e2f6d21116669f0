// Who is here now, with their session role.
import type { DirectoryEntry } from "../../api/directory";
import { nameOf } from "../../api/directory";
import { Badge } from "../../components/ui";
import type { Participant, SessionRole } from "../../realtime/sessionState";

const ROLE_TONE: Record<SessionRole, "sky" | "emerald" | "slate"> = {
  host: "sky",
  surgeon: "emerald",
  observer: "slate",
};

export function Presence({
  participants,
  me,
  directory,
}: {
  participants: Participant[];
  me: string;
  directory: Map<string, DirectoryEntry>;
}) {
  return (
    <section aria-label="Participants" data-testid="presence" className="flex flex-col gap-2">
      <h2 className="text-sm font-semibold text-slate-200">
        Here now <span className="font-normal text-slate-400">({participants.length})</span>
      </h2>
      {participants.length === 0 ? (
        <p className="text-sm text-slate-400">Nobody is connected.</p>
      ) : (
        <ul className="flex flex-col gap-1.5">
          {participants.map((p) => (
            <li
              key={p.participant_id}
              data-testid="presence-item"
              data-user-id={p.user_id}
              data-role={p.role}
              className="flex flex-wrap items-center gap-1.5 text-sm"
            >
              <span className="text-slate-100">{nameOf(directory, p.user_id)}</span>
              {p.participant_id === me && <span className="text-slate-400">(you)</span>}
              <Badge tone={ROLE_TONE[p.role]}>{p.role}</Badge>
              {p.device && <span className="w-full truncate text-xs text-slate-400">{p.device}</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
