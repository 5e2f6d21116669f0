// Routes and the signed-in shell. Screens live in src/screens/<screen>/.
import { Link, NavLink, Navigate, Outlet, Route, RouterProvider, Routes, createBrowserRouter, useLocation, useMatch } from "react-router";
import { AuthProvider, useAuth } from "./auth/AuthContext";
import { ToastProvider, ToastRegion } from "./components/Toasts";
import { Button } from "./components/ui";
import { SignIn } from "./screens/SignIn";
import { Setup } from "./screens/Setup";
import { SessionList } from "./screens/sessions/SessionList";
import { SessionDetail } from "./screens/sessions/SessionDetail";
import { Workspace } from "./screens/workspace/Workspace";
import { Audit } from "./screens/audit/Audit";
import { Admin } from "./screens/admin/Admin";

function RequireAuth() {
  const { user } = useAuth();
  const location = useLocation();
  if (!user) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  return <Outlet />;
}

function RequireRole({ roles }: { roles: string[] }) {
  const { user } = useAuth();
  if (!user || !roles.includes(user.role)) {
    return (
      <main className="p-6">
        <h1 className="text-xl font-semibold">Not available</h1>
        <p className="mt-2 text-slate-300">Your role ({user?.role}) cannot open this page.</p>
      </main>
    );
  }
  return <Outlet />;
}

function Shell() {
  const { user, signOut } = useAuth();
  const link = ({ isActive }: { isActive: boolean }) =>
    `rounded px-2 py-1 text-sm ${isActive ? "bg-slate-700 text-white" : "text-slate-300 hover:bg-slate-800"}`;
  const auditor = user?.role === "admin" || user?.role === "reviewer";
  // A session's audit trail belongs to Audit, though its URL lies under /sessions.
  const inAudit = useMatch("/sessions/:id/audit") !== null;
  const inSessions = useMatch({ path: "/sessions", end: false }) !== null && !inAudit;
  const onAudit = useMatch({ path: "/audit", end: false }) !== null || inAudit;
  return (
    <div className="flex min-h-screen flex-col">
      <header className="flex flex-wrap items-center gap-x-4 gap-y-2 border-b border-slate-800 bg-slate-900 px-4 py-2">
        <Link to="/sessions" className="font-semibold text-sky-300">
          LiveSurgery
        </Link>
        <nav aria-label="Main" className="flex gap-1">
          <Link to="/sessions" className={link({ isActive: inSessions })} aria-current={inSessions ? "page" : undefined}>
            Sessions
          </Link>
          {auditor && (
            <Link to="/audit" className={link({ isActive: onAudit })} aria-current={onAudit ? "page" : undefined}>
              Audit
            </Link>
          )}
          {user?.role === "admin" && (
            <NavLink to="/admin" className={link}>
              Admin
            </NavLink>
          )}
        </nav>
        <ToastRegion className="order-last basis-full md:order-none md:basis-0 md:flex-1 md:items-center" />
        <div className="ml-auto flex items-center gap-3 text-sm">
          <span data-testid="signed-in-as">
            {user?.display_name} <span className="text-slate-400">({user?.role})</span>
          </span>
          <Button variant="secondary" onClick={signOut}>
            Sign out
          </Button>
        </div>
      </header>
      <div className="flex flex-1 flex-col">
        <Outlet />
      </div>
    </div>
  );
}

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/login" element={<SignIn />} />
      <Route path="/setup" element={<Setup />} />
      <Route element={<RequireAuth />}>
        <Route element={<Shell />}>
          <Route path="/" element={<Navigate to="/sessions" replace />} />
          <Route path="/sessions" element={<SessionList />} />
          <Route path="/sessions/:id" element={<SessionDetail />} />
          <Route path="/sessions/:id/workspace" element={<Workspace />} />
          <Route element={<RequireRole roles={["admin", "reviewer"]} />}>
            <Route path="/audit" element={<Audit />} />
            <Route path="/sessions/:id/audit" element={<Audit />} />
          </Route>
          <Route element={<RequireRole roles={["admin"]} />}>
            <Route path="/admin" element={<Admin />} />
            <Route path="/admin/health" element={<Admin page="health" />} />
          </Route>
          <Route
            path="*"
            element={
              <main className="p-6">
                <h1 className="text-xl font-semibold">Page not found</h1>
                <Link className="text-sky-300 underline" to="/sessions">
                  Back to sessions
                </Link>
              </main>
            }
          />
        </Route>
      </Route>
    </Routes>
  );
}

// A data router, so that a screen can hold navigation back (`useBlocker`: leaving the workspace
// while publishing asks first); the routes themselves stay in `AppRoutes`.
const router = createBrowserRouter([{ path: "*", element: <AppRoutes /> }]);

export default function App() {
  return (
    <AuthProvider>
      <ToastProvider>
        <RouterProvider router={router} />
      </ToastProvider>
    </AuthProvider>
  );
}
