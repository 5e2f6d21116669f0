#!/usr/bin/env node
// Panels never hide each other, and each viewer's own view (issue 20), in headless Chromium
// against a real server: the session's host drags a panel onto another on the full grid (they
// swap), removes a panel and adds panels until the grid is
// full (Add panel is disabled and says so; no two panels' boxes overlap), removes one and undoes
// it, names one; the observer spotlights a panel (nothing changes for the host) and opens the
// shortcuts with `?`.
//
// Run by tests/integration/web/panels.rs, which starts the server, the live session and the
// users: E2E_BASE, E2E_SESSION, E2E_USERS='{"surgeon":["u","pw"],"observer":["u","pw"]}'.
// Prints one JSON line (the result); exits 1 with the reason on stderr. Screenshots go to
// E2E_ARTIFACTS as panels-*.png.

import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { launch, signIn } from "./browser.mjs";
import { watchCsp } from "./csp.mjs";

const base = (process.env.E2E_BASE ?? "").replace(/\/+$/, "");
const session = process.env.E2E_SESSION ?? "";
const users = JSON.parse(process.env.E2E_USERS ?? "{}");
const artifacts = path.resolve(process.env.E2E_ARTIFACTS ?? "../target/web-e2e");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const VIEWPORT = { width: 1280, height: 800 };

const started = Date.now();
const result = { steps: [], screenshots: [], console_errors: [] };
const step = (name, extra = {}) => {
  result.steps.push({ name, at_ms: Date.now() - started, ...extra });
  console.error(`e2e panels: ${name} (${Date.now() - started} ms)`);
};
function fail(message) {
  throw new Error(message);
}
function die(message) {
  console.error(`e2e panels: FAILED: ${message}`);
  process.exit(1);
}
if (!base || !session || !users.surgeon || !users.observer) die("E2E_BASE, E2E_SESSION and E2E_USERS (surgeon, observer) are needed");
const watchdog = setTimeout(() => die("still running after 120 s"), 120_000);

const browser = await launch(executablePath);

async function person(role) {
  const context = await browser.newContext({ viewport: VIEWPORT, baseURL: base });
  await watchCsp(context, (text) => result.console_errors.push({ role, text }));
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("console", (msg) => msg.type() === "error" && result.console_errors.push({ role, text: msg.text() }));
  page.on("pageerror", (err) => result.console_errors.push({ role, text: String(err) }));
  await signIn(page, users[role]);
  await page.goto(`/sessions/${session}/workspace`);
  await page.getByTestId("connection-status").and(page.locator('[data-state="connected"]')).waitFor();
  await page.getByTestId("panel-p1").waitFor();
  return page;
}

async function shoot(page, name) {
  const file = path.join(artifacts, `panels-${name}.png`);
  await page.screenshot({ path: file });
  result.screenshots.push(path.relative(process.cwd(), file));
}

/** Every panel's box on the page, by id. */
const boxes = (page) =>
  page.locator(".ls-panel").evaluateAll((els) =>
    els.map((el) => {
      const r = el.getBoundingClientRect();
      return { id: el.dataset.testid.replace(/^panel-/, ""), left: r.left, top: r.top, right: r.right, bottom: r.bottom };
    }),
  );

function overlapping(list) {
  for (let i = 0; i < list.length; i++)
    for (let j = i + 1; j < list.length; j++) {
      const [a, b] = [list[i], list[j]];
      if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) return [a, b];
    }
  return null;
}

const grid = (page, id) =>
  page.getByTestId(`panel-${id}`).evaluate((el) => ["x", "y", "w", "h"].map((k) => el.dataset[k]).join(","));

