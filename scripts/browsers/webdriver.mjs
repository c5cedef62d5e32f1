// scripts/browsers/webdriver.mjs — the driver interface (see index.mjs) for headless Firefox
// (Debian's firefox-esr) over classic W3C WebDriver (geckodriver), with a small client of our own.
//
// Not Playwright: its usual Firefox route needs Playwright's own patched Firefox (Debian's
// firefox-esr starts and exits at once), and its WebDriver-BiDi route (channel 'moz-firefox')
// starts firefox-esr 153 but playwright-core 1.65 then fails in newContext() with
// "emulation.setMediaFeaturesOverride: unknown command" (it targets Firefox 159).
//
// `newPage()` starts a geckodriver and a Firefox session of its own (fresh profile: the
// equivalent of a Playwright browser context; geckodriver serves one session at a time), and
// `openTab()` opens a window in that session. Each page object remembers its window and switches
// to it before a command, so tabs can be used one after another, but not at the same moment
// (one WebDriver session runs one command at a time). Requests are seen through Resource Timing
// (URLs only, and only the current document's).
//
// Environment: ATPROTO_GECKODRIVER, ATPROTO_FIREFOX (scripts/env.sh sets both).

import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
const DEFAULT_TIMEOUT = 30_000;
const KEYS = { Enter: "\uE007", Tab: "\uE004", Escape: "\uE00C" };

