// scripts/browsers/playwright.mjs — the driver interface (see index.mjs) for headless Chromium:
// playwright-core driving Debian's /usr/bin/chromium (no Playwright browser downloads).
//
// A page here is a Playwright page; the first page of `newPage()` has a fresh browser context of
// its own (its own IndexedDB, cookies, …), and `openTab()` adds pages to that context.
//
// Environment: ATPROTO_CHROMIUM overrides the browser executable.

import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

export const CHROMIUM_ARGS = Object.freeze([
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
]);

const DEFAULT_TIMEOUT = 30_000;

function firstExisting(...candidates) {
  return candidates.find((p) => p && existsSync(p));
}

/** CSS as is; an XPath (starting with "/" or "(") gets Playwright's explicit `xpath=` prefix. */
const selector = (sel) => (sel.startsWith("/") || sel.startsWith("(") ? `xpath=${sel}` : sel);

/**
 * Headless Chromium (Debian's /usr/bin/chromium), as a driver `Browser`.
 * @param {import('playwright-core').LaunchOptions} [options] extra launch options (merged)
 */
export async function launchChromium(options = {}) {
  const executablePath =
    options.executablePath ??
    firstExisting(process.env.ATPROTO_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser");
  if (!executablePath) throw new Error("Chromium not found (apt-get install chromium, or set ATPROTO_CHROMIUM)");
  const browser = await chromium.launch({
    headless: true,
    timeout: 60_000,
    ...options,
    executablePath,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
  });
  return {
    name: "chromium",
    /** A page with storage of its own: a new browser context. */
    async newPage({ viewport, locale, timeout = DEFAULT_TIMEOUT, onPageError } = {}) {
      const context = await browser.newContext({ ...(viewport ? { viewport } : {}), ...(locale ? { locale } : {}) });
      context.setDefaultTimeout(timeout);
      return new PlaywrightPage(context, await context.newPage(), { root: true, timeout, onPageError });
    },
    close: () => browser.close(),
  };
}

class PlaywrightPage {
  constructor(context, page, { root, timeout, onPageError }) {
    this.browser = "chromium";
    this.context = context;
    this.page = page;
    this.root = root;
    this.timeout = timeout;
    this.onPageError = onPageError;
    if (onPageError) page.on("pageerror", onPageError);
    /** Requests are seen with their method, body and response status (not just their URL). */
    this.seesRequestDetails = true;
    /** The Playwright objects, for Chromium-only steps (network interception). */
    this.playwright = { page, context };
  }

  goto(url) {
    return this.page.goto(url).then(() => {});
  }
  reload() {
    return this.page.reload().then(() => {});
  }
  async url() {
    return this.page.url();
  }
  /** Polls the address until `pred(URL)` holds; returns that URL. */
  async waitForUrl(pred, { timeout = this.timeout } = {}) {
    await this.page.waitForURL(pred, { timeout, waitUntil: "commit" });
    return new URL(this.page.url());
  }

  /** Runs `fn(arg)` in the page (a self-contained function); awaits a returned promise. */
  evaluate(fn, arg) {
    return this.page.evaluate(fn, arg);
  }
  /** Polls `fn(arg)` in the page until it returns a truthy value; returns that value. */
  async waitFor(fn, arg, { timeout = this.timeout, what = "a condition in the page" } = {}) {
    try {
      // Polled on a timer, not on animation frames: a tab in the background gets none.
      const handle = await this.page.waitForFunction(fn, arg, { timeout, polling: 50 });
      return await handle.jsonValue();
    } catch (err) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${err.message.split("\n")[0]}`);
    }
  }

  // Elements: `sel` is CSS, or XPath when it starts with "/" or "(". Actions use the first
  // visible match and wait for it (up to the page's timeout).
  #first(sel) {
    return this.page.locator(selector(sel)).filter({ visible: true }).first();
  }
  async visible(sel) {
    return (await this.page.locator(selector(sel)).filter({ visible: true }).count()) > 0;
  }
  count(sel) {
    return this.page.locator(selector(sel)).count();
  }
  click(sel) {
    return this.#first(sel).click();
  }
  /** Replaces the field's value. */
  fill(sel, text) {
    return this.#first(sel).fill(text);
  }
  /** Types key by key, like a person (no clearing first). */
  type(sel, text) {
    return this.#first(sel).pressSequentially(text);
  }
  /** Presses a key ("Enter") in the element. */
  press(sel, key) {
    return this.#first(sel).press(key);
  }
  // Reading: the first match, visible or not, waited for.
  text(sel) {
    return this.page.locator(selector(sel)).first().innerText();
  }
  value(sel) {
    return this.page.locator(selector(sel)).first().inputValue();
  }
  attribute(sel, name) {
    return this.page.locator(selector(sel)).first().getAttribute(name);
  }

  /**
   * The requests made while `fn` runs, as [{url, method, body, status}] (status once answered).
   * `prefix` keeps only URLs starting with it; `allTabs` listens on every tab of this context.
   */
  async requestsDuring(fn, { prefix = "", allTabs = false } = {}) {
    const target = allTabs ? this.context : this.page;
    const seen = new Map();
    const onRequest = (req) => {
      if (req.url().startsWith(prefix)) {
        seen.set(req, { url: req.url(), method: req.method(), body: req.postData() ?? "", status: undefined });
      }
    };
    const onResponse = (resp) => {
      const entry = seen.get(resp.request());
      if (entry) entry.status = resp.status();
    };
    target.on("request", onRequest);
    target.on("response", onResponse);
    try {
      await fn();
      // Let request events that were already sent reach us.
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      target.off("request", onRequest);
      target.off("response", onResponse);
    }
    return [...seen.values()];
  }

  /**
   * Network faults for the requests of this page's context (every tab) whose URL `match`es (a
   * prefix, a RegExp or a predicate on the URL string) and, if given, whose method is `method`;
   * see fault-proxy.mjs for the actions ("drop", "hang", "lose", or an answer). Playwright answers
   * CORS preflights itself while a route is set. Returns `{ hits: [{url, method, status}],
   * remove() }`.
   */
  async intercept(match, action, { method } = {}) {
    const test =
      typeof match === "string" ? (u) => u.startsWith(match) : match instanceof RegExp ? (u) => match.test(u) : match;
    const hits = [];
    const pattern = (u) => test(u.href);
    const handler = async (route) => {
      const req = route.request();
      if (method && req.method() !== method.toUpperCase()) return route.fallback();
      const hit = { url: req.url(), method: req.method(), status: undefined };
      hits.push(hit);
      if (action === "drop") return route.abort("connectionreset");
      if (action === "hang") return; // never answered
      if (action === "lose") {
        const answer = await route.fetch(); // the server handles it…
        hit.status = answer.status();
        return route.abort("connectionreset"); // …and the answer never arrives
      }
      hit.status = action.status ?? 200;
      return route.fulfill(action);
    };
    if (!["drop", "hang", "lose"].includes(action) && !(action && typeof action === "object")) {
      throw new Error(`intercept: unknown action ${JSON.stringify(action)}`);
    }
    await this.context.route(pattern, handler);
    return { hits, remove: () => this.context.unroute(pattern, handler) };
  }

  /** Another tab sharing this page's storage. */
  async openTab() {
    return new PlaywrightPage(this.context, await this.context.newPage(), {
      root: false,
      timeout: this.timeout,
      onPageError: this.onPageError,
    });
  }

  /** Runs `fn` (which makes the page open a window) and returns that popup window as a page. */
  async popupDuring(fn) {
    const [popup] = await Promise.all([this.page.waitForEvent("popup"), fn()]);
    return new PlaywrightPage(this.context, popup, {
      root: false,
      timeout: this.timeout,
      onPageError: this.onPageError,
    });
  }

  /** Saves a full-page PNG. */
  async screenshot(file) {
    await this.page.screenshot({ path: file, fullPage: true, timeout: 10_000 });
  }
  html() {
    return this.page.content();
  }
  isClosed() {
    return this.page.isClosed();
  }
  /** Closes this tab; the first page closes its whole context (every tab). */
  close() {
    return this.root ? this.context.close() : this.page.close();
  }
}
