#!/usr/bin/env node
// Every screen at every size (issue 20): the sessions list, a session, its workspace, its audit,
// the admin screen and its Health page at 390x844, 844x390, 1024x768 and 1280x800, in headless Chromium against
// a real server. At each size: no horizontal overflow (the page is never wider than the
// window), a screenshot, and what was seen to fail: the sessions list keeps its status column,
// the admin table's Deactivate is on screen, the workspace's videos get most of the width and
// its last panel can be scrolled to, the audit's integrity check and replay are near the top.
//
// Run by tests/integration/web/screens.rs, which starts the server, a live session and the
// users: E2E_BASE, E2E_SESSION, E2E_USERS='{"surgeon":["u","pw"],"admin":["u","pw"]}'.
// Prints one JSON line (the result); exits 1 with the reason on stderr. Screenshots go to
// E2E_ARTIFACTS as screens-<screen>-<size>.png.

import { mkdir } from "node:fs/promises";
import path from "node:path";
import { launch, signIn } from "./browser.mjs";

const base = (process.env.E2E_BASE ?? "").replace(/\/+$/, "");
const session = process.env.E2E_SESSION ?? "";
const users = JSON.parse(process.env.E2E_USERS ?? "{}");
const artifacts = path.resolve(process.env.E2E_ARTIFACTS ?? "../target/web-e2e");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const SIZES = [
  { name: "390x844", width: 390, height: 844 },
  { name: "844x390", width: 844, height: 390 },
  { name: "1024x768", width: 1024, height: 768 },
  { name: "1280x800", width: 1280, height: 800 },
];

const result = { screens: [], screenshots: [], console_errors: [] };
function die(message) {
  console.error(`e2e screens: FAILED: ${message}`);
  process.exit(1);
}
if (!base || !session || !users.surgeon || !users.admin) die("E2E_BASE, E2E_SESSION and E2E_USERS (surgeon, admin) are needed");
const watchdog = setTimeout(() => die("still running after 200 s"), 200_000);
await mkdir(artifacts, { recursive: true });
const browser = await launch(executablePath);
const failures = [];

async function person(role) {
  const context = await browser.newContext({ viewport: SIZES[3], baseURL: base });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("console", (msg) => msg.type() === "error" && result.console_errors.push({ role, text: msg.text() }));
  page.on("pageerror", (err) => result.console_errors.push({ role, text: String(err) }));
  await signIn(page, users[role]);
  return page;
}

/** How far the page is wider than its window (0: not at all). */
const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

/** The element's box, or null when it is not there. */
async function box(locator) {
  return (await locator.count()) ? locator.first().boundingBox() : null;
}

/** `check` returns a reason when the screen fails at this size, else null. */
async function screen(page, name, url, ready, check) {
  for (const size of SIZES) {
    await page.setViewportSize(size);
    await page.goto(url);
    await ready(page);
    await page.waitForTimeout(300);
    const wider = await overflow(page);
    const reason = wider > 0 ? `${wider} px wider than the window` : await check(page, size);
    const file = path.join(artifacts, `screens-${name}-${size.name}.png`);
    await page.screenshot({ path: file, fullPage: false });
    result.screenshots.push(file);
    result.screens.push({ screen: name, size: size.name, overflow_px: wider, ok: !reason });
    if (reason) failures.push(`${name} at ${size.name}: ${reason}`);
  }
}

const surgeon = await person("surgeon");
const admin = await person("admin");

await screen(
  surgeon,
  "sessions",
  "/sessions",
  (p) => p.getByRole("table").waitFor(),
  async (p, size) => {
    const status = await box(p.getByRole("columnheader", { name: "Status" }));
    return status && status.x + status.width <= size.width ? null : "the Status column is not on screen";
  },
);

await screen(
  surgeon,
  "session",
  `/sessions/${session}`,
  (p) => p.getByRole("heading", { level: 1 }).waitFor(),
  async () => null,
);

await screen(
  surgeon,
  "workspace",
  `/sessions/${session}/workspace`,
  (p) => p.getByTestId("connection-status").and(p.locator('[data-state="connected"]')).waitFor(),
  async (p, size) => {
    const grid = await box(p.locator(".react-grid-layout"));
    if (!grid) return "no grid";
    if (grid.width < size.width * 0.6) return `the panels get ${Math.round(grid.width)} of ${size.width} px`;
    // Every panel's controls lie inside the panel, none cut off by a narrow panel's edge.
    const clipped = await p.evaluate(() => {
      for (const panel of document.querySelectorAll(".ls-panel")) {
        const edge = panel.getBoundingClientRect();
        for (const control of panel.querySelectorAll("button, select")) {
          const b = control.getBoundingClientRect();
          if (b.width === 0 && b.height === 0) continue;
          if (b.left < edge.left - 1 || b.right > edge.right + 1 || b.bottom > edge.bottom + 1) {
            return `${control.getAttribute("aria-label") ?? control.textContent} (${Math.round(b.right - edge.right)} px past the panel's right edge)`;
          }
        }
      }
      return null;
    });
    if (clipped) return `a panel's control is cut off: ${clipped}`;
    // The lowest panel can be scrolled into view, whole.
    const panels = p.locator(".ls-panel");
    const n = await panels.count();
    let lowest = null;
    for (let i = 0; i < n; i++) {
      const b = await panels.nth(i).boundingBox();
      if (b && (!lowest || b.y + b.height > lowest.y + lowest.height)) lowest = { index: i, ...b };
    }
    if (!lowest) return "no panels";
    await panels.nth(lowest.index).scrollIntoViewIfNeeded();
    const seen = await panels.nth(lowest.index).boundingBox();
    return seen && seen.y >= -1 && seen.y + Math.min(seen.height, size.height) <= size.height + 1
      ? null
      : "the lowest panel cannot be scrolled into view";
  },
);

await screen(
  admin,
  "audit",
  `/sessions/${session}/audit`,
  (p) => p.getByRole("heading", { name: /timeline/i }).first().waitFor(),
  async (p, size) => {
    for (const name of [/integrity/i, /replay/i]) {
      const heading = await box(p.getByRole("heading", { name }));
      if (!heading) return `no ${name} heading`;
      if (heading.y > 3 * size.height) return `${name} is ${Math.round(heading.y)} px down`;
    }
    return null;
  },
);

await screen(
  admin,
  "admin",
  "/admin",
  (p) => p.getByRole("table").first().waitFor(),
  async (p, size) => {
    const deactivate = await box(p.getByRole("button", { name: /deactivate/i }));
    return deactivate && deactivate.x + deactivate.width <= size.width ? null : "Deactivate is not on screen";
  },
);

await screen(
  admin,
  "health",
  "/admin/health",
  (p) => p.getByRole("table", { name: "Service level indicators" }).waitFor(),
  async (p, size) => {
    // The pages above made REST calls to this server: its availability has a value.
    const rest = p.getByTestId("sli-rest_availability");
    if (!(await rest.count())) return "no REST availability row";
    if (/no data/i.test(await rest.innerText())) return "REST availability has no data after the REST calls above";
    const status = await box(rest.getByText(/^(Met|Missed|No data)$/));
    return status && status.x + status.width <= size.width ? null : "the status is not on screen";
  },
);

await browser.close();
clearTimeout(watchdog);
console.log(JSON.stringify(result));
if (failures.length) die(failures.join("\n"));
if (result.console_errors.length) die(`console errors: ${JSON.stringify(result.console_errors)}`);
