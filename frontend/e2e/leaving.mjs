#!/usr/bin/env node
// End-to-end: leaving must not silently cut the operating room's feed. In headless Chromium
// (Debian's, driven by playwright-core) against a real server serving the built app, with a
// live session whose host is the surgeon and whose member is the observer (made by the caller):
// the surgeon previews the fake camera and publishes it with the fake microphone; the observer's
// panel decodes it; leaving through a link asks first (Stay); a reload warns (beforeunload),
// then offers "Resume publishing endoscope?"; Resume publishes it again and the observer's panel
// decodes frames again (framesDecoded advancing) and plays its sound once turned on; Stop asks
// to confirm.
//
// Run by tests/integration/web/leaving.rs; by hand:
//   E2E_BASE=http://127.0.0.1:8080 E2E_SESSION=<id> E2E_USERS='{"surgeon":["u","pw"],"observer":["u","pw"]}' node e2e/leaving.mjs
// Prints one JSON line on stdout (the result); exits 1 with the reason on stderr on failure.
// Screenshots go to E2E_ARTIFACTS (default ../target/web-e2e-leaving).

import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { watchCsp } from "./csp.mjs";
import { launch, signIn, until } from "./browser.mjs";

const base = (process.env.E2E_BASE ?? "").replace(/\/+$/, "");
const sessionId = process.env.E2E_SESSION ?? "";
const users = JSON.parse(process.env.E2E_USERS ?? "{}");
const artifacts = path.resolve(process.env.E2E_ARTIFACTS ?? "../target/web-e2e-leaving");
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS ?? "120000");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SOURCE = "endoscope";

function die(message) {
  console.error(`e2e-leaving: FAILED: ${message}`);
  process.exit(1);
}
if (!base || !sessionId || !users.surgeon || !users.observer) die("E2E_BASE, E2E_SESSION and E2E_USERS (surgeon, observer) are needed");
const watchdog = setTimeout(() => die(`still running after ${timeoutMs} ms`), timeoutMs);

const started = Date.now();
const result = { steps: [], screenshots: [], console_errors: [], dialogs: [] };
const step = (name, extra = {}) => {
  result.steps.push({ name, at_ms: Date.now() - started, ...extra });
  console.error(`e2e-leaving: ${name} (${Date.now() - started} ms)`);
};
class Failure extends Error {}
const fail = (message) => {
  throw new Failure(message);
};

const browser = await launch(executablePath, { fakeMedia: true });

/** One person: a context of their own, signed in, console errors collected. */
async function signedIn(role) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: base });
  await context.grantPermissions(["camera", "microphone"], { origin: base });
  await watchCsp(context, (text) => result.console_errors.push({ role, text }));
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("console", (msg) => msg.type() === "error" && result.console_errors.push({ role, text: msg.text() }));
  page.on("pageerror", (err) => result.console_errors.push({ role, text: String(err) }));
  await signIn(page, users[role]);
  return page;
}

async function openWorkspace(page) {
  await page.goto(`/sessions/${sessionId}/workspace`);
  await connected(page);
}

function connected(page) {
  return page.getByTestId("connection-status").and(page.locator('[data-state="connected"]')).waitFor();
}

async function shoot(page, name) {
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file });
  result.screenshots.push(path.relative(process.cwd(), file));
}

const publishedLive = (page) => until(async () => (await page.evaluate(() => window.__livesurgeryMedia?.published() ?? [])).includes(SOURCE), 15_000);
/** The observer's decoded frames of the source (0 while not received). */
const framesOf = async (page) =>
  (await page.evaluate(() => window.__livesurgeryMedia?.inbound() ?? [])).find((s) => s.source === SOURCE)?.framesDecoded ?? 0;

