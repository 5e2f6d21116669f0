import { render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AppRoutes } from "./App";
import { AuthProvider, forgetSignedIn } from "./auth/AuthContext";
import { ToastProvider } from "./components/Toasts";
import { ids, signedInAs, stubApi, user } from "./screens/sessions/testing";
import { json } from "./test/http";

afterEach(() => {
  vi.unstubAllGlobals();
  forgetSignedIn();
});

function renderApp(path: string) {
  signedInAs(user("reviewer"));
  stubApi((sent) => (sent.method === "GET" ? json({ items: [], next_cursor: null }) : undefined));
  return render(
    <AuthProvider>
      <ToastProvider>
        <MemoryRouter initialEntries={[path]}>
          <AppRoutes />
        </MemoryRouter>
      </ToastProvider>
    </AuthProvider>,
  );
}

describe("the main navigation", () => {
  it("highlights Audit, not Sessions, on a session's audit trail", () => {
    renderApp(`/sessions/${ids.session}/audit`);
    const nav = screen.getByRole("navigation", { name: "Main" });
    expect(within(nav).getByRole("link", { name: "Audit" })).toHaveAttribute("aria-current", "page");
    expect(within(nav).getByRole("link", { name: "Sessions" })).not.toHaveAttribute("aria-current");
  });

  it("highlights Sessions on a session's page", () => {
    renderApp(`/sessions/${ids.session}`);
    const nav = screen.getByRole("navigation", { name: "Main" });
    expect(within(nav).getByRole("link", { name: "Sessions" })).toHaveAttribute("aria-current", "page");
    expect(within(nav).getByRole("link", { name: "Audit" })).not.toHaveAttribute("aria-current");
  });
});

describe("toasts", () => {
  it("show in a live region of the header, in the page's flow, not floating over controls", () => {
    renderApp("/sessions");
    const region = within(screen.getByRole("banner")).getByTestId("toast-region");
    expect(region).toHaveAttribute("aria-live", "polite");
    expect(region.className).not.toMatch(/\b(fixed|absolute)\b/);
    expect(document.querySelectorAll("[aria-live].fixed, [aria-live].absolute")).toHaveLength(0);
  });
});