function firstExisting(...candidates) {
  return candidates.find((p) => p && existsSync(p));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class WebDriverError extends Error {
  constructor(message, error) {
    super(message);
    this.error = error; // the WebDriver error code, e.g. "element click intercepted"
  }
}

/** Calls `check` every 100 ms until it returns a truthy value (returned), or throws after
 *  `timeout` ms with `what` and `where()`. */
async function poll(check, { timeout, what, where }) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (at ${await where()})`);
    await sleep(100);
  }
}

async function request(base, method, route, body) {
  const res = await fetch(base + route, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const v = json.value ?? {};
    throw new WebDriverError(`${method} ${route}: ${v.error ?? res.status}: ${v.message ?? ""}`.trim(), v.error);
  }
  return json.value;
}

// In-page element lookup, shared by every element command: CSS, or XPath when the selector starts
// with "/" or "(". "Visible" is Playwright's definition: a non-empty box, and not visibility:hidden.
const QUERY = `
  const __all = (sel) => {
    if (sel.startsWith("/") || sel.startsWith("(")) {
      const r = document.evaluate(sel, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
      return Array.from({ length: r.snapshotLength }, (_, i) => r.snapshotItem(i));
    }
    return [...document.querySelectorAll(sel)];
  };
  const __visible = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden";
  };
`;

/**
 * A driver `Browser` for headless Firefox. Throws at `newPage()` if geckodriver or Firefox is
 * missing: scripts/setup.sh installs both.
 */
export async function launchFirefox() {
  const driverPath = firstExisting(
    process.env.ATPROTO_GECKODRIVER,
    path.join(process.env.HOME ?? "", ".cargo/bin/geckodriver"),
  );
  if (!driverPath) throw new Error("geckodriver not found (run scripts/setup.sh, or set ATPROTO_GECKODRIVER)");
  const binary = firstExisting(process.env.ATPROTO_FIREFOX, "/usr/bin/firefox-esr", "/usr/bin/firefox");
  if (!binary) throw new Error("Firefox not found (apt-get install firefox-esr, or set ATPROTO_FIREFOX)");
  const sessions = new Set();
  return {
    name: "firefox",
    /** A page with storage of its own: a new Firefox session (and geckodriver). */
    async newPage({ viewport, timeout = DEFAULT_TIMEOUT } = {}) {
      const session = await startSession(driverPath, binary);
      sessions.add(session);
      session.onQuit = () => sessions.delete(session);
      if (viewport) await session.cmd("POST", "/window/rect", { width: viewport.width, height: viewport.height });
      return new WebDriverPage(session, await session.cmd("GET", "/window"), { root: true, timeout });
    },
    async close() {
      await Promise.all([...sessions].map((s) => s.quit()));
    },
  };
}

async function startSession(driverPath, binary) {
  const options = JSON.parse(readFileSync(path.join(ROOT, "webdriver.json"), "utf8"))["moz:firefoxOptions"];
  const port = await freePort();
  const driver = spawn(driverPath, ["--host", "127.0.0.1", "--port", String(port), "--log", "error"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  driver.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (driver.exitCode !== null) throw new Error(`geckodriver exited (${driver.exitCode}): ${stderr}`);
    try {
      if ((await fetch(`${base}/status`)).ok) break;
    } catch {}
    if (Date.now() > deadline) {
      driver.kill("SIGKILL");
      throw new Error(`geckodriver did not answer on ${base}: ${stderr}`);
    }
    await sleep(100);
  }
  try {
    const res = await request(base, "POST", "/session", {
      capabilities: {
        alwaysMatch: {
          browserName: "firefox",
          "moz:firefoxOptions": { ...options, binary },
          timeouts: { script: 60_000, pageLoad: 60_000, implicit: 0 },
        },
      },
    });
    return new Session(base, res.sessionId, driver);
  } catch (err) {
    driver.kill("SIGKILL");
    throw new Error(`Firefox did not start: ${err.message} ${stderr}`);
  }
}

/** One WebDriver session: its geckodriver process, and which window commands go to. */
class Session {
  constructor(base, id, driver) {
    this.base = base;
    this.id = id;
    this.driver = driver;
    this.current = null; // the window handle commands currently go to
    this.onQuit = null;
    this.quitting = null;
  }

  cmd(method, route, body) {
    return request(this.base, method, `/session/${this.id}${route}`, body);
  }

  async use(handle) {
    if (this.current === handle) return;
    await this.cmd("POST", "/window", { handle });
    this.current = handle;
  }

  quit() {
    this.quitting ??= (async () => {
      try {
        await this.cmd("DELETE", "");
      } catch {}
      this.driver.kill("SIGTERM");
      const t = setTimeout(() => {
        try {
          this.driver.kill("SIGKILL");
        } catch {}
      }, 5000);
      await new Promise((r) => (this.driver.exitCode !== null ? r() : this.driver.once("exit", r)));
      clearTimeout(t);
      this.onQuit?.();
    })();
    return this.quitting;
  }
}

class WebDriverPage {
  constructor(session, handle, { root, timeout }) {
    this.browser = "firefox";
    this.session = session;
    this.handle = handle;
    this.root = root;
    this.timeout = timeout;
    session.current ??= handle;
    /** Requests are seen by URL only (Resource Timing), without method, body or status. */
    this.seesRequestDetails = false;
    /** No Playwright objects: Chromium-only steps are skipped here. */
    this.playwright = null;
  }

  /** A command to this page's window. */
  async cmd(method, route, body) {
    await this.session.use(this.handle);
    return this.session.cmd(method, route, body);
  }

  async goto(url) {
    await this.cmd("POST", "/url", { url });
  }
  async reload() {
    await this.cmd("POST", "/refresh", {});
  }
  url() {
    return this.cmd("GET", "/url");
  }
  /** Polls the address until `pred(URL)` holds; returns that URL. */
  waitForUrl(pred, { timeout = this.timeout } = {}) {
    return poll(
      async () => {
        const u = new URL(await this.url());
        return pred(u) && u;
      },
      { timeout, what: "a URL", where: () => this.url() },
    );
  }

  /** Runs `script` (a function body; `arguments` are `args`) and awaits a returned promise. */
  execute(script, args = []) {
    return this.cmd("POST", "/execute/sync", { script, args });
  }
  /** Runs `fn(arg)` in the page (a self-contained function); awaits a returned promise. */
  evaluate(fn, arg) {
    // Firefox runs WebDriver scripts in a sandbox whose objects are not the page's (`{} instanceof
    // window.Object` is false there, and so is the package's `params instanceof Object` check).
    // As with Playwright, `fn` is compiled in the page (window.eval) and `arg` parsed there. Where
    // the page's CSP forbids eval (the PDS's pages), `fn` runs in the sandbox instead.
    const src = `(${fn.toString()})`;
    return this.execute(
      `const [json, src] = arguments;
       let f;
       try { f = window.eval(src); } catch (e) { if (e?.name !== "EvalError") throw e; f = ${src}; }
       return f(json === null ? undefined : window.JSON.parse(json));`,
      [arg === undefined ? null : JSON.stringify(arg), src],
    );
  }
  /** Polls `fn(arg)` in the page until it returns a truthy value; returns that value. */
  waitFor(fn, arg, { timeout = this.timeout, what = "a condition in the page" } = {}) {
    return poll(
      () =>
        this.evaluate(fn, arg).catch((err) => {
          // A navigation in progress discards the script; try again on the next document.
          if (err instanceof WebDriverError) return null;
          throw err;
        }),
      { timeout, what, where: () => this.url() },
    );
  }

  // Elements: `sel` is CSS, or XPath when it starts with "/" or "(". Actions use the first
  // visible match and wait for it (up to the page's timeout).
  #query(body, args) {
    return this.execute(`${QUERY}\n${body}`, args);
  }
  async visible(sel) {
    return this.#query("return __all(arguments[0]).some(__visible);", [sel]);
  }
  count(sel) {
    return this.#query("return __all(arguments[0]).length;", [sel]);
  }
  /** The first visible (and, with `enabled`, enabled) match as a WebDriver element id. */
  #find(sel, { enabled = false } = {}) {
    return poll(
      async () => {
        const el = await this.#query(
          "return __all(arguments[0]).find((e) => __visible(e) && (!arguments[1] || !e.disabled)) ?? null;",
          [sel, enabled],
        ).catch((err) => (err instanceof WebDriverError ? null : Promise.reject(err)));
        return el?.[ELEMENT];
      },
      { timeout: this.timeout, what: `a visible ${sel}`, where: () => this.url() },
    );
  }
  /** Runs `action(elementId)` on the first visible match, finding it again if it went stale or
   *  something covered it, until the page's timeout. */
  async #act(sel, action, opts) {
    const deadline = Date.now() + this.timeout;
    for (;;) {
      const el = await this.#find(sel, opts);
      try {
        return await action(el);
      } catch (err) {
        const retry = ["stale element reference", "element click intercepted", "element not interactable"];
        if (!(err instanceof WebDriverError) || !retry.includes(err.error) || Date.now() > deadline) throw err;
        await sleep(100);
      }
    }
  }
  click(sel) {
    return this.#act(sel, (el) => this.cmd("POST", `/element/${el}/click`, {}), { enabled: true });
  }
  /** Replaces the field's value. */
  fill(sel, text) {
    return this.#act(sel, async (el) => {
      await this.cmd("POST", `/element/${el}/clear`, {});
      if (text) await this.cmd("POST", `/element/${el}/value`, { text });
    });
  }
  /** Types key by key, like a person (no clearing first). */
  type(sel, text) {
    return this.#act(sel, (el) => this.cmd("POST", `/element/${el}/value`, { text }));
  }
  /** Presses a key ("Enter") in the element. */
  press(sel, key) {
    if (!KEYS[key]) throw new Error(`press: unknown key ${key}`);
    return this.#act(sel, (el) => this.cmd("POST", `/element/${el}/value`, { text: KEYS[key] }));
  }
  // Reading: the first match, visible or not, waited for.
  async #read(sel, expr, extra) {
    const [value] = await poll(
      async () => {
        const r = await this.#query(`const el = __all(arguments[0])[0]; return el ? [${expr}] : null;`, [
          sel,
          extra,
        ]).catch((err) => (err instanceof WebDriverError ? null : Promise.reject(err)));
        return r;
      },
      { timeout: this.timeout, what: sel, where: () => this.url() },
    );
    return value;
  }
  text(sel) {
    return this.#read(sel, "el.innerText");
  }
  value(sel) {
    return this.#read(sel, "el.value");
  }
  attribute(sel, name) {
    return this.#read(sel, "el.getAttribute(arguments[1])", name);
  }

  /**
   * The requests this document makes while `fn` runs, as [{url}] (Resource Timing: no method,
   * body or status). `prefix` keeps only URLs starting with it. `allTabs` is not supported.
   */
  async requestsDuring(fn, { prefix = "", allTabs = false } = {}) {
    if (allTabs) throw new Error("requestsDuring({ allTabs }) needs the Playwright driver");
    await this.execute("performance.setResourceTimingBufferSize(10000); performance.clearResourceTimings();");
    await fn();
    const urls = await this.execute(
      "return performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.startsWith(arguments[0]));",
      [prefix],
    );
    return urls.map((url) => ({ url, method: undefined, body: undefined, status: undefined }));
  }

  /** Another tab (window) in this session, sharing this page's storage. */
  async openTab() {
    const { handle } = await this.session.cmd("POST", "/window/new", { type: "tab" });
    return new WebDriverPage(this.session, handle, { root: false, timeout: this.timeout });
  }

  /** Saves a full-page PNG. */
  async screenshot(file) {
    writeFileSync(file, Buffer.from(await this.cmd("GET", "/moz/screenshot/full"), "base64"));
  }
  html() {
    return this.execute("return document.documentElement.outerHTML;");
  }
  isClosed() {
    return this.closed === true || this.session.quitting !== null;
  }
  /** Closes this tab; the first page ends the whole session (every tab). */
  async close() {
    this.closed = true;
    if (this.root) return this.session.quit();
    await this.cmd("DELETE", "/window");
    this.session.current = null;
  }
}
