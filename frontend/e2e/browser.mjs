// What the E2E scripts do alike in the browser: wait until something holds, sign in.

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
