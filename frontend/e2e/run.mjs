#!/usr/bin/env node
// End-to-end run of the web app in a real browser: headless Chromium (Debian's, driven by
// playwright-core) against a real LiveSurgery server that serves the built app.
//
// The story: a surgeon signs in, creates and starts a session and adds the observer; both open
// the workspace (two browser contexts); the surgeon publishes the fake camera and shows it in a
// panel, and the observer's panel decodes it (framesDecoded > 0 on its receiver); the surgeon
// drags a panel and the observer sees it move; the observer cannot drag; the observer's network
// is cut and restored and its layout catches up; a reviewer reads the audit timeline and
// verifies the hash chain; an admin opens the admin screen. Every screen is checked with
// axe-core (no serious or critical violations) and screenshotted at 1280x800 and 1024x768;
// the pages must log no console errors.
//
// Run by tests/integration/web/app.rs, which starts the server and creates the users; by hand:
//   E2E_BASE=http://127.0.0.1:8080 E2E_USERS='{"surgeon":["u","pw"],...}' node e2e/run.mjs
// Prints one JSON line on stdout (the result); exits 1 with the reason on stderr on failure.
// Screenshots go to E2E_ARTIFACTS (default ../target/web-e2e).

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { injectScript, watchCsp } from "./csp.mjs";
import { launch, signIn as signInAs, until } from "./browser.mjs";

const require = createRequire(import.meta.url);
const AXE = await readFile(require.resolve("axe-core/axe.min.js"), "utf8");

const base = (process.env.E2E_BASE ?? "").replace(/\/+$/, "");
const users = JSON.parse(process.env.E2E_USERS ?? "{}");
const artifacts = path.resolve(process.env.E2E_ARTIFACTS ?? "../target/web-e2e");
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS ?? "120000");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SOURCE = "endoscope";
const VIEWPORTS = [
  { name: "1280x800", width: 1280, height: 800 },
  { name: "1024x768", width: 1024, height: 768 },
];

for (const role of ["surgeon", "observer", "reviewer", "admin"]) {
  if (!Array.isArray(users[role])) die(`E2E_USERS has no ${role}: [username, password, display name]`);
}
if (!base) die("E2E_BASE is not set");

const started = Date.now();
const result = { steps: [], screenshots: [], axe: [], console_errors: [] };
const step = (name, extra = {}) => {
  result.steps.push({ name, at_ms: Date.now() - started, ...extra });
  console.error(`e2e: ${name} (${Date.now() - started} ms)`);
};

/** Ends the run: the failure screenshots are taken by the catch below. */
class Failure extends Error {}
function fail(message) {
  throw new Failure(message);
}
function die(message) {
  console.error(`e2e: FAILED: ${message}`);
  process.exit(1);
}

const watchdog = setTimeout(() => die(`still running after ${timeoutMs} ms`), timeoutMs);

const browser = await launch(executablePath, { fakeMedia: true });

/** A browser context (its own storage: one person) with console errors collected. */
async function person(role) {
  const context = await browser.newContext({ viewport: VIEWPORTS[0], baseURL: base });
  await context.grantPermissions(["camera", "microphone"], { origin: base });
  await watchCsp(context, (text) => result.console_errors.push({ role, text }));
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("console", (msg) => {
    if (msg.type() === "error") result.console_errors.push({ role, text: msg.text() });
  });
  page.on("pageerror", (err) => result.console_errors.push({ role, text: String(err) }));
  return { role, context, page };
}

/** axe-core on the page as it is now; serious and critical violations fail the run. */
async function checkAccessibility(page, screen) {
  await injectScript(page, AXE);
  const violations = await page.evaluate(async () => {
    const run = await window.axe.run(document, { resultTypes: ["violations"] });
    return run.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
    }));
  });
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  result.axe.push({ screen, violations: violations.length, serious: serious.length, details: violations });
  if (serious.length) fail(`axe-core: ${screen}: ${JSON.stringify(serious, null, 1)}`);
}

