// tests/e2e/run.mjs — the end-to-end test entry point (`npm test` calls `node tests/e2e/run.mjs`).
//
//   node tests/e2e/run.mjs                      all tests/e2e/*.test.mjs, one file after another
//   node tests/e2e/run.mjs smoke pds-pages      only files whose names contain one of these words
//   node tests/e2e/run.mjs firefox              browser names pick the browsers (all files);
//   node tests/e2e/run.mjs demo chromium        with other words, those files in that browser
//   node tests/e2e/run.mjs -- --test-name-pattern=Deny   (arguments after -- go to `node --test`)
//
// Browser names (chromium, firefox, webkit) set ATPROTO_E2E_BROWSERS for the files
// (scripts/browsers/index.mjs), which otherwise run each scenario in Chromium and Firefox.
// The files run sequentially, each in its own `node --test` process, because each starts the PDS
// on the same fixed ports. Exits non-zero if any file fails. Afterwards it makes sure no PDS it
// started is left running: every process is tagged with a run id in its environment, and any
// tagged process still alive at the end is terminated (by pid).

import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureInstalled } from "../../scripts/pds.mjs";
import { BROWSERS } from "../../scripts/browsers/index.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RUN_TAG = "ATPROTO_E2E_RUN_ID";
const runId = randomUUID();

const argv = process.argv.slice(2);
const dd = argv.indexOf("--");
const words = (dd >= 0 ? argv.slice(0, dd) : argv).filter((a) => !a.startsWith("-"));
const browserWords = words.filter((w) => BROWSERS.includes(w));
const filters = words.filter((w) => !BROWSERS.includes(w));
const browserEnv = browserWords.length ? { ATPROTO_E2E_BROWSERS: browserWords.join(",") } : {};
const passThrough = dd >= 0 ? argv.slice(dd + 1) : argv.filter((a) => a.startsWith("-"));

const files = readdirSync(HERE)
  .filter((f) => f.endsWith(".test.mjs"))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort((a, b) => (a === "smoke.test.mjs" ? -1 : b === "smoke.test.mjs" ? 1 : a.localeCompare(b)));

if (files.length === 0) {
  console.error(`no tests/e2e/*.test.mjs matches ${filters.join(" ")}`);
  process.exit(1);
}

/** Pids of live processes carrying our run id (Linux /proc; elsewhere: none found). */
function taggedPids() {
  const needle = `${RUN_TAG}=${runId}`;
  const pids = [];
  let entries = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return pids;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${e}/environ`, "latin1");
      if (env.split("\0").includes(needle)) pids.push(Number(e));
    } catch {}
  }
  return pids;
}

async function reapLeftovers() {
  let pids = taggedPids();
  if (pids.length === 0) return 0;
  console.error(`[e2e] terminating ${pids.length} leftover process(es): ${pids.join(" ")}`);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {}
  }
  const until = Date.now() + 10_000;
  while (Date.now() < until && (pids = taggedPids()).length > 0) {
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  return pids.length;
}

function runFile(file) {
  return new Promise((resolve) => {
    // A test that hangs (a page promise that never settles) fails after 5 minutes instead of
    // holding the whole run until CI's limit.
    const child = spawn(process.execPath, ["--test", "--test-timeout=300000", ...passThrough, path.join(HERE, file)], {
      stdio: "inherit",
      env: { ...process.env, ...browserEnv, [RUN_TAG]: runId },
    });
    const forward = (sig) => {
      try {
        child.kill(sig);
      } catch {}
    };
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.on("exit", (code, signal) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      resolve(code === 0 ? 0 : (code ?? (signal ? 128 : 1)));
    });
  });
}

let interrupted = false;
process.on("SIGINT", () => {
  interrupted = true;
});
process.on("SIGTERM", () => {
  interrupted = true;
});

// Install once up front (first time: a couple of minutes), not inside a test's timeout.
try {
  await ensureInstalled();
} catch (err) {
  console.error(`[e2e] ${err.message}`);
  process.exit(1);
}

if (browserWords.length) console.error(`[e2e] browsers: ${browserWords.join(", ")}`);
const results = [];
const t0 = Date.now();
for (const file of files) {
  if (interrupted) break;
  console.error(`\n[e2e] ── ${file}`);
  const t = Date.now();
  const code = await runFile(file);
  results.push({ file, code, s: ((Date.now() - t) / 1000).toFixed(1) });
  await reapLeftovers();
}
const leftovers = await reapLeftovers();

console.error("\n[e2e] summary");
for (const r of results) console.error(`  ${r.code === 0 ? "ok  " : "FAIL"}  ${r.file}  (${r.s} s)`);
if (interrupted) console.error("  (interrupted)");
console.error(`  total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
const failed = interrupted || leftovers > 0 || results.some((r) => r.code !== 0);
process.exit(failed ? 1 : 0);
