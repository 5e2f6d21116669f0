#!/usr/bin/env node
// End to end, a stalled publisher: the surgeon publishes Chromium's fake camera into panel p1 and
// the observer's panel plays it; then the surgeon's video sender stops sending frames
// (`RTCRtpSender.replaceTrack(null)`: no RTP at all, while the connection stays up) and the
// observer's panel says `no signal for N s` within a few seconds, N counting up; the frames come
// back and it clears; the surgeon stops publishing and the panel says the source stopped.
//
// Run by tests/integration/web/feeds.rs, which starts the server, makes the users and starts the
// session; by hand:
//   E2E_BASE=http://127.0.0.1:8080 E2E_SESSION=<uuid> \
//   E2E_USERS='{"surgeon":["u","pw"],"observer":["u","pw"]}' node e2e/feeds.mjs
// Prints one JSON line on stdout (the result); exits 1 with the reason on stderr on failure.
// Screenshots go to E2E_ARTIFACTS (default ../target/web-e2e).

import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { launch, signIn, until } from "./browser.mjs";

const base = (process.env.E2E_BASE ?? "").replace(/\/+$/, "");
const sessionId = process.env.E2E_SESSION ?? "";
const users = JSON.parse(process.env.E2E_USERS ?? "{}");
const artifacts = path.resolve(process.env.E2E_ARTIFACTS ?? "../target/web-e2e");
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS ?? "120000");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SOURCE = "endoscope";
/** The observer's panel must say it this soon after the frames stop. */
const NO_SIGNAL_WITHIN_MS = 6000;

function die(message) {
  console.error(`e2e feeds: FAILED: ${message}`);
  process.exit(1);
}
class Failure extends Error {}
function fail(message) {
  throw new Failure(message);
}
if (!base || !sessionId) die("E2E_BASE and E2E_SESSION must be set");
for (const role of ["surgeon", "observer"]) {
  if (!Array.isArray(users[role])) die(`E2E_USERS has no ${role}: [username, password]`);
}

const started = Date.now();
const result = { steps: [], screenshots: [], console_errors: [] };
const step = (name, extra = {}) => {
  result.steps.push({ name, at_ms: Date.now() - started, ...extra });
  console.error(`e2e feeds: ${name} (${Date.now() - started} ms)`);
};
const watchdog = setTimeout(() => die(`still running after ${timeoutMs} ms`), timeoutMs);

const browser = await launch(executablePath, { fakeMedia: true });

async function person(role) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: base });
  await context.grantPermissions(["camera", "microphone"], { origin: base });
  // Keeps every peer connection the page makes within reach of the test (the app exposes none).
  await context.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    if (!Native) return;
    window.__e2ePeerConnections = [];
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        window.__e2ePeerConnections.push(this);
      }
    };
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("console", (msg) => {
    if (msg.type() === "error") result.console_errors.push({ role, text: msg.text() });
  });
  page.on("pageerror", (err) => result.console_errors.push({ role, text: String(err) }));
  await signIn(page, users[role]);
  await page.goto(`/sessions/${sessionId}/workspace`);
  await page.getByTestId("connection-status").and(page.locator('[data-state="connected"]')).waitFor();
  return { role, context, page };
}


async function shot(page, name) {
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file });
  result.screenshots.push(path.relative(process.cwd(), file));
}

/** Stops (`null`) or restores the video of every sender of the page's live connections. */
function setVideoSending(page, on) {
  return page.evaluate(async (on) => {
    let n = 0;
    for (const pc of window.__e2ePeerConnections ?? []) {
      if (pc.connectionState === "closed") continue;
      for (const sender of pc.getSenders()) {
        if (on) {
          if (sender.track === null && sender.__e2eTrack) await sender.replaceTrack(sender.__e2eTrack);
        } else if (sender.track?.kind === "video") {
          sender.__e2eTrack = sender.track;
          await sender.replaceTrack(null);
        } else continue;
        n++;
      }
    }
    return n;
  }, on);
}

const framesOf = (page) =>
  page.evaluate(async (source) => (await (window.__livesurgeryMedia?.inbound() ?? [])).find((s) => s.source === source)?.framesDecoded ?? 0, SOURCE);

