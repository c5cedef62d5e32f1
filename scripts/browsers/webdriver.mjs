// scripts/browsers/webdriver.mjs — the driver interface (see index.mjs) over classic W3C WebDriver,
// with a small client of our own, for two browsers:
//
//   firefox  headless Firefox (Debian's firefox-esr) through geckodriver
//   webkit   WebKitGTK's MiniBrowser (Debian's libwebkit2gtk-4.1-0) through WebKitWebDriver
//            (Debian's webkit2gtk-driver), in a virtual X display of its own (Xvfb): WebKitGTK
//            2.50 has no headless mode (MiniBrowser needs a display; Playwright's headless WebKit
//            is a patched build it downloads, which cannot be downloaded here).
//
// Not Playwright: its usual Firefox route needs Playwright's own patched Firefox (Debian's
// firefox-esr starts and exits at once), and its WebDriver-BiDi route (channel 'moz-firefox')
// starts firefox-esr 153 but playwright-core 1.65 then fails in newContext() with
// "emulation.setMediaFeaturesOverride: unknown command" (it targets Firefox 159).
//
// `newPage()` starts a driver and a browser session of its own (fresh profile, or an ephemeral
// WebKit data store: the equivalent of a Playwright browser context; both drivers serve one
// session at a time), and
// `openTab()` opens a window in that session. Each page object remembers its window and switches
// to it before a command, so tabs can be used one after another, but not at the same moment
// (one WebDriver session runs one command at a time). Requests are seen through Resource Timing
// (URLs only, and only the current document's).
//
// Network faults (Firefox): with `launchFirefox({ intercept: true })`, each session's Firefox
// sends all its HTTP (loopback included) through a fault proxy of its own (fault-proxy.mjs), set
// by prefs, and `page.intercept(match, action)` programs it; without it, Firefox connects directly.
//
// Environment: ATPROTO_GECKODRIVER, ATPROTO_FIREFOX, ATPROTO_WEBKITDRIVER (scripts/env.sh sets
// them), ATPROTO_MINIBROWSER (default: found under /usr/lib/<multiarch>/webkit2gtk-4.1/),
// ATPROTO_XVFB (default /usr/bin/Xvfb; without one, WebKit uses $DISPLAY).

import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startFaultProxy } from "./fault-proxy.mjs";

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
export async function launchFirefox({ intercept = false } = {}) {
  const driverPath = firstExisting(
    process.env.ATPROTO_GECKODRIVER,
    path.join(process.env.HOME ?? "", ".cargo/bin/geckodriver"),
  );
  if (!driverPath) throw new Error("geckodriver not found (run scripts/setup.sh, or set ATPROTO_GECKODRIVER)");
  const binary = firstExisting(process.env.ATPROTO_FIREFOX, "/usr/bin/firefox-esr", "/usr/bin/firefox");
  if (!binary) throw new Error("Firefox not found (apt-get install firefox-esr, or set ATPROTO_FIREFOX)");
  const options = JSON.parse(readFileSync(path.join(ROOT, "webdriver.json"), "utf8"))["moz:firefoxOptions"];
  return launchWebDriver({
    name: "firefox",
    driverPath,
    driverArgs: (port) => ["--host", "127.0.0.1", "--port", String(port), "--log", "error"],
    capabilities: { browserName: "firefox", "moz:firefoxOptions": { ...options, binary } },
    screenshotRoute: "/moz/screenshot/full",
    // Every http:// request, loopback included, to the session's fault proxy.
    proxyCapabilities: intercept
      ? (proxy, caps) => {
          const o = caps["moz:firefoxOptions"];
          const prefs = {
            ...o.prefs,
            "network.proxy.type": 1, // manual
            "network.proxy.http": proxy.host,
            "network.proxy.http_port": proxy.port,
            "network.proxy.share_proxy_settings": false,
            "network.proxy.no_proxies_on": "",
            "network.proxy.allow_hijacking_localhost": true,
          };
          return { ...caps, "moz:firefoxOptions": { ...o, prefs } };
        }
      : null,
  });
}

