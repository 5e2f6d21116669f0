import { Badge } from "../../components/ui";
import { statusLabel, statusTone, type Status } from "./rules";

export function StatusBadge({ status }: { status: Status }) {
  return (
    <span data-testid="session-status" data-status={status}>
      <Badge tone={statusTone(status)}>{statusLabel(status)}</Badge>
    </span>
  );
}