await mkdir(artifacts, { recursive: true });
try {
  const sp = await person("surgeon");
  const add = sp.getByRole("button", { name: "Add panel", exact: true });
  // The new session's four quadrants fill the grid already.
  if (await add.isEnabled()) fail("Add panel is enabled on the full default grid");
  // On the full grid a drag of p1 onto p2 has no room to push p2 aside: the two swap places.
  const cell = (await sp.getByTestId("panel-p1").boundingBox()).width / 6;
  const hb = await sp.getByRole("button", { name: "Move panel p1", exact: true }).boundingBox();
  await sp.mouse.move(hb.x + hb.width / 2, hb.y + hb.height / 2);
  await sp.mouse.down();
  for (let i = 1; i <= 12; i++) await sp.mouse.move(hb.x + hb.width / 2 + (cell * 6 * i) / 12, hb.y + hb.height / 2);
  await sp.mouse.up();
  await sp.waitForFunction(() => document.querySelector('[data-testid="panel-p1"]')?.dataset.x === "6" && document.querySelector('[data-testid="panel-p2"]')?.dataset.x === "0");
  const swapped = { p1: await grid(sp, "p1"), p2: await grid(sp, "p2") };
  if (swapped.p1 !== "6,0,6,6" || swapped.p2 !== "0,0,6,6") fail(`after the drag p1 is at ${swapped.p1}, p2 at ${swapped.p2}`);
  step("a drag of p1 onto p2 on the full grid swapped them", swapped);
  await sp.getByRole("button", { name: "Delete panel p4", exact: true }).click();
  await sp.getByTestId("panel-p4").waitFor({ state: "detached" });
  step("the default grid is full; p4 removed to make room");

  let clicks = 0;
  while (await add.isEnabled()) {
    const before = await sp.locator(".ls-panel").count();
    await add.click();
    clicks += 1;
    await sp.waitForFunction((n) => document.querySelectorAll(".ls-panel").length > n, before);
    if (clicks > 40) fail("Add panel never became disabled");
  }
  const full = await sp.getByTestId("grid-full").textContent();
  if (!/^The grid is full/.test(full ?? "")) fail(`the full grid says ${JSON.stringify(full)}`);
  const shown = await boxes(sp);
  const clash = overlapping(shown);
  if (clash) fail(`panels overlap: ${JSON.stringify(clash)}`);
  result.full_grid = { clicks, panels: shown.length, says: full };
  await shoot(sp, "full-grid");
  step("Add panel clicked until the grid was full: it says so, no two panels overlap", result.full_grid);

  const p2 = await grid(sp, "p2");
  await sp.getByRole("button", { name: "Delete panel p2", exact: true }).click();
  await sp.getByTestId("panel-p2").waitFor({ state: "detached" });
  const bar = sp.getByTestId("undo-remove");
  await bar.waitFor();
  await shoot(sp, "undo");
  await bar.getByRole("button", { name: "Undo" }).click();
  await sp.getByTestId("panel-p2").waitFor();
  if ((await grid(sp, "p2")) !== p2) fail(`p2 came back at ${await grid(sp, "p2")}, not ${p2}`);
  step("p2 removed and put back in its place with Undo", { p2 });

  const op = await person("observer");
  await sp.getByRole("button", { name: "Rename panel p1", exact: true }).click();
  await sp.getByRole("textbox", { name: "Name of panel p1" }).fill("Main view");
  await sp.keyboard.press("Enter");
  await op.getByTestId("panel-p1").getByTestId("panel-title").getByText("Main view", { exact: true }).waitFor();
  step("a name the host gave p1 reached the observer");

  await op.getByRole("button", { name: "Spotlight panel p1", exact: true }).click();
  await op.getByTestId("personal-spotlight").waitFor();
  const big = await op.getByTestId("personal-spotlight").locator(".ls-panel").first().getAttribute("data-testid");
  if (big !== "panel-p1") fail(`the spotlight shows ${big} first`);
  await sp.waitForTimeout(300);
  if ((await sp.getByTestId("personal-spotlight").count()) !== 0) fail("the observer's spotlight changed the host's screen");
  await shoot(op, "observer-spotlight");
  await op.keyboard.press("?");
  await op.getByRole("dialog", { name: "Keyboard shortcuts" }).waitFor();
  await shoot(op, "shortcuts");
  await op.keyboard.press("Escape");
  await op.getByRole("dialog").waitFor({ state: "detached" });
  await op.keyboard.press("Escape");
  await op.getByTestId("workspace-grid").waitFor();
  step("the observer spotlit p1 for itself, read the shortcuts and went back");

  if (result.console_errors.length) fail(`console errors: ${JSON.stringify(result.console_errors)}`);
  result.total_ms = Date.now() - started;
  console.log(JSON.stringify(result));
} catch (err) {
  for (const [i, ctx] of browser.contexts().entries())
    for (const page of ctx.pages()) await page.screenshot({ path: path.join(artifacts, `panels-failure-${i}.png`) }).catch(() => {});
  await writeFile(path.join(artifacts, "panels-result.json"), JSON.stringify(result, null, 2)).catch(() => {});
  clearTimeout(watchdog);
  await browser.close();
  die(err?.stack ?? String(err));
}
clearTimeout(watchdog);
await browser.close();