await mkdir(artifacts, { recursive: true });
try {
  const sp = await signedIn("surgeon");
  sp.on("dialog", (dialog) => {
    result.dialogs.push(dialog.type());
    void dialog.accept();
  });
  await openWorkspace(sp);

  // 1. Preview the camera, then publish it with the microphone, and show it in panel p1.
  await sp.getByRole("button", { name: "Preview camera" }).click();
  const preview = sp.getByTestId("camera-preview");
  if (!(await until(() => preview.evaluate((v) => v.videoWidth > 0), 10_000))) fail("the camera preview shows no picture");
  await shoot(sp, "leaving-preview");
  step("the surgeon sees the camera's picture before publishing");
  await sp.getByLabel("Source name").fill(SOURCE);
  await sp.getByRole("button", { name: "Publish", exact: true }).click();
  if (!(await publishedLive(sp))) fail(`${SOURCE} did not go live`);
  if ((await preview.count()) !== 0) fail("the preview stayed open after publishing");
  await sp.getByRole("button", { name: `Mute the microphone of ${SOURCE}` }).click();
  await sp.getByRole("button", { name: `Unmute the microphone of ${SOURCE}` }).click();
  const select = sp.getByLabel("Source for panel p1");
  await until(async () => (await select.locator("option").allTextContents()).some((t) => t.includes(SOURCE)), 15_000);
  await select.selectOption(SOURCE);
  step("published with the microphone (muted and unmuted) and shown in p1");

  const op = await signedIn("observer");
  await openWorkspace(op);
  const first = await until(async () => ((await framesOf(op)) > 0 ? framesOf(op) : null), 20_000, 200);
  if (!first) fail(`the observer decoded no frame of ${SOURCE}`);
  step("the observer's panel decodes the camera", { frames: first });

  // 2. Leaving through a link asks first; Stay keeps the feed.
  await sp.getByRole("link", { name: "Session details" }).click();
  const leave = sp.getByRole("dialog", { name: "Leave the workspace?" });
  await leave.waitFor();
  await shoot(sp, "leaving-leave-dialog");
  await leave.getByRole("button", { name: "Stay" }).click();
  if (!sp.url().endsWith("/workspace")) fail(`Stay left the workspace for ${sp.url()}`);
  step("leaving through a link asked first; Stay stayed");

  // 3. A reload warns (beforeunload), then offers to resume.
  await sp.reload();
  if (!result.dialogs.includes("beforeunload")) fail(`no beforeunload warning on reload (dialogs: ${JSON.stringify(result.dialogs)})`);
  await connected(sp);
  const offer = sp.getByRole("region", { name: "Resume publishing" });
  await offer.waitFor();
  const offerText = (await offer.textContent()) ?? "";
  if (!offerText.includes(`Resume publishing ${SOURCE}?`)) fail(`the offer reads ${JSON.stringify(offerText)}`);
  await shoot(sp, "leaving-resume-offer");
  step("the reload warned, then offered to resume", { offer: offerText });

  // The feed is cut meanwhile: the observer's frames stop advancing.
  await op.waitForTimeout(1500);
  const cut = await framesOf(op);
  await op.waitForTimeout(1000);
  if ((await framesOf(op)) > cut + 2) fail("the observer still decodes frames while nothing is published");

  await offer.getByRole("button", { name: "Resume" }).click();
  if (!(await publishedLive(sp))) fail(`${SOURCE} did not go live again after Resume`);
  const resumedFrom = await framesOf(op);
  const again = await until(async () => {
    const now = await framesOf(op);
    return now > resumedFrom + 10 ? now : null;
  }, 20_000, 200);
  if (!again) fail(`the observer's frames did not advance after Resume (stuck at ${await framesOf(op)})`);
  const playing = await op.getByTestId("panel-video-p1").evaluate((v) => v.videoWidth > 0 && !v.paused);
  if (!playing) fail("the observer's panel p1 is not playing after Resume");
  result.observer_frames = { before_reload: first, while_cut: cut, after_resume: again };
  step("Resume published it again; the observer decodes frames again", result.observer_frames);

  // The microphone's sound reaches the observer, whose panel plays it once turned on.
  await op.getByRole("button", { name: `Sound of ${SOURCE}`, exact: true }).click();
  const sound = await op.getByTestId("panel-video-p1").evaluate((v) => {
    const track = v.srcObject?.getAudioTracks()[0];
    return { element_muted: v.muted, track_receiving: track ? !track.muted : false };
  });
  if (sound.element_muted || !sound.track_receiving) fail(`the observer's panel does not play the sound: ${JSON.stringify(sound)}`);
  result.observer_sound = sound;
  step("the observer hears the surgeon's microphone", sound);

  // 4. Stop asks to confirm.
  await sp.getByRole("button", { name: `Stop publishing ${SOURCE}`, exact: true }).click();
  const confirm = sp.getByRole("dialog", { name: `Stop publishing ${SOURCE}?` });
  await confirm.waitFor();
  await shoot(sp, "leaving-stop-dialog");
  await confirm.getByRole("button", { name: "Keep publishing" }).click();
  if ((await sp.getByTestId(`published-${SOURCE}`).count()) !== 1) fail("Keep publishing stopped the source");
  await sp.getByRole("button", { name: `Stop publishing ${SOURCE}`, exact: true }).click();
  await confirm.getByRole("button", { name: "Stop publishing", exact: true }).click();
  await sp.getByTestId(`published-${SOURCE}`).waitFor({ state: "detached" });
  step("Stop asked to confirm; Keep publishing kept it, Stop publishing stopped it");

  result.total_ms = Date.now() - started;
  await writeFile(path.join(artifacts, "result.json"), JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result));
} catch (err) {
  for (const [i, ctx] of browser.contexts().entries()) {
    for (const page of ctx.pages()) await page.screenshot({ path: path.join(artifacts, `failure-${i}.png`) }).catch(() => {});
  }
  await writeFile(path.join(artifacts, "result.json"), JSON.stringify(result, null, 2)).catch(() => {});
  console.error(`e2e-leaving: steps so far: ${JSON.stringify(result.steps)}`);
  clearTimeout(watchdog);
  await browser.close();
  die(err instanceof Failure ? err.message : (err?.stack ?? String(err)));
}
clearTimeout(watchdog);
await browser.close();
