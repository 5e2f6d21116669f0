// What the E2E scripts do alike in the browser: start Chromium, wait until something holds,
// sign in.
import { chromium } from "playwright-core";

/**
 * Starts headless Chromium (Debian's, at `executablePath`) quietly: no background traffic, no
 * QUIC. `fakeMedia`: a fake camera and microphone, granted without asking; `extra`: more flags.
 */
export function launch(executablePath, { fakeMedia = false, extra = [] } = {}) {
  const args = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    ...(fakeMedia ? ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"] : []),
    ...extra,
  ];
  return chromium.launch({ executablePath, headless: true, args });
}

/** Polls `probe` until it returns a truthy value or `ms` pass; the value, or null. */
export async function until(probe, ms, every = 50) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Signs in on `/login` with `[username, password]` and waits to leave the page. */
export async function signIn(page, [username, password]) {
  await page.goto("/login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));
}