/** A screenshot at each viewport, then back to the first. */
async function shoot(page, screen) {
  for (const vp of VIEWPORTS) {
    await page.setViewportSize({ width: vp.width, height: vp.height });
    await page.waitForTimeout(150);
    const file = path.join(artifacts, `${screen}-${vp.name}.png`);
    await page.screenshot({ path: file });
    result.screenshots.push(path.relative(process.cwd(), file));
    // Nothing may hang off the page sideways at this width.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) fail(`${screen} at ${vp.name}: the page is ${overflow}px wider than the window`);
  }
  await page.setViewportSize({ width: VIEWPORTS[0].width, height: VIEWPORTS[0].height });
}

async function screen(page, name) {
  await checkAccessibility(page, name);
  await shoot(page, name);
}

function signIn(page, role) {
  return signInAs(page, users[role]);
}

/** Waits until the page's connection indicator says connected. */
function connected(page, options = {}) {
  return page.getByTestId("connection-status").and(page.locator('[data-state="connected"]')).waitFor(options);
}

/** The panel's position as the page shows it (the server's values, per the data attributes). */
async function panelBox(page, id) {
  const panel = page.getByTestId(`panel-${id}`);
  return {
    x: Number(await panel.getAttribute("data-x")),
    y: Number(await panel.getAttribute("data-y")),
    w: Number(await panel.getAttribute("data-w")),
    h: Number(await panel.getAttribute("data-h")),
  };
}

