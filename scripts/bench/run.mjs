// scripts/bench/run.mjs — `npm run bench`: this package side by side with the official browser
// client (@atproto/oauth-client-browser) and @atcute/oauth-browser-client, in headless Chromium,
// against the official PDS on loopback. Not part of `npm test`.
//
// Steps: build pkg/ (scripts/build.sh), install the bench's own dependencies (scripts/bench/
// install.sh), bundle the JS clients with esbuild, start the PDS, then for each of BENCH_RUNS runs
// and each client, in a fresh browser context: sign-in (handle -> authorization URL), the PDS's
// sign-in and consent pages (untimed), callback -> session, 1st and 2nd listRecords, reload ->
// restore -> listRecords. Requests per phase (CORS preflights included, and responses from the
// HTTP cache) are counted with the Chrome DevTools Protocol. Then, in the last run's page: DPoP
// cost per authenticated call with fetch stubbed, and the part of it before the request leaves
// (from the call to its fetch: proof signed, request built), taking turns in batches with the
// "floor" (the least any WebCrypto DPoP client does per call, under the same stub; see
// page/bench.js). Prints one table (medians; ratio ours/official) and writes the same data as
// JSON.
//
// Environment:
//   BENCH_RUNS=7             logins per client (medians over these)
//   BENCH_DPOP_CALLS=2000    authenticated calls timed with fetch stubbed (after 50 warm-up calls)
//   BENCH_CLIENTS=ours,official,atcute
//   BENCH_SKIP_BUILD=1       use pkg/ as it is
//   BENCH_OUT=path           JSON output (default: bench-results.json at the repository root)
//   BENCH_PDS_PORT=2683, BENCH_PLC_PORT=2682, BENCH_SITE_PORT=8683   (not the e2e tests' ports,
//                            so the bench can run beside them)
//   BENCH_VERBOSE=1          print every request of every phase

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { shippedFiles, totalSize } from "../sizes.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const PKG = path.join(ROOT, "pkg");
const DIST = path.join(HERE, "dist");
const PAGE = path.join(HERE, "page");

const env = process.env;
const intEnv = (name, dflt, min = 1) => {
  const raw = env[name];
  if (raw == null || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) fail(`${name} must be an integer >= ${min} (got "${raw}")`);
  return n;
};
const RUNS = intEnv("BENCH_RUNS", 7);
const DPOP_CALLS = intEnv("BENCH_DPOP_CALLS", 2000);
const DPOP_WARMUP = 50;
const PDS_PORT = intEnv("BENCH_PDS_PORT", 2683);
const PLC_PORT = intEnv("BENCH_PLC_PORT", 2682);
const SITE_PORT = intEnv("BENCH_SITE_PORT", 8683);
const OUT = path.resolve(ROOT, env.BENCH_OUT || "bench-results.json");
const VERBOSE = env.BENCH_VERBOSE === "1";
// BENCH_PROFILE=dir: a CPU profile of each client's sign-in and DPoP phases
// (dir/<client>-signin.cpuprofile and dir/<client>.cpuprofile, for DevTools) and the 25 heaviest
// functions of each by self time, printed.
const PROFILE = env.BENCH_PROFILE ? path.resolve(ROOT, env.BENCH_PROFILE) : null;

async function reportProfile(client, profile) {
  const { mkdirSync, writeFileSync } = await import("node:fs");
  mkdirSync(PROFILE, { recursive: true });
  writeFileSync(path.join(PROFILE, `${client}.cpuprofile`), JSON.stringify(profile));
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const dt = profile.timeDeltas;
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  say(`${client}: CPU profile (${(total / 1000).toFixed(0)} ms sampled), top self time:`);
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    say(`  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`);
  }
}
const ALL_CLIENTS = ["ours", "official", "atcute"];
const CLIENTS = (env.BENCH_CLIENTS || ALL_CLIENTS.join(","))
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
for (const c of CLIENTS)
  if (!ALL_CLIENTS.includes(c)) fail(`BENCH_CLIENTS: unknown client "${c}" (known: ${ALL_CLIENTS})`);
