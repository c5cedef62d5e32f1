// scripts/pds.mjs — start/stop a real local AT Protocol PDS (scripts/pds/server.mjs) from any
// Node (the machine's Node 20 is fine; the PDS itself runs on Node 22 from .tools/node22). Used by
// `npm start` (scripts/demo.mjs) and by the end-to-end tests.
//
// Library:
//   import { startPds } from "./pds.mjs";
//   const { pds, plc, accounts, stop } = await startPds();
//   // pds = "http://localhost:2583" (PDS, OAuth issuer and resource server), plc = "http://localhost:2582"
//   // accounts = [{ handle: "alice.test", did: "did:plc:…", password: "alice-pass", email }, { handle: "bob.test", … }]
//   await stop();
//
// CLI: `node scripts/pds.mjs [handle:password ...] [--json]` starts it and keeps it running until
// Ctrl-C, printing the URLs and the accounts.
//
// Environment: ATPROTO_E2E_PDS_PORT (2583), ATPROTO_E2E_PLC_PORT (2582), ATPROTO_E2E_PDS_LOG=1 (the
// PDS's own JSON logs), ATPROTO_E2E_VERBOSE=1 (echo the server's stderr).

import { execFile, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PDS_DIR = path.join(HERE, "pds");
const INSTALL_SH = path.join(PDS_DIR, "install.sh");
const SERVER_MJS = path.join(PDS_DIR, "server.mjs");

export const DEFAULT_ACCOUNTS = Object.freeze([
  Object.freeze({ handle: "alice.test", password: "alice-pass", email: "alice@example.com" }),
  Object.freeze({ handle: "bob.test", password: "bob-pass", email: "bob@example.com" }),
]);

const live = new Set(); // child processes not yet exited

let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: just signal. (If this process dies without running them,
  // the server still exits: it watches its stdin pipe and its parent pid.)
  process.on("exit", () => {
    for (const child of live) {
      try {
        child.kill("SIGTERM");
      } catch {}
    }
  });
}

let installPromise = null;
/** Runs scripts/pds/install.sh (a no-op when already installed); resolves to the Node 22 binary. */
export function ensureInstalled() {
  installPromise ??= new Promise((resolve, reject) => {
    const child = execFile("bash", [INSTALL_SH], { maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) {
        installPromise = null;
        reject(new Error(`scripts/pds/install.sh failed (${err.message.split("\n")[0]})`));
        return;
      }
      const lines = stdout.trim().split("\n");
      resolve(lines[lines.length - 1].trim());
    });
    child.stderr.pipe(process.stderr); // progress of a first install
  });
  return installPromise;
}

/**
 * Starts the PLC directory and the PDS, creates the accounts and resolves once they are ready.
 * @param {{accounts?: {handle: string, password: string, email?: string}[], pdsPort?: number,
 *          plcPort?: number, timeoutMs?: number, verbose?: boolean}} [opts]
 * @returns {Promise<{pds: string, plc: string, accounts: {handle: string, did: string,
 *          password: string, email: string}[], stop: () => Promise<void>, pid: number}>}
 */