await mkdir(artifacts, { recursive: true });
try {
  const surgeon = await person("surgeon");
  const sp = surgeon.page;
  const observer = await person("observer");
  const op = observer.page;
  step("surgeon and observer in the workspace");

  // Before anything is published, the observer's empty panel says so; p1 gets the source first.
  await sp.getByLabel("Source name").fill(SOURCE);
  const sourceSelect = sp.getByLabel("Source for panel p1");
  await sp.getByRole("button", { name: "Publish", exact: true }).click();
  await until(async () => (await sp.evaluate(() => window.__livesurgeryMedia?.published() ?? [])).includes(SOURCE), 15_000);
  await until(async () => (await sourceSelect.locator("option").allTextContents()).some((t) => t.includes(SOURCE)), 15_000);
  await sourceSelect.selectOption(SOURCE);
  const moving = await until(async () => (await framesOf(op)) > 10, 20_000, 200);
  if (!moving) fail(`the observer decoded no frame of ${SOURCE}`);
  await op.getByTestId("feed-p1").and(op.locator('[data-feed-state="connecting"]')).waitFor();
  if (await op.getByTestId("no-signal-p1").count()) fail("no signal shown while frames flow");
  step("observer's panel p1 plays the surgeon's camera", { framesDecoded: await framesOf(op) });
  await shot(op, "feeds-observer-live");

  // The surgeon's frames stop; its connection stays up.
  const stopped = await setVideoSending(sp, false);
  if (stopped === 0) fail("the surgeon's page has no video sender to stop");
  const stoppedAt = Date.now();
  const noSignal = op.getByTestId("no-signal-p1");
  await noSignal.waitFor({ timeout: NO_SIGNAL_WITHIN_MS });
  const shownAfterMs = Date.now() - stoppedAt;
  const first = (await noSignal.textContent()) ?? "";
  if (!/^no signal for \d+ s$/.test(first)) fail(`the panel says ${JSON.stringify(first)}`);
  const frozenAt = await framesOf(op);
  const counted = await until(async () => {
    const text = (await noSignal.textContent()) ?? "";
    const n = Number(/for (\d+) s/.exec(text)?.[1] ?? -1);
    return n >= 4 ? text : null;
  }, 5_000, 250);
  if (!counted) fail(`the count did not rise: ${JSON.stringify(await noSignal.textContent())}`);
  if ((await framesOf(op)) !== frozenAt) fail("frames were still decoded while the panel said no signal");
  const publisherState = await sp.evaluate(() => (window.__e2ePeerConnections ?? []).map((pc) => pc.connectionState));
  if (!publisherState.includes("connected")) fail(`the surgeon's connection went down: ${publisherState}`);
  result.no_signal = { shown_after_ms: shownAfterMs, first, later: counted };
  step("observer's panel says no signal and counts up", result.no_signal);
  await shot(op, "feeds-observer-no-signal");

  // The frames come back: the panel clears.
  await setVideoSending(sp, true);
  await noSignal.waitFor({ state: "detached", timeout: 10_000 });
  step("frames back: no signal cleared");

  // The surgeon stops publishing: the panel says so rather than freezing.
  await sp.getByRole("button", { name: `Stop publishing ${SOURCE}`, exact: true }).click();
  await sp.getByRole("dialog", { name: `Stop publishing ${SOURCE}?` }).getByRole("button", { name: "Stop publishing", exact: true }).click();
  await op.getByTestId("feed-p1").and(op.locator('[data-feed-state="stopped"]')).waitFor({ timeout: 10_000 });
  const placeholder = await op.getByTestId("panel-placeholder-p1").textContent();
  if (placeholder !== `${SOURCE} stopped publishing`) fail(`the stopped panel says ${JSON.stringify(placeholder)}`);
  step("publisher stopped: the panel says the source stopped publishing");
  await shot(op, "feeds-observer-stopped");

  if (result.console_errors.length) fail(`console errors: ${JSON.stringify(result.console_errors, null, 1)}`);
  result.total_ms = Date.now() - started;
  await writeFile(path.join(artifacts, "feeds-result.json"), JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result));
} catch (err) {
  for (const [i, ctx] of browser.contexts().entries()) {
    for (const page of ctx.pages()) {
      await page.screenshot({ path: path.join(artifacts, `feeds-failure-${i}.png`) }).catch(() => {});
    }
  }
  console.error(`e2e feeds: steps so far: ${JSON.stringify(result.steps)}`);
  if (result.console_errors.length) console.error(`e2e feeds: console errors: ${JSON.stringify(result.console_errors)}`);
  clearTimeout(watchdog);
  await browser.close();
  die(err instanceof Failure ? err.message : (err?.stack ?? String(err)));
}
clearTimeout(watchdog);
await browser.close();