const PHASES = ["signin", "callback", "call1", "call2", "reload"];

function fail(message) {
  console.error(`bench: ERROR: ${message}`);
  process.exit(1);
}
const say = (...args) => console.error("bench:", ...args);

// ---- build, install, bundle ---------------------------------------------------------------------

function build() {
  if (env.BENCH_SKIP_BUILD === "1") {
    say("BENCH_SKIP_BUILD=1: using pkg/ as it is");
  } else {
    say("building the release package (scripts/build.sh)");
    const r = spawnSync("bash", [path.join(ROOT, "scripts/build.sh")], { cwd: ROOT, stdio: ["ignore", 2, 2] });
    if (r.status !== 0) throw new Error(`scripts/build.sh failed (exit ${r.status ?? r.signal})`);
  }
  for (const f of ["atproto_oauth_wasm.js", "atproto_oauth_wasm_bg.wasm"]) {
    if (!fs.existsSync(path.join(PKG, f)))
      throw new Error(`pkg/${f} missing: run scripts/build.sh (or unset BENCH_SKIP_BUILD)`);
  }
}

function installAndBundle() {
  const r = spawnSync("bash", [path.join(HERE, "install.sh")], { cwd: HERE, stdio: ["ignore", 2, 2] });
  if (r.status !== 0) throw new Error(`scripts/bench/install.sh failed (exit ${r.status ?? r.signal})`);
  const require = createRequire(path.join(HERE, "package.json"));
  const esbuild = require("esbuild");
  const lock = JSON.parse(fs.readFileSync(path.join(HERE, "package-lock.json"), "utf8"));
  const version = (p) => lock.packages[`node_modules/${p}`]?.version;
  fs.rmSync(DIST, { recursive: true, force: true });
  fs.mkdirSync(DIST, { recursive: true });
  const bundles = {};
  for (const [client, pkgName] of [
    ["official", "@atproto/oauth-client-browser"],
    ["atcute", "@atcute/oauth-browser-client"],
  ]) {
    if (!CLIENTS.includes(client)) continue;
    const outfile = path.join(DIST, `${client}.js`);
    esbuild.buildSync({
      entryPoints: [path.join(HERE, "entries", `${client}.js`)],
      absWorkingDir: HERE,
      bundle: true,
      format: "esm",
      platform: "browser",
      minify: true,
      outfile,
      logLevel: "warning",
    });
    bundles[client] = { package: `${pkgName}@${version(pkgName)}`, files: [outfile] };
  }
  return { bundles, esbuild: version("esbuild") };
}

/** Raw, gzip and brotli bytes of `files`, and their names (scripts/sizes.mjs measures). */
function sizes(files) {
  return { ...totalSize(files), files: files.map((f) => path.relative(ROOT, f)) };
}

// ---- requests over the Chrome DevTools Protocol ---------------------------------------------------

/**
 * Records the page's network requests per phase (Network domain of a CDP session on the page).
 * Chromium reports a CORS preflight as its own request (method OPTIONS, type "Preflight",
 * initiator.type "preflight"); a preflight served from the preflight cache makes no request at all.
 * A response from the HTTP cache is marked by Network.requestServedFromCache (memory cache) or
 * response.fromDiskCache / fromPrefetchCache / fromServiceWorker in Network.responseReceived.
 */