export async function startPds({
  accounts = DEFAULT_ACCOUNTS,
  pdsPort = process.env.ATPROTO_E2E_PDS_PORT,
  plcPort = process.env.ATPROTO_E2E_PLC_PORT,
  timeoutMs = 60_000,
  verbose = process.env.ATPROTO_E2E_VERBOSE === "1",
} = {}) {
  const node = await ensureInstalled();
  installExitHook();

  const ports = { PDS: Number(pdsPort || 2583), PLC: Number(plcPort || 2582) };
  for (const [what, port] of Object.entries(ports)) {
    if (await isListening(port)) {
      throw new Error(
        `port ${port} (for the ${what}) is already in use: is another PDS running (\`npm start\`)? ` +
          "Stop it, or choose other ports with ATPROTO_E2E_PDS_PORT / ATPROTO_E2E_PLC_PORT.",
      );
    }
  }

  const env = { ...process.env, ATPROTO_E2E_ACCOUNTS: JSON.stringify(accounts) };
  if (pdsPort) env.ATPROTO_E2E_PDS_PORT = String(pdsPort);
  if (plcPort) env.ATPROTO_E2E_PLC_PORT = String(plcPort);
  // Keep the caller's npm/node settings from leaking into Node 22.
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;

  const child = spawn(node, [SERVER_MJS, "--exit-on-stdin-close"], {
    cwd: PDS_DIR,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  live.add(child);

  let exited = false;
  let exitInfo = null;
  const exitPromise = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      exited = true;
      exitInfo = { code, signal };
      live.delete(child);
      resolve(exitInfo);
    });
    child.on("error", (err) => {
      exited = true;
      exitInfo = { code: null, signal: null, error: err };
      live.delete(child);
      resolve(exitInfo);
    });
  });

  // Keep the last lines of stderr for error messages; always drain both pipes.
  const stderrTail = [];
  let stderrPartial = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    if (verbose) process.stderr.write(chunk);
    const parts = (stderrPartial + chunk).split("\n");
    stderrPartial = parts.pop();
    for (const line of parts) {
      stderrTail.push(line);
      if (stderrTail.length > 200) stderrTail.shift();
    }
  });
  const stderrText = () => [...stderrTail, stderrPartial].join("\n").trim();

  const stop = async () => {
    if (!exited) {
      child.ref();
      try {
        child.kill("SIGTERM");
      } catch {}
      const t = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {}
      }, 15_000);
      await exitPromise;
      clearTimeout(t);
    }
    try {
      child.stdin.destroy();
    } catch {}
  };

  const ready = await new Promise((resolve, reject) => {
    let buf = "";
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => {
      finish(new Error(`PDS not ready after ${timeoutMs / 1000} s. Server stderr:\n${stderrText()}`));
    }, timeoutMs);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      if (done) {
        if (verbose) process.stderr.write(chunk);
        return;
      }
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          msg = null;
        }
        if (msg && msg.ready === true) finish(null, msg);
        else if (verbose) process.stderr.write(line + "\n");
      }
    });
    exitPromise.then((info) => {
      const how = info.error ? info.error.message : `code ${info.code}, signal ${info.signal}`;
      finish(new Error(`PDS server exited before it was ready (${how}). Server stderr:\n${stderrText()}`));
    });
  }).catch(async (err) => {
    await stop();
    throw err;
  });

  // Don't let a forgotten stop() keep the caller alive: the 'exit' hook (and the server's stdin
  // watch) still stop the server when the caller exits.
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr]) s?.unref?.();

  return {
    pds: ready.pds,
    plc: ready.plc,
    accounts: ready.accounts,
    pid: child.pid,
    stop,
    stderr: stderrText,
  };
}

function isListening(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: "127.0.0.1" });
    const done = (v) => {
      sock.destroy();
      resolve(v);
    };
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
    sock.setTimeout(1000, () => done(false));
  });
}

// ---- CLI -------------------------------------------------------------------------------------

async function cli() {
  const args = process.argv.slice(2);
  const json = args.includes("--json");
  const accountArgs = args.filter((a) => !a.startsWith("--"));
  const accounts = accountArgs.length
    ? accountArgs.map((a) => {
        const [handle, password, email] = a.split(":");
        return { handle, password, ...(email ? { email } : {}) };
      })
    : DEFAULT_ACCOUNTS;

  const started = Date.now();
  let server;
  try {
    server = await startPds({ accounts, verbose: process.env.ATPROTO_E2E_VERBOSE === "1" });
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    console.error("\nStopping the PDS…");
    await server.stop();
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
  process.on("SIGHUP", shutdown);

  if (json) {
    const { pds, plc, accounts: accs } = server;
    console.log(JSON.stringify({ ready: true, pds, plc, accounts: accs }));
  } else {
    const w = Math.max(...server.accounts.map((a) => a.handle.length));
    console.log(`Local AT Protocol PDS ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`  PDS + OAuth authorization server: ${server.pds}`);
    console.log(`  PLC directory:                    ${server.plc}`);
    console.log(`  Handle resolution (XRPC):         ${server.pds}/xrpc/com.atproto.identity.resolveHandle`);
    console.log("  Accounts:");
    for (const a of server.accounts) {
      console.log(`    ${a.handle.padEnd(w)}  password: ${a.password}  (${a.did})`);
    }
    console.log("Press Ctrl-C to stop.");
  }

  // Keep running until a signal; notice if the server dies on its own.
  const child = [...live][0];
  child?.ref();
  child?.on("exit", (code, signal) => {
    if (!stopping) {
      console.error(`The PDS exited unexpectedly (code ${code}, signal ${signal}):\n${server.stderr()}`);
      process.exit(1);
    }
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await cli();
}
