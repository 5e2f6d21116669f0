// The Content-Security-Policy check of the E2E scripts: every page must be served with a CSP
// that allows no inline script, and the app must run under it without a single violation.
// Both are reported through `report`, which the scripts count as console errors (a failed run).

/** Watches the pages of a Playwright browser `context`; call before its first page opens. */
export async function watchCsp(context, report) {
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(
        `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline code"} ` +
          `(${e.sourceFile || "?"}:${e.lineNumber})`,
      );
    });
  });
  context.on("response", (response) => {
    if (response.request().resourceType() !== "document" || !response.ok()) return;
    const csp = response.headers()["content-security-policy"] ?? "";
    const scripts = csp.split(";").map((d) => d.trim()).find((d) => d.startsWith("script-src"));
    if (!scripts || scripts.includes("'unsafe-inline'") || scripts.includes("'unsafe-eval'")) {
      report(`${response.url()}: no Content-Security-Policy that forbids inline scripts: ${csp}`);
    }
  });
}

/**
 * Loads a tool's script (axe-core) into `page` through the DevTools protocol, which the page's
 * CSP does not govern: `page.addScriptTag` would add an inline script, which the CSP rightly
 * refuses.
 */
export async function injectScript(page, source) {
  await page.evaluate(`${source}\n;void 0`);
}
