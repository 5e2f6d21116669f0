#!/usr/bin/env node
// Demo mode in a real browser: headless Chromium (Debian's, driven by playwright-core) signs in
// as the demo observer of a server started with `livesurgery serve --demo`, opens the demo
// workspace and waits until at least three panels decode moving video (videoWidth > 0, and
// requestVideoFrameCallback frames or currentTime advancing), measured from the moment the
// workspace is opened; the bar is 5 s.
//
// Run by tests/integration/demo/e2e.rs, which starts the server and reads the personas'
// passwords from its banner; by hand, against a running `serve --demo`:
//   E2E_BASE=http://127.0.0.1:8080 E2E_USER=demo-observer E2E_PASSWORD=… \
//   E2E_SESSION=<demo session id> node e2e/demo.mjs
// Prints one JSON line on stdout (the result); exits 1 with the reason on stderr on failure.
// With E2E_SCREENSHOTS=<dir> it also saves the pictures the README shows (sign-in.png,
// demo-workspace.png) into that folder; failure screenshots go to E2E_ARTIFACTS.

import { mkdir } from "node:fs/promises";
import path from "node:path";
import { launch } from "./browser.mjs";
import { watchCsp } from "./csp.mjs";

const base = (process.env.E2E_BASE ?? "").replace(/\/+$/, "");
const username = process.env.E2E_USER ?? "demo-observer";
const password = process.env.E2E_PASSWORD ?? "";
const session = process.env.E2E_SESSION ?? "";
const screenshots = process.env.E2E_SCREENSHOTS ? path.resolve(process.env.E2E_SCREENSHOTS) : null;
const artifacts = path.resolve(process.env.E2E_ARTIFACTS ?? "../target/demo-e2e");
const budgetMs = Number(process.env.E2E_BUDGET_MS ?? "5000");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const PANELS_WANTED = 3;
/// Past the budget the run keeps watching this long, to report how late the panels were.
const GRACE_MS = 15_000;

function die(message) {
  console.error(`demo e2e: FAILED: ${message}`);
  process.exit(1);
}
if (!base) die("E2E_BASE is not set");
if (!password) die("E2E_PASSWORD is not set");
if (!/^[0-9a-f-]{36}$/.test(session)) die("E2E_SESSION is not a session id");

const started = Date.now();
const result = { steps: [], console_errors: [], screenshots: [] };
const step = (name, extra = {}) => {
  result.steps.push({ name, at_ms: Date.now() - started, ...extra });
  console.error(`demo e2e: ${name} (${Date.now() - started} ms)`);
};
const watchdog = setTimeout(() => die("still running after 120 s"), 120_000);

const browser = await launch(executablePath, { extra: ["--autoplay-policy=no-user-gesture-required"] });
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: base });
// Other console errors are recorded only; a CSP violation fails the run.
const cspErrors = [];
await watchCsp(context, (text) => cspErrors.push(text));
// Counts the frames each panel's <video> presents, from the first one it gets.
await context.addInitScript(() => {
  window.__demoFrames = {};
  const watch = (video) => {
    if (video.__demoWatched || typeof video.requestVideoFrameCallback !== "function") return;
    video.__demoWatched = true;
    const onFrame = () => {
      const id = video.getAttribute("data-testid") ?? "?";
      window.__demoFrames[id] = (window.__demoFrames[id] ?? 0) + 1;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  };
  new MutationObserver(() => document.querySelectorAll("video").forEach(watch)).observe(document, {
    childList: true,
    subtree: true,
  });
});
const page = await context.newPage();
page.setDefaultTimeout(15_000);
page.on("console", (msg) => {
  if (msg.type() === "error") result.console_errors.push(msg.text());
});
page.on("pageerror", (err) => result.console_errors.push(String(err)));

async function shoot(dir, name) {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file });
  result.screenshots.push(file);
}

/** Each panel video as the page shows it now. */
const panels = () =>
  page.evaluate(() =>
    [...document.querySelectorAll('video[data-testid^="panel-video-"]')].map((v) => ({
      panel: v.getAttribute("data-testid").replace("panel-video-", ""),
      source: v.getAttribute("data-source"),
      width: v.videoWidth,
      height: v.videoHeight,
      time: v.currentTime,
      frames: window.__demoFrames[v.getAttribute("data-testid")] ?? 0,
    })),
  );

try {
  await page.goto("/login");
  await page.getByLabel("Username").waitFor();
  if (screenshots) await shoot(screenshots, "sign-in");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));
  step(`signed in as ${username}`);

  // The clock starts as the workspace is asked for.
  const opened = Date.now();
  await page.goto(`/sessions/${session}/workspace`);
  const firstTime = new Map();
  const movingSince = new Map();
  let last = [];
  for (;;) {
    last = await panels();
    const now = Date.now() - opened;
    for (const p of last) {
      if (p.width > 0 && !firstTime.has(p.panel)) firstTime.set(p.panel, p.time);
      const advanced = firstTime.has(p.panel) && p.time - firstTime.get(p.panel) > 0.1;
      if (p.width > 0 && (p.frames >= 3 || advanced) && !movingSince.has(p.panel)) {
        movingSince.set(p.panel, now);
        step(`panel ${p.panel} (${p.source}) moving`, { after_open_ms: now, ...p });
      }
    }
    if (movingSince.size >= PANELS_WANTED || now > budgetMs + GRACE_MS) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const times = [...movingSince.values()].sort((a, b) => a - b);
  result.panels = last;
  result.moving_after_open_ms = Object.fromEntries(movingSince);
  result.third_panel_moving_ms = times.length >= PANELS_WANTED ? times[PANELS_WANTED - 1] : null;
  if (result.third_panel_moving_ms === null) {
    die(`only ${times.length} panels moved within ${budgetMs + GRACE_MS} ms of opening the workspace: ${JSON.stringify(last)}`);
  }
  if (result.third_panel_moving_ms > budgetMs) {
    die(`the third panel moved ${result.third_panel_moving_ms} ms after opening the workspace (budget ${budgetMs} ms): ${JSON.stringify(result.moving_after_open_ms)}`);
  }
  // Moving, not a still: a second later each of them has presented more frames.
  const before = new Map(last.map((p) => [p.panel, p]));
  await page.waitForTimeout(1000);
  const after = await panels();
  const still = after.filter(
    (p) => movingSince.has(p.panel) && p.frames <= before.get(p.panel).frames && p.time <= before.get(p.panel).time,
  );
  if (still.length) die(`panels stopped moving: ${JSON.stringify(still)}`);
  result.panels = after;
  step("at least three panels decode moving video", { third_panel_ms: result.third_panel_moving_ms });
  if (screenshots) {
    // Let the traces draw a little more, for a picture that shows them.
    await page.waitForTimeout(1500);
    await shoot(screenshots, "demo-workspace");
  }
} catch (error) {
  await shoot(artifacts, "demo-failure").catch(() => {});
  die(`${error.stack ?? error}`);
}

const violations = [...cspErrors, ...result.console_errors.filter((e) => /Content.Security.Policy|CSP violation/i.test(e))];
if (violations.length) die(`Content-Security-Policy: ${JSON.stringify(violations)}`);
clearTimeout(watchdog);
await browser.close();
result.total_ms = Date.now() - started;
console.log(JSON.stringify(result));
