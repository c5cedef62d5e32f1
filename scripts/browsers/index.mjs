// scripts/browsers/index.mjs — one small interface over two ways of driving a browser, so that
// every scenario is written once and runs in each browser:
//
//   chromium  Playwright (playwright-core) driving Debian's /usr/bin/chromium   ./playwright.mjs
//   firefox   classic W3C WebDriver (geckodriver) driving Debian's firefox-esr  ./webdriver.mjs
//   webkit    classic W3C WebDriver (WebKitWebDriver) driving WebKitGTK's
//             MiniBrowser in an Xvfb display                                   ./webdriver.mjs
//
//   import { browsers, launch } from "../../scripts/browsers/index.mjs";   (from tests/e2e)
//   for (const name of browsers()) describe(name, () => {
//     let browser, page;
//     before(async () => { browser = await launch(name); page = await browser.newPage(); });
//     after(() => browser?.close());
//     test("…", async () => { await page.goto(url); … });
//   });
//
// Browser: name · newPage({viewport, locale, timeout, onPageError}) → Page with storage of its
//          own (Playwright: a new context; WebDriver: a new session) · close()
// Page:    browser (its name) · goto(url) · reload() · url() · waitForUrl(pred(URL)) ·
//          evaluate(fn, arg) · waitFor(fn, arg, {timeout, what}) ·
//          visible(sel) · count(sel) · click(sel) · fill(sel, text) · type(sel, text) ·
//          press(sel, key) · text(sel) · value(sel) · attribute(sel, name) ·
//          requestsDuring(fn, {prefix, allTabs}) → [{url, method, body, status}] ·
//          openTab() → Page sharing the storage · screenshot(file) · html() · isClosed() · close()
//          seesRequestDetails: method, body and status of requests are known (Playwright), or
//          only their URL (WebDriver: Resource Timing).
//          intercept(match, action, {method}) → {hits, remove()}: network faults ("drop", "hang",
//          "lose", or an answer {status, headers, contentType, body}) for requests whose URL
//          matches (prefix, RegExp, predicate); see fault-proxy.mjs. Chromium: Playwright routes;
//          Firefox: a fault proxy, only when launched with launch("firefox", {intercept: true});
//          WebKit: none (INTERCEPTS lists the browsers that have it).
//          playwright: {page, context} for Chromium-only steps (network interception), else null.
// Selectors are CSS, or XPath when they start with "/" or "(". Actions (click, fill, type,
// press) use the first visible match and wait for it; reads (text, value, attribute) the first
// match. `evaluate`/`waitFor` take a self-contained function (it runs in the page) and one
// JSON-able argument.
//
// Environment: ATPROTO_E2E_BROWSERS="firefox" (comma- or space-separated) picks the browsers of
// browsers(); without it, the DEFAULT_BROWSERS (WebKit only when named: `npm test` runs its
// scenarios in a stage of their own, see scripts/test.sh).

import { launchChromium } from "./playwright.mjs";
import { launchFirefox, launchWebKit } from "./webdriver.mjs";

/** Every browser there is a driver for. */
export const BROWSERS = Object.freeze(["chromium", "firefox", "webkit"]);
/** The browsers whose pages have `intercept()` (Firefox: when launched with `{ intercept: true }`). */
export const INTERCEPTS = Object.freeze(["chromium", "firefox"]);
/** The browsers scenarios run in when ATPROTO_E2E_BROWSERS names none. */
export const DEFAULT_BROWSERS = Object.freeze(["chromium", "firefox"]);

/** The browsers to run scenarios in: ATPROTO_E2E_BROWSERS, or the DEFAULT_BROWSERS. */
export function browsers() {
  const wanted = (process.env.ATPROTO_E2E_BROWSERS ?? "").split(/[\s,]+/).filter(Boolean);
  for (const name of wanted) {
    if (!BROWSERS.includes(name)) throw new Error(`ATPROTO_E2E_BROWSERS: unknown browser ${name} (${BROWSERS})`);
  }
  return wanted.length ? BROWSERS.filter((b) => wanted.includes(b)) : [...DEFAULT_BROWSERS];
}

/** Starts the named browser ("chromium", "firefox" or "webkit") behind the driver interface.
 *  `intercept`: Firefox's requests go through a fault proxy, for `page.intercept` (Chromium
 *  always has it). */
export function launch(name, { intercept = false } = {}) {
  switch (name) {
    case "chromium":
      return launchChromium();
    case "firefox":
      return launchFirefox({ intercept });
    case "webkit":
      return launchWebKit();
    default:
      throw new Error(`no driver for browser ${JSON.stringify(name)} (${BROWSERS})`);
  }
}
