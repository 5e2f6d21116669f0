#!/usr/bin/env node
// End-to-end first start in headless Chromium (Debian's, driven by playwright-core) against a
// real server that has no admin yet: the sign-in page points to the setup link; the link's page
// (checked with axe-core) creates the first admin and signs them in; signed out, they sign in
// again with the password they chose.
//
// Run by tests/integration/web/first_start.rs, which starts the server and reads the link from
// its output; by hand: E2E_SETUP_LINK='http://127.0.0.1:8080/setup?token=…' node e2e/setup.mjs
// Prints one JSON line on stdout (the result); exits 1 with the reason on stderr on failure.

import { mkdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { launch } from "./browser.mjs";
import { injectScript, watchCsp } from "./csp.mjs";

const require = createRequire(import.meta.url);
const AXE = await readFile(require.resolve("axe-core/axe.min.js"), "utf8");

const link = process.env.E2E_SETUP_LINK ?? "";
const artifacts = path.resolve(process.env.E2E_ARTIFACTS ?? "../target/web-e2e-setup");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS ?? "60000");
const ADMIN = { username: "chief", display: "Dr Chief Surgeon", password: "first admin's own password" };

function die(message) {
  console.error(`e2e-setup: FAILED: ${message}`);
  process.exit(1);
}
if (!link.includes("/setup?token=")) die("E2E_SETUP_LINK is not a setup link");
const base = new URL(link).origin;
const watchdog = setTimeout(() => die(`still running after ${timeoutMs} ms`), timeoutMs);

const started = Date.now();
const result = { steps: [], axe: [], console_errors: [] };
const step = (name) => {
  result.steps.push({ name, at_ms: Date.now() - started });
  console.error(`e2e-setup: ${name} (${Date.now() - started} ms)`);
};

/** axe-core on the page as it is now; serious and critical violations fail the run. */
async function checkAccessibility(page, screen) {
  await injectScript(page, AXE);
  const violations = await page.evaluate(async () => {
    const run = await window.axe.run(document, { resultTypes: ["violations"] });
    return run.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help }));
  });
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  result.axe.push({ screen, violations: violations.length, serious: serious.length });
  if (serious.length) throw new Error(`axe-core: ${screen}: ${JSON.stringify(serious)}`);
  await page.screenshot({ path: path.join(artifacts, `${screen}.png`) });
}

await mkdir(artifacts, { recursive: true });
const browser = await launch(executablePath);
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: base });
await watchCsp(context, (text) => result.console_errors.push(text));
const page = await context.newPage();
page.setDefaultTimeout(15_000);
page.on("console", (msg) => {
  if (msg.type() === "error") result.console_errors.push(msg.text());
});
page.on("pageerror", (err) => result.console_errors.push(String(err)));

try {
  await page.goto("/login");
  await page.getByText("First start: open the setup link printed in the server's log").waitFor();
  await checkAccessibility(page, "sign-in-first-start");
  step("the sign-in page points to the setup link");

  await page.goto(link);
  await page.getByRole("heading", { name: "Set up LiveSurgery" }).waitFor();
  await checkAccessibility(page, "setup");
  await page.getByLabel("Username").fill(ADMIN.username);
  await page.getByLabel("Display name").fill(ADMIN.display);
  await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await page.getByLabel("Confirm password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Create administrator" }).click();
  await page.waitForURL((url) => url.pathname === "/sessions");
  const who = await page.getByTestId("signed-in-as").textContent();
  if (!who?.includes(ADMIN.display) || !who.includes("admin")) throw new Error(`signed in as ${JSON.stringify(who)}`);
  step("the setup page created the admin and signed them in");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.goto("/login");
  await page.getByRole("heading", { name: "LiveSurgery" }).waitFor();
  if (await page.getByText("First start").count()) throw new Error("the first-start hint still shows after setup");
  await page.getByLabel("Username").fill(ADMIN.username);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));
  await page.getByRole("link", { name: "Admin" }).waitFor();
  step("signed out, the admin signs in with their own password");

  // The link is used up: opening it again says so instead of showing the form.
  const again = await browser.newPage();
  await again.goto(link);
  await again.getByRole("link", { name: "Go to sign-in" }).waitFor();
  step("the used link now points to sign-in");

  if (result.console_errors.length) throw new Error(`console errors: ${JSON.stringify(result.console_errors)}`);
  result.total_ms = Date.now() - started;
  console.log(JSON.stringify(result));
} catch (err) {
  await page.screenshot({ path: path.join(artifacts, "failure.png") }).catch(() => {});
  console.error(JSON.stringify(result));
  result.failure = err?.message ?? String(err);
} finally {
  clearTimeout(watchdog);
  await browser.close();
}
if (result.failure) die(result.failure);