await mkdir(artifacts, { recursive: true });
try {
  // 1. Sign-in screen, with a wrong password first: the error is shown plainly.
  const surgeon = await person("surgeon");
  const sp = surgeon.page;
  await sp.goto("/login");
  await sp.getByLabel("Username").fill(users.surgeon[0]);
  await sp.getByLabel("Password").fill("not the password");
  await sp.getByRole("button", { name: "Sign in" }).click();
  const alert = await sp.getByRole("alert").textContent();
  if (!/wrong username or password/i.test(alert ?? "")) fail(`sign-in error reads ${JSON.stringify(alert)}`);
  // The 401 of that attempt is logged by Chromium as a failed resource load; it is expected.
  result.console_errors = result.console_errors.filter((e) => !/status of 401/.test(e.text));
  await screen(sp, "sign-in");
  step("wrong password refused with a plain message");

  await signIn(sp, "surgeon");
  // The session survives a reload.
  await sp.reload();
  await sp.getByRole("button", { name: "Sign out" }).waitFor();
  step("surgeon signed in; still signed in after a reload");

  // 2. Create, add the observer, start.
  await sp.goto("/sessions");
  await sp.getByRole("button", { name: "New session", exact: true }).click();
  await sp.getByLabel("Title").fill("Laparoscopic cholecystectomy (E2E)");
  await sp.getByLabel("Procedure").fill("cholecystectomy");
  await sp.getByRole("button", { name: "Create session", exact: true }).click();
  await sp.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
  const sessionId = sp.url().split("/").pop();
  result.session_id = sessionId;
  step("session created", { session_id: sessionId });

  const addForm = sp.getByRole("form", { name: "Add member" });
  const userSelect = addForm.getByLabel("User", { exact: true });
  const observerOption = await userSelect.locator("option", { hasText: `(${users.observer[0]})` }).getAttribute("value");
  await userSelect.selectOption(observerOption);
  await addForm.getByLabel("Session role", { exact: true }).selectOption("observer");
  await addForm.getByRole("button", { name: "Add member", exact: true }).click();
  await sp.getByRole("table", { name: "Members" }).getByText(users.observer[2]).waitFor();
  // A second editor, for the contested edit below.
  const adminOption = await userSelect.locator("option", { hasText: `(${users.admin[0]})` }).getAttribute("value");
  await userSelect.selectOption(adminOption);
  await addForm.getByLabel("Session role", { exact: true }).selectOption("surgeon");
  await addForm.getByRole("button", { name: "Add member", exact: true }).click();
  await sp.getByRole("table", { name: "Members" }).getByText(users.admin[2]).waitFor();
  step("observer and a second editor added as members");

  await sp.getByRole("button", { name: "Start session", exact: true }).click();
  await sp.locator('[data-testid="session-status"][data-status="live"]').first().waitFor();
  await sp.getByRole("link", { name: "Open workspace" }).waitFor();
  await screen(sp, "session-detail");
  await sp.goto("/sessions");
  await sp.getByRole("link", { name: /Laparoscopic cholecystectomy \(E2E\)/ }).waitFor();
  await screen(sp, "sessions");
  step("session started");

  // 3. Both open the workspace.
  await sp.goto(`/sessions/${sessionId}/workspace`);
  await connected(sp);
  const observer = await person("observer");
  const op = observer.page;
  await signIn(op, "observer");
  await op.goto(`/sessions/${sessionId}/workspace`);
  await connected(op);
  await op.getByTestId("read-only").waitFor();
  await sp.getByTestId("presence").locator(`[data-testid="presence-item"][data-role="observer"]`).getByText(users.observer[2]).waitFor();
  step("both in the workspace; the surgeon sees the observer present");

  // 4. The surgeon publishes the fake camera and shows it in panel p1.
  await sp.getByLabel("Source name").fill(SOURCE);
  await sp.getByRole("button", { name: "Publish", exact: true }).click();
  await until(async () => (await sp.evaluate(() => window.__livesurgeryMedia?.published() ?? [])).includes(SOURCE), 15_000);
  const sourceSelect = sp.getByLabel("Source for panel p1");
  await until(async () => (await sourceSelect.locator("option").allTextContents()).some((t) => t.includes(SOURCE)), 15_000);
  await sourceSelect.selectOption(SOURCE);
  step("surgeon published its camera and put it in panel p1");

  const frames = await until(async () => {
    const inbound = await op.evaluate(() => window.__livesurgeryMedia?.inbound() ?? []);
    return inbound.find((s) => s.source === SOURCE && s.framesDecoded > 0);
  }, 20_000, 200);
  if (!frames) fail(`the observer decoded no frame of ${SOURCE}: ${JSON.stringify(await op.evaluate(() => window.__livesurgeryMedia?.inbound() ?? []))}`);
  result.observer_frames = frames;
  const playing = await op.getByTestId("panel-video-p1").evaluate((v) => v.videoWidth > 0 && !v.paused);
  if (!playing) fail("the observer's video element for panel p1 is not playing");
  step("observer's panel plays the surgeon's camera", frames);
  await screen(sp, "workspace-surgeon");
  await screen(op, "workspace-observer");

  // 5. The surgeon drags p1 to the right half; the observer sees the new position. Panels never
  //    overlap, so the four quadrants of a new session leave no room: p2 and p4 are removed first.
  for (const id of ["p2", "p4"]) {
    await sp.getByRole("button", { name: `Delete panel ${id}`, exact: true }).click();
    await op.getByTestId(`panel-${id}`).waitFor({ state: "detached" });
  }
  const before = await panelBox(op, "p1");
  const handle = sp.getByRole("button", { name: "Move panel p1", exact: true });
  const grid = await sp.getByTestId("panel-p1").evaluate((el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left, top: r.top, width: r.width };
  });
  const cell = grid.width / before.w;
  const hb = await handle.boundingBox();
  await sp.mouse.move(hb.x + hb.width / 2, hb.y + hb.height / 2);
  await sp.mouse.down();
  const steps = 12;
  const dx = cell * 6;
  for (let i = 1; i <= steps; i++) {
    await sp.mouse.move(hb.x + hb.width / 2 + (dx * i) / steps, hb.y + hb.height / 2, { steps: 1 });
  }
  const droppedAt = Date.now();
  await sp.mouse.up();
  const moved = await until(async () => {
    const now = await panelBox(op, "p1");
    return now.x !== before.x ? now : null;
  }, 1_000, 10);
  if (!moved) fail(`the observer did not see p1 move within a second (still ${JSON.stringify(await panelBox(op, "p1"))})`);
  result.drag = { before, after: moved, seen_by_observer_ms: Date.now() - droppedAt };
  const surgeonView = await panelBox(sp, "p1");
  if (JSON.stringify(surgeonView) !== JSON.stringify(moved)) fail(`surgeon sees ${JSON.stringify(surgeonView)}, observer ${JSON.stringify(moved)}`);
  step("surgeon dragged p1; the observer saw it move", result.drag);

  // 6. The observer cannot drag: no handle, and dragging the panel body moves nothing.
  if ((await op.getByRole("button", { name: /^Move panel/ }).count()) !== 0) fail("the observer has drag handles");
  if ((await op.getByLabel(/^Source for panel/).count()) !== 0) fail("the observer has source selects");
  const ob = await op.getByTestId("panel-p3").boundingBox();
  await op.mouse.move(ob.x + ob.width / 2, ob.y + 20);
  await op.mouse.down();
  await op.mouse.move(ob.x + ob.width / 2 + 200, ob.y + 120, { steps: 8 });
  await op.mouse.up();
  await op.waitForTimeout(500);
  const p3 = await panelBox(op, "p3");
  const p3Surgeon = await panelBox(sp, "p3");
  if (JSON.stringify(p3) !== JSON.stringify(p3Surgeon)) fail(`observer's drag moved p3: ${JSON.stringify(p3)} vs ${JSON.stringify(p3Surgeon)}`);
  step("the observer cannot drag");

  // 7. The observer's network is cut; the surgeon moves p3; the network comes back; the
  //    observer's layout catches up without a reload.
  await observer.context.setOffline(true);
  await op.getByTestId("connection-status").and(op.locator('[data-state="offline"], [data-state="reconnecting"]')).waitFor();
  const p3Before = await panelBox(sp, "p3");
  await sp.getByRole("button", { name: "Move panel p3", exact: true }).focus();
  await sp.keyboard.press(p3Before.x + p3Before.w < 12 ? "ArrowRight" : "ArrowLeft");
  const shifted = await until(async () => {
    const now = await panelBox(sp, "p3");
    return now.x !== p3Before.x ? now : null;
  }, 3_000);
  if (!shifted) fail("the surgeon's keyboard move of p3 did not land");
  await op.waitForTimeout(300);
  const whileOffline = await panelBox(op, "p3");
  await screen(op, "workspace-observer-offline");
  await observer.context.setOffline(false);
  const restoredAt = Date.now();
  await connected(op, { timeout: 15_000 });
  const caughtUp = await until(async () => {
    const now = await panelBox(op, "p3");
    return JSON.stringify(now) === JSON.stringify(shifted) ? now : null;
  }, 5_000);
  if (!caughtUp) fail(`after the network came back the observer shows p3 at ${JSON.stringify(await panelBox(op, "p3"))}, the surgeon at ${JSON.stringify(shifted)}`);
  result.network_cut = { while_offline: whileOffline, after: caughtUp, caught_up_ms: Date.now() - restoredAt };
  step("observer's network cut and restored; its layout caught up", result.network_cut);

  // A contested edit: the surgeon (keyboard) and a second editor (mouse) move p3 at the same
  // moment from the same layout version; the server keeps the later write of x and records the
  // conflict, and every participant's p3 flashes and says who won. Two writes racing is a matter
  // of milliseconds, so a try whose writes did not overlap is made again, four times at most.
  const admin = await person("admin");
  const ap = admin.page;
  await signIn(ap, "admin");
  await ap.goto(`/sessions/${sessionId}/workspace`);
  await connected(ap);
  const contestedSeen = async (page) =>
    (await page.locator('[data-testid="panel-p3"][data-contested="true"]').count()) > 0
      ? await page.getByTestId("contested-p3").textContent()
      : null;
  let contest = null;
  for (let attempt = 1; attempt <= 4 && !contest; attempt++) {
    await until(async () => JSON.stringify(await panelBox(ap, "p3")) === JSON.stringify(await panelBox(sp, "p3")), 3_000);
    const start = await panelBox(ap, "p3");
    const keyRight = start.x + start.w < 12;
    const dragCells = start.x >= 3 ? -3 : 3;
    const ah = await ap.getByRole("button", { name: "Move panel p3", exact: true }).boundingBox();
    const cellPx = (await ap.getByTestId("panel-p3").boundingBox()).width / start.w;
    await sp.getByRole("button", { name: "Move panel p3", exact: true }).focus();
    await ap.mouse.move(ah.x + ah.width / 2, ah.y + ah.height / 2);
    await ap.mouse.down();
    for (let i = 1; i <= 8; i++) {
      await ap.mouse.move(ah.x + ah.width / 2 + (dragCells * cellPx * i) / 8, ah.y + ah.height / 2);
    }
    await Promise.all([sp.keyboard.press(keyRight ? "ArrowRight" : "ArrowLeft"), ap.mouse.up()]);
    contest = await until(async () => {
      const [s, a, o] = await Promise.all([contestedSeen(sp), contestedSeen(ap), contestedSeen(op)]);
      return s && a && o ? { surgeon: s, editor: a, observer: o, attempt } : null;
    }, 3_000, 25);
  }
  if (!contest) fail("four simultaneous writes to p3 never produced a contested edit on every screen");
  for (const text of Object.values(contest).filter((v) => typeof v === "string")) {
    if (!/won the edit of x/.test(text)) fail(`the contested panel says ${JSON.stringify(text)}`);
  }
  await shoot(ap, "workspace-contested");
  result.contested = contest;
  step("a contested edit flashed p3 on every screen and said who won", contest);

  // The surgeon stops publishing; the observer's panel loses the picture.
  await sp.getByRole("button", { name: `Stop publishing ${SOURCE}`, exact: true }).click();
  // Stop asks first (it cuts the feed for everyone).
  await sp.getByRole("dialog", { name: `Stop publishing ${SOURCE}?` }).getByRole("button", { name: "Stop publishing", exact: true }).click();
  await sp.getByTestId(`published-${SOURCE}`).waitFor({ state: "detached" });
  step("surgeon stopped publishing");

  // 8. A reviewer reads the audit timeline and verifies the chain.
  const reviewer = await person("reviewer");
  const rp = reviewer.page;
  // Keyboard only: Tab to each field (focus must be visible), type, Enter.
  await rp.goto("/login");
  await rp.getByLabel("Username").waitFor();
  const focusRing = () =>
    rp.evaluate(() => {
      const el = document.activeElement;
      const style = el ? getComputedStyle(el) : null;
      return { label: el?.getAttribute("name") ?? el?.textContent ?? null, outline: style ? `${style.outlineStyle} ${style.outlineWidth}` : null };
    });
  await rp.keyboard.press("Tab");
  const usernameFocus = await focusRing();
  if (usernameFocus.label !== "username") fail(`the first Tab focuses ${JSON.stringify(usernameFocus)}, not the username`);
  if (usernameFocus.outline.startsWith("none") || usernameFocus.outline.endsWith(" 0px")) fail(`no visible focus on the username: ${usernameFocus.outline}`);
  await rp.keyboard.type(users.reviewer[0]);
  await rp.keyboard.press("Tab");
  await rp.keyboard.type(users.reviewer[1]);
  await rp.keyboard.press("Enter");
  await rp.waitForURL((url) => !url.pathname.startsWith("/login"));
  step("reviewer signed in with the keyboard alone; focus visible", { focus: usernameFocus.outline });
  await rp.goto(`/sessions/${sessionId}/audit`);
  const timeline = rp.getByRole("list", { name: "Audit timeline" });
  await timeline.getByTestId("audit-item").first().waitFor();
  const loadMore = rp.getByRole("button", { name: "Load more" });
  while (await loadMore.isVisible().catch(() => false)) {
    await loadMore.click();
    await rp.waitForTimeout(300);
  }
  const items = await timeline.getByTestId("audit-item").evaluateAll((els) =>
    els.map((el) => ({ type: el.getAttribute("data-type"), position: Number(el.getAttribute("data-position")) })),
  );
  result.audit_timeline = items.map((i) => i.type);
  const positions = items.map((i) => i.position);
  if (positions.some((p, i) => i > 0 && p <= positions[i - 1])) fail(`timeline not in log order: ${positions}`);
  // Two chains: the track's first frame (TrackPublished) and the surgeon's source choice may
  // come in either order; each must come before the observer decodes.
  const stories = [
    ["SessionCreated", "MemberAdded", "SessionStarted", "ParticipantJoined", "ParticipantJoined", "PublisherConnected", "TrackPublished", "FirstFrameDecoded", "LayoutUpdated", "LayoutUpdated"],
    ["PublisherConnected", "SourceSelected", "FirstFrameDecoded"],
  ];
  for (const story of stories) {
    let at = 0;
    for (const type of story) {
      const found = items.findIndex((it, i) => i >= at && it.type === type);
      if (found < 0) fail(`the audit timeline lacks ${type} after index ${at}: ${JSON.stringify(result.audit_timeline)}`);
      at = found + 1;
    }
  }
  await rp.getByRole("button", { name: "Verify integrity" }).click();
  const verify = rp.getByTestId("verify-result");
  await verify.waitFor();
  if ((await verify.getAttribute("data-ok")) !== "true") fail(`verify integrity: ${await verify.textContent()}`);
  await screen(rp, "audit");
  step("reviewer saw the session's story in order and an intact hash chain", { items: items.length });

  // 9. The admin screen.
  await ap.goto("/admin");
  await ap.getByRole("table", { name: "Users" }).getByText(users.surgeon[0]).waitFor();
  const projections = ap.getByRole("table", { name: "Projections" });
  await projections.waitFor();
  await screen(ap, "admin");
  const rebuild = projections.getByRole("button", { name: /^Rebuild / }).first();
  const projection = (await rebuild.textContent()).replace(/^Rebuild\s+/, "").trim();
  await rebuild.click();
  await ap.getByText(new RegExp(`Rebuilt ${projection} \\(generation \\d+\\)`)).waitFor({ timeout: 30_000 });
  step("admin screen lists users and projections; a rebuild ran to the end", { projection });

  if (result.console_errors.length) fail(`console errors: ${JSON.stringify(result.console_errors, null, 1)}`);
  result.total_ms = Date.now() - started;
  await writeFile(path.join(artifacts, "result.json"), JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result));
} catch (err) {
  for (const [i, ctx] of browser.contexts().entries()) {
    for (const page of ctx.pages()) {
      await page.screenshot({ path: path.join(artifacts, `failure-${i}.png`) }).catch(() => {});
    }
  }
  await writeFile(path.join(artifacts, "result.json"), JSON.stringify(result, null, 2)).catch(() => {});
  console.error(`e2e: steps so far: ${JSON.stringify(result.steps)}`);
  if (result.console_errors.length) console.error(`e2e: console errors: ${JSON.stringify(result.console_errors)}`);
  clearTimeout(watchdog);
  await browser.close();
  die(err instanceof Failure ? err.message : (err?.stack ?? String(err)));
}
clearTimeout(watchdog);
await browser.close();