class NetRecorder {
  constructor(cdp, siteOrigin) {
    this.cdp = cdp;
    this.siteOrigin = siteOrigin;
    this.phase = null;
    this.byId = new Map(); // requestId -> the latest entry (redirects make several entries)
    this.entries = [];
    this.lastEventAt = Date.now();
    const touch = () => (this.lastEventAt = Date.now());
    cdp.on("Network.requestWillBeSent", (e) => {
      touch();
      const prev = this.byId.get(e.requestId);
      if (prev && e.redirectResponse) {
        prev.status = e.redirectResponse.status;
        prev.done = true;
      }
      if (!this.phase) return;
      const preflight = e.type === "Preflight" || e.initiator?.type === "preflight" || e.request.method === "OPTIONS";
      const entry = {
        phase: this.phase,
        method: e.request.method,
        url: e.request.url,
        type: e.type,
        preflight,
        status: null,
        cache: null,
        done: false,
        start: e.timestamp, // seconds, the browser's monotonic clock
        end: null,
      };
      this.byId.set(e.requestId, entry);
      this.entries.push(entry);
    });
    cdp.on("Network.requestServedFromCache", (e) => {
      touch();
      const entry = this.byId.get(e.requestId);
      if (entry) entry.cache = "memory";
    });
    cdp.on("Network.responseReceived", (e) => {
      touch();
      const entry = this.byId.get(e.requestId);
      if (!entry) return;
      const r = e.response;
      entry.status = r.status;
      if (r.fromDiskCache) entry.cache = "disk";
      else if (r.fromMemoryCache) entry.cache = "memory";
      else if (r.fromPrefetchCache) entry.cache = "prefetch";
      else if (r.fromServiceWorker) entry.cache = "service-worker";
    });
    const finish = (e) => {
      touch();
      const entry = this.byId.get(e.requestId);
      if (entry) [entry.done, entry.end] = [true, e.timestamp];
      if (entry && e.errorText) entry.error = e.errorText;
    };
    cdp.on("Network.loadingFinished", finish);
    cdp.on("Network.loadingFailed", finish);
  }

  begin(phase) {
    this.phase = phase;
  }

