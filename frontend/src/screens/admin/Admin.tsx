// Administration (org role admin; the route is gated): users, and the read models.
import { PageTitle } from "../../components/ui";
import { Projections } from "./Projections";
import { Users } from "./Users";

export function Admin() {
  return (
    <main className="flex flex-col gap-8 p-6">
      <PageTitle>Admin</PageTitle>
      <Users />
      <Projections />
    </main>
  );
}