/** MiniBrowser, WebKitGTK's test browser: in Debian's libwebkit2gtk-4.1-0, under the multiarch
 *  library directory. */
export function findMiniBrowser() {
  if (process.env.ATPROTO_MINIBROWSER) return firstExisting(process.env.ATPROTO_MINIBROWSER);
  for (const lib of ["/usr/lib", "/usr/libexec"]) {
    let dirs = [];
    try {
      dirs = readdirSync(lib);
    } catch {}
    for (const d of ["", ...dirs]) {
      const p = path.join(lib, d, "webkit2gtk-4.1", "MiniBrowser");
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

/**
 * A driver `Browser` for WebKit: WebKitGTK's MiniBrowser through WebKitWebDriver, in an Xvfb
 * display started here (and stopped by `close()`). Throws if WebKitWebDriver, MiniBrowser or a
 * display is missing: scripts/setup.sh installs webkit2gtk-driver and xvfb.
 */
export async function launchWebKit() {
  const driverPath = firstExisting(process.env.ATPROTO_WEBKITDRIVER, "/usr/bin/WebKitWebDriver");
  if (!driverPath)
    throw new Error("WebKitWebDriver not found (run scripts/setup.sh: apt-get install webkit2gtk-driver)");
  const binary = findMiniBrowser();
  if (!binary) throw new Error("WebKitGTK's MiniBrowser not found (apt-get install libwebkit2gtk-4.1-0)");
  const display = await startXvfb();
  const browser = await launchWebDriver({
    name: "webkit",
    driverPath,
    driverArgs: (port) => ["--host=127.0.0.1", `--port=${port}`],
    env: { DISPLAY: display.name },
    capabilities: {
      // "--automation" is MiniBrowser's automation mode (WebKitWebDriver's default arguments,
      // which a capability replaces): an ephemeral data store per session, so each page starts
      // with storage of its own.
      "webkitgtk:browserOptions": { binary, args: ["--automation"] },
    },
    screenshotRoute: "/screenshot",
  });
  const close = browser.close;
  browser.close = async () => {
    try {
      await close();
    } finally {
      await display.stop();
    }
  };
  return browser;
}

/**
 * A virtual X display: Xvfb on a display number it picks itself (-displayfd), or $DISPLAY when
 * there is no Xvfb. `stop()` ends the Xvfb started here.
 */
async function startXvfb() {
  const xvfb = firstExisting(process.env.ATPROTO_XVFB, "/usr/bin/Xvfb");
  if (!xvfb) {
    if (process.env.DISPLAY) return { name: process.env.DISPLAY, stop: async () => {} };
    throw new Error("WebKit needs a display: no Xvfb (apt-get install xvfb) and no DISPLAY");
  }
  const proc = spawn(xvfb, ["-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp", "-noreset"], {
    stdio: ["ignore", "ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-2000);
  });
  const number = await new Promise((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => reject(new Error(`Xvfb gave no display number in 30 s: ${stderr}`)), 30_000);
    proc.stdio[3].on("data", (d) => {
      out += d;
      if (out.includes("\n")) {
        clearTimeout(t);
        resolve(out.trim());
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`Xvfb exited (${code}): ${stderr}`));
    });
  }).catch((err) => {
    proc.kill("SIGKILL");
    throw err;
  });
  return {
    name: `:${number}`,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await new Promise((r) => proc.once("exit", r));
      clearTimeout(t);
    },
  };
}

/** A driver `Browser` over WebDriver: each `newPage()` is a driver process and a session. */
function launchWebDriver(spec) {
  const sessions = new Set();
  return {
    name: spec.name,
    /** A page with storage of its own: a new browser session (and driver). */
    async newPage({ viewport, timeout = DEFAULT_TIMEOUT } = {}) {
      const proxy = spec.proxyCapabilities ? await startFaultProxy() : null;
      let session;
      try {
        session = await startSession(spec, proxy);
      } catch (err) {
        await proxy?.close();
        throw err;
      }
      session.proxy = proxy;
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

async function startSession(spec, proxy) {
  const port = await freePort();
  const driver = spawn(spec.driverPath, spec.driverArgs(port), {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...spec.env },
  });
  let stderr = "";
  driver.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  const driverName = path.basename(spec.driverPath);
  for (;;) {
    if (driver.exitCode !== null) throw new Error(`${driverName} exited (${driver.exitCode}): ${stderr}`);
    try {
      if ((await fetch(`${base}/status`)).ok) break;
    } catch {}
    if (Date.now() > deadline) {
      driver.kill("SIGKILL");
      throw new Error(`${driverName} did not answer on ${base}: ${stderr}`);
    }
    await sleep(100);
  }
  try {
    const res = await request(base, "POST", "/session", {
      capabilities: {
        alwaysMatch: {
          ...(proxy ? spec.proxyCapabilities(proxy, spec.capabilities) : spec.capabilities),
          timeouts: { script: 60_000, pageLoad: 60_000, implicit: 0 },
        },
      },
    });
    return new Session(spec, base, res.sessionId, driver);
  } catch (err) {
    driver.kill("SIGKILL");
    throw new Error(`${spec.name} did not start: ${err.message} ${stderr}`);
  }
}

/** One WebDriver session: its driver process, and which window commands go to. */
class Session {
  constructor(spec, base, id, driver) {
    this.spec = spec;
    this.base = base;
    this.id = id;
    this.driver = driver;
    this.current = null; // the window handle commands currently go to
    this.onQuit = null;
    this.quitting = null;
    this.proxy = null; // the fault proxy, when launched with `intercept`
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
      await this.proxy?.close();
      this.onQuit?.();
    })();
    return this.quitting;
  }
}

class WebDriverPage {
  constructor(session, handle, { root, timeout }) {
    this.browser = session.spec.name;
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
   * Behind the fault proxy (`intercept`), the proxy's record instead: method and status too.
   */
  async requestsDuring(fn, { prefix = "", allTabs = false } = {}) {
    const proxy = this.session.proxy;
    if (proxy) {
      // Behind the fault proxy: what it saw, from every tab of the session, with method and
      // status (no body); CORS preflights left out, as Playwright reports none.
      const from = proxy.seen.length;
      await fn();
      await sleep(50);
      return proxy.seen
        .slice(from)
        .filter((r) => r.url.startsWith(prefix) && r.method !== "OPTIONS")
        .map(({ url, method, status }) => ({ url, method, body: undefined, status }));
    }
    if (allTabs) throw new Error("requestsDuring({ allTabs }) needs the Playwright driver");
    await this.execute("performance.setResourceTimingBufferSize(10000); performance.clearResourceTimings();");
    await fn();
    const urls = await this.execute(
      "return performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.startsWith(arguments[0]));",
      [prefix],
    );
    return urls.map((url) => ({ url, method: undefined, body: undefined, status: undefined }));
  }

  /**
   * Network faults for this session's requests (every tab) whose URL `match`es: a rule of its
   * fault proxy (see fault-proxy.mjs). Needs `launchFirefox({ intercept: true })`. Returns
   * `{ hits: [{url, method, status}], remove() }`.
   */
  async intercept(match, action, { method } = {}) {
    if (!this.session.proxy) throw new Error("intercept() needs the browser launched with { intercept: true }");
    const rule = this.session.proxy.intercept(match, action, { method });
    return { hits: rule.hits, remove: async () => rule.remove() };
  }

  /** Another tab (window) in this session, sharing this page's storage. */
  async openTab() {
    const { handle } = await this.session.cmd("POST", "/window/new", { type: "tab" });
    return new WebDriverPage(this.session, handle, { root: false, timeout: this.timeout });
  }

  /** Saves a PNG: the full page (Firefox), or the viewport (WebKit: standard WebDriver). */
  async screenshot(file) {
    writeFileSync(file, Buffer.from(await this.cmd("GET", this.session.spec.screenshotRoute), "base64"));
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
