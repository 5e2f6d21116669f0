// Administration (org role admin; the route is gated): users and the read models at /admin,
// the service's health at /admin/health.
import { NavLink } from "react-router";
import { PageTitle } from "../../components/ui";
import { Health } from "./Health";
import { Projections } from "./Projections";
import { Users } from "./Users";

export function Admin({ page = "manage" }: { page?: "manage" | "health" }) {
  const tab = ({ isActive }: { isActive: boolean }) =>
    `rounded px-2 py-1 text-sm ${isActive ? "bg-slate-700 text-white" : "text-slate-300 hover:bg-slate-800"}`;
  return (
    <main className="flex flex-col gap-8 p-6">
      <div>
        <PageTitle>Admin</PageTitle>
        <nav aria-label="Admin" className="flex gap-1">
          <NavLink to="/admin" end className={tab}>
            Users and projections
          </NavLink>
          <NavLink to="/admin/health" className={tab}>
            Health
          </NavLink>
        </nav>
      </div>
      {page === "health" ? (
        <Health />
      ) : (
        <>
          <Users />
          <Projections />
        </>
      )}
    </main>
  );
}