  /**
   * Ends the phase once its requests have settled: every request seen in it finished, and no
   * network event for 300 ms (the next phase only starts afterwards, so late events of this
   * phase are not counted in another one).
   */
  async end() {
    const phase = this.phase;
    const until = Date.now() + 5000;
    for (;;) {
      const pending = this.entries.filter((e) => e.phase === phase && !e.done);
      if ((pending.length === 0 && Date.now() - this.lastEventAt >= 300) || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    this.phase = null;
    const list = this.entries.filter((e) => e.phase === phase);
    const api = list.filter((e) => new URL(e.url).origin !== this.siteOrigin);
    const assets = list.filter((e) => new URL(e.url).origin === this.siteOrigin);
    // Verbose: each request's start and end in ms from the phase's first request, so the gaps
    // between them (the client's own work) show.
    const t0 = list[0]?.start;
    const ms = (t) => (t == null ? "?" : ((t - t0) * 1000).toFixed(1));
    if (VERBOSE)
      for (const e of list)
        say(
          `  [${phase}] ${ms(e.start)}..${ms(e.end)} ms ${e.method} ${e.url} -> ${e.status}${e.preflight ? " (preflight)" : ""}${e.cache ? ` (cache: ${e.cache})` : ""}`,
        );
    // A response from the HTTP cache is no request on the wire (checked with tcpdump on the
    // PDS's and PLC's ports: the counts below match what reaches the servers).
    const sent = api.filter((e) => !e.cache);
    return {
      requests: sent.length,
      preflights: sent.filter((e) => e.preflight).length,
      cached: api.filter((e) => e.cache).length,
      assetRequests: assets.filter((e) => !e.cache).length,
      list: list.map(({ method, url, status, preflight, cache, type }) => ({
        method,
        url,
        status,
        type,
        preflight,
        cache,
      })),
    };
  }
}

// ---- one login, all phases ----------------------------------------------------------------------

async function pageCall(page, fn, ...args) {
  const r = await page.evaluate(fn, args);
  if (!r.ok) throw new Error(r.error);
  return r;
}
const step = (page, name, ...args) =>
  pageCall(page, ([name, ...args]) => window.bench.step(name, ...args), name, ...args);

async function waitReady(page, what) {
  await page.waitForFunction(() => window.benchReady === true || window.benchError, null, { timeout: 30_000 });
  const err = await page.evaluate(() => window.benchError);
  if (err) throw new Error(`${what}: the page failed: ${err}`);
}

/** A page in a fresh browser context (fresh storage) with the bench's config injected. */
async function freshPage(browser, cfg) {
  const fresh = await browser.newPage();
  try {
    await fresh.context.addInitScript(`window.BENCH_CONFIG = ${JSON.stringify(cfg)};`);
  } catch (e) {
    await fresh.close().catch(() => {});
    throw e;
  }
  return fresh;
}

async function runOnce({ browser, client, site, cfg, account, dpop }) {
  const fresh = await freshPage(browser, cfg);
  const { page, context } = fresh;
  try {
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    const net = new NetRecorder(cdp, site.url);
    const base = `${site.url}/c/${client}/`;
    const out = { phases: {} };

    await page.goto(base);
    await waitReady(page, "first load");
    out.load = await page.evaluate(() => window.benchLoad);

    // 1. sign-in: handle -> resolution -> PAR -> the authorization page URL
    net.begin("signin");
    if (PROFILE) {
      await cdp.send("Profiler.enable");
      await cdp.send("Profiler.setSamplingInterval", { interval: 50 });
      await cdp.send("Profiler.start");
    }
    const signin = await step(page, "startLogin", account.handle);
    if (PROFILE) await reportProfile(`${client}-signin`, (await cdp.send("Profiler.stop")).profile);
    out.phases.signin = { ms: signin.ms, ...(await net.end()) };

    // the PDS's own sign-in and consent pages (not measured), back to /c/<client>/callback
    await page.goto(signin.value);
    await fresh.authorize({ password: account.password });
    await page.waitForURL((u) => u.href.startsWith(`${base}callback`), { timeout: 30_000 });
    await waitReady(page, "callback page");

    // 2. callback -> session
    net.begin("callback");
    const cb = await step(page, "callback");
    out.phases.callback = { ms: cb.ms, ...(await net.end()) };
    if (cb.value !== account.did) throw new Error(`callback gave ${cb.value}, expected ${account.did}`);

    // 3, 4. the first and second authenticated calls
    for (const phase of ["call1", "call2"]) {
      net.begin(phase);
      const r = await step(page, "call", account.did);
      out.phases[phase] = { ms: r.ms, ...(await net.end()) };
    }

    // 5. reload -> restore -> first call, from the navigation's start
    await page.evaluate(() => sessionStorage.setItem("bench-auto", "1"));
    net.begin("reload");
    await page.reload();
    await waitReady(page, "reload");
    const auto = await page.evaluate(() => window.benchAuto);
    if (!auto) throw new Error("reload: the page did not restore (no window.benchAuto)");
    out.phases.reload = {
      ms: auto.sinceNavigationMs,
      restoreMs: auto.restoreMs,
      callMs: auto.callMs,
      ...(await net.end()),
    };
    out.reloadLoad = auto.load;

    if (dpop) {
      if (PROFILE) {
        await cdp.send("Profiler.enable");
        await cdp.send("Profiler.setSamplingInterval", { interval: 50 });
        await cdp.send("Profiler.start");
      }
      const r = await pageCall(page, ([did, o]) => window.bench.dpop(did, o), account.did, {
        calls: DPOP_CALLS,
        warmup: DPOP_WARMUP,
      });
      if (PROFILE) await reportProfile(client, (await cdp.send("Profiler.stop")).profile);
      const d = r.value;
      if (d.fetches !== d.calls || d.authenticated !== d.calls) {
        throw new Error(
          `DPoP bench: ${d.calls} calls made ${d.fetches} fetches, ${d.authenticated} with DPoP + Authorization: DPoP`,
        );
      }
      out.dpop = d;
    }
    if (errors.length) say(`${client}: page errors (ignored): ${errors.join(" | ")}`);
    return out;
  } finally {
    await fresh.close().catch(() => {});
  }
}

// ---- statistics, table ----------------------------------------------------------------------------

const median = (xs) => {
  const s = xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const stat = (xs) => {
  const nums = xs.filter((x) => typeof x === "number");
  if (nums.length === 0) return null; // not applicable (e.g. init() of a client without .wasm)
  return { median: median(nums), min: Math.min(...nums), max: Math.max(...nums), values: xs };
};

function summarize(client, runs, size) {
  const phases = {};
  for (const p of PHASES) {
    const rs = runs.map((r) => r.phases[p]);
    phases[p] = {
      ms: stat(rs.map((r) => r.ms)),
      requests: stat(rs.map((r) => r.requests)),
      preflights: stat(rs.map((r) => r.preflights)),
      cached: stat(rs.map((r) => r.cached)),
      assetRequests: stat(rs.map((r) => r.assetRequests)),
    };
    if (p === "reload") {
      phases[p].restoreMs = stat(rs.map((r) => r.restoreMs));
      phases[p].callMs = stat(rs.map((r) => r.callMs));
    }
  }
  const load = {
    importMs: stat(runs.map((r) => r.load.importMs)),
    initMs: stat(runs.map((r) => r.load.initMs)),
    downloadMs: stat(runs.map((r) => r.load.downloadMs ?? null)),
    afterDownloadMs: stat(runs.map((r) => (r.load.downloadMs == null ? null : r.load.initMs - r.load.downloadMs))),
    constructMs: stat(runs.map((r) => r.load.constructMs)),
    totalMs: stat(runs.map((r) => r.load.importMs + (r.load.initMs ?? 0))),
  };
  const dpop = runs.find((r) => r.dpop)?.dpop ?? null;
  return { client, size, load, phases, dpop };
}

function table(results) {
  const cols = CLIENTS;
  const has = (c) => results[c];
  const rows = [];
  const section = (title) => rows.push({ section: title });
  const row = (label, get, { digits = 1, unit = "" } = {}) => {
    const cells = {};
    const stats = {};
    for (const c of cols) {
      if (!has(c)) continue;
      const s = get(results[c]);
      stats[c] = s;
    }
    for (const [c, s] of Object.entries(stats)) {
      if (s == null) {
        cells[c] = "–";
        continue;
      }
      const v = typeof s === "number" ? s : s.median;
      let text = v == null ? "–" : v.toFixed(digits);
      if (typeof s === "object" && s.min !== s.max && digits === 0) text += ` (${s.min}–${s.max})`;
      cells[c] = text + unit;
    }
    const val = (c) => {
      const s = stats[c];
      return s == null ? null : typeof s === "number" ? s : s.median;
    };
    const ours = val("ours");
    const off = val("official");
    let ratio = "";
    // (a count that is 0 for the official client has no ratio: "n/a"; both 0: "=")
    if (ours != null && off != null) ratio = off === 0 ? (ours === 0 ? "=" : "n/a") : `${(ours / off).toFixed(2)}×`;
    rows.push({ label, cells, ratio });
  };
  const kb = (b) => b / 1024;
  section("shipped (what the page loads for the library; KiB)");
  row("raw", (r) => kb(r.size.raw));
  row("gzip -9", (r) => kb(r.size.gzip));
  row("brotli -q 11", (r) => kb(r.size.brotli));
  section("load (ms, first page load in a fresh context)");
  row("import (JS fetch + evaluate)", (r) => r.load.importMs, { digits: 1 });
  row("init() (.wasm fetch + compile + instantiate)", (r) => r.load.initMs, { digits: 1 });
  row("  until the .wasm's last byte (compiling alongside)", (r) => r.load.downloadMs, { digits: 1 });
  row("  after it (compile tail + instantiate)", (r) => r.load.afterDownloadMs, { digits: 1 });
  row("import + init", (r) => r.load.totalMs, { digits: 1 });
  const names = {
    signin: "sign-in (handle → authorization URL)",
    callback: "callback → session",
    call1: "1st listRecords",
    call2: "2nd listRecords",
    reload: "reload → restore → listRecords (from navigation start)",
  };
  for (const p of PHASES) {
    section(names[p]);
    row("ms", (r) => r.phases[p].ms);
    row("requests sent to PDS/PLC (incl. preflights)", (r) => r.phases[p].requests, { digits: 0 });
    row("  of which CORS preflights", (r) => r.phases[p].preflights, { digits: 0 });
    row("answered from the HTTP cache (not sent)", (r) => r.phases[p].cached, { digits: 0 });
    if (p === "reload") {
      row("page requests (document, scripts, .wasm)", (r) => r.phases[p].assetRequests, { digits: 0 });
      row("  restore ms", (r) => r.phases[p].restoreMs);
      row("  listRecords ms", (r) => r.phases[p].callMs);
    }
  }
  section(`DPoP cost per authenticated call, fetch stubbed (${DPOP_CALLS} sequential calls)`);
  row("ms per call", (r) => r.dpop?.msPerCall ?? null, { digits: 3 });
  row("  of which until the request leaves (proof signed)", (r) => r.dpop?.msBeforeSend ?? null, { digits: 3 });
  // Measured in each client's page right after it: the spread across columns is the noise.
  row("floor: the least any WebCrypto client does, per call", (r) => r.dpop?.floor.msPerCall ?? null, { digits: 3 });
  row("  of which until the request leaves", (r) => r.dpop?.floor.msBeforeSend ?? null, { digits: 3 });

  const header = ["", ...cols.filter(has), "ours/official"];
  const lines = rows.map((r) =>
    r.section ? [r.section] : [r.label, ...cols.filter(has).map((c) => r.cells[c]), r.ratio],
  );
  const widths = header.map((h, i) =>
    Math.max(h.length, ...lines.filter((l) => l.length > 1).map((l) => String(l[i] ?? "").length)),
  );
  const fmt = (l) =>
    l.map((x, i) => (i === 0 ? String(x).padEnd(widths[i]) : String(x).padStart(widths[i]))).join("  ");
  const out = [fmt(header), "-".repeat(widths.reduce((a, b) => a + b + 2, -2))];
  for (const l of lines) out.push(l.length === 1 ? `${l[0]}` : fmt(l));
  return out.join("\n");
}

// ---- main -----------------------------------------------------------------------------------------

async function main() {
  const t0 = Date.now();
  const cleanup = [];
  let cleaning = null;
  // Stops what was started, last first, once (the PDS above all: it must not outlive the bench).
  const runCleanup = () =>
    (cleaning ??= (async () => {
      for (const f of cleanup.reverse()) await f().catch((e) => say(`cleanup: ${e.message}`));
    })());
  let interrupted = false;
  const onSignal = (sig) => {
    if (interrupted) return;
    interrupted = true;
    say(`${sig}: stopping`);
    runCleanup().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    build();
    const { bundles, esbuild } = installAndBundle();
    const size = { ours: sizes(shippedFiles(PKG)) };
    for (const [c, b] of Object.entries(bundles)) size[c] = sizes(b.files);
    const versions = {
      ours: JSON.parse(fs.readFileSync(path.join(PKG, "package.json"), "utf8")).version,
      ...Object.fromEntries(Object.entries(bundles).map(([c, b]) => [c, b.package])),
      esbuild,
    };

    const { startPds, launchBrowser, createStaticServer } = await import("./harness.mjs");
    say(`starting the PDS (http://localhost:${PDS_PORT}, PLC ${PLC_PORT})`);
    const pds = await startPds({
      pdsPort: PDS_PORT,
      plcPort: PLC_PORT,
      accounts: [{ handle: "alice.test", password: "alice-pass", email: "alice@example.com" }],
    }).catch((e) => {
      throw new Error(
        `the PDS did not start (ports: BENCH_PDS_PORT=${PDS_PORT}, BENCH_PLC_PORT=${PLC_PORT}): ${e.message}`,
      );
    });
    cleanup.push(() => pds.stop());
    const site = await createStaticServer({
      host: "127.0.0.1",
      port: SITE_PORT,
      mounts: [
        { prefix: "/pkg/", dir: PKG },
        { prefix: "/bench/dist/", dir: DIST },
        { prefix: "/bench/", dir: PAGE },
      ],
      fallback: path.join(PAGE, "index.html"),
    }).catch((e) => {
      throw new Error(`the page server cannot listen on 127.0.0.1:${SITE_PORT} (BENCH_SITE_PORT): ${e.message}`);
    });
    cleanup.push(() => site.close());
    const browser = await launchBrowser();
    cleanup.push(() => browser.close());
    const cfg = { pds: pds.pds, plc: pds.plc };
    const account = pds.accounts[0];
    say(`page ${site.url}; ${RUNS} runs × ${CLIENTS.join(", ")}`);

    // Warm-up, not measured: each client's page loaded once, so that the first measured run does
    // not pay for a cold browser (first renderer, disk caches of the browser's own files).
    for (const client of CLIENTS) {
      const { page, close } = await freshPage(browser, cfg);
      try {
        await page.goto(`${site.url}/c/${client}/`);
        await waitReady(page, `${client}: warm-up load`);
      } finally {
        await close().catch(() => {});
      }
    }

    say(`Chromium ${browser.version}`);
    const runs = Object.fromEntries(CLIENTS.map((c) => [c, []]));
    for (let i = 0; i < RUNS; i++) {
      // rotate the order so that no client always runs first (or right after the PDS started)
      const order = CLIENTS.map((_, k) => CLIENTS[(i + k) % CLIENTS.length]);
      for (const client of order) {
        if (interrupted) return;
        const ts = Date.now();
        let r;
        try {
          r = await runOnce({ browser, client, site, cfg, account, dpop: i === RUNS - 1 });
        } catch (e) {
          throw new Error(`${client}, run ${i + 1}: ${e.message}`);
        }
        runs[client].push(r);
        const p = r.phases;
        say(
          `run ${i + 1}/${RUNS} ${client.padEnd(8)} sign-in ${p.signin.ms.toFixed(0)} ms/${p.signin.requests} req, ` +
            `callback ${p.callback.ms.toFixed(0)}/${p.callback.requests}, call ${p.call1.ms.toFixed(0)}/${p.call1.requests}, ` +
            `${p.call2.ms.toFixed(0)}/${p.call2.requests}, reload ${p.reload.ms.toFixed(0)}/${p.reload.requests}` +
            (r.dpop ? `, DPoP ${r.dpop.msPerCall.toFixed(3)} ms/call` : "") +
            ` (${((Date.now() - ts) / 1000).toFixed(1)} s)`,
        );
      }
    }

    const results = Object.fromEntries(CLIENTS.map((c) => [c, summarize(c, runs[c], size[c])]));
    const text = table(results);
    const seconds = (Date.now() - t0) / 1000;
    const json = {
      bench: "oauth-clients",
      date: new Date().toISOString(),
      seconds,
      config: { runs: RUNS, dpopCalls: DPOP_CALLS, dpopWarmup: DPOP_WARMUP, clients: CLIENTS },
      environment: {
        chromium: browser.version,
        node: process.version,
        cpus: (await import("node:os")).cpus().length,
        versions,
      },
      results,
      runs,
    };
    fs.writeFileSync(OUT, JSON.stringify(json, null, 2) + "\n");
    console.log(text);
    console.log(
      `\n${RUNS} runs per client, medians; full data in ${path.relative(process.cwd(), OUT) || OUT}; ${seconds.toFixed(0)} s in all`,
    );
  } finally {
    await runCleanup();
  }
}

main().catch((e) => {
  console.error(`bench: FAILED: ${VERBOSE ? e.stack || e.message : e.message}`);
  process.exit(1);
});
