// scripts/pds/server.mjs — a real AT Protocol PDS (the official `@atproto/pds`, with its OAuth
// authorization server) plus an in-memory PLC directory (`@did-plc/server`), on loopback, for the
// end-to-end tests and the demo.
//
// Needs Node >= 22 (run ./install.sh; it prints the Node 22 binary to use). Normally started by
// ../pds.mjs, which you can run under any Node.
//
//   .tools/node22/bin/node scripts/pds/server.mjs [handle:password[:email] ...] [--exit-on-stdin-close]
//
// Without account arguments (and without ATPROTO_E2E_ACCOUNTS) it creates alice.test / alice-pass
// and bob.test / bob-pass. When ready it prints exactly one JSON line to stdout:
//   {"ready":true,"pds":"http://localhost:2583","plc":"http://localhost:2582",
//    "accounts":[{"handle":"alice.test","did":"did:plc:…","password":"alice-pass","email":"…"},…]}
// and nothing else ever goes to stdout. Diagnostics go to stderr.
//
// Environment:
//   ATPROTO_E2E_PDS_PORT   PDS port (default 2583). Issuer/resource: http://localhost:<port>
//   ATPROTO_E2E_PLC_PORT   PLC directory port (default 2582)
//   ATPROTO_E2E_ACCOUNTS   JSON array of {handle, password, email?} (overridden by arguments)
//   ATPROTO_E2E_PDS_LOG    1: the PDS's and PLC's own pino logs (JSON) to stderr
//
// Exits (cleanly, removing its temporary data directory) on SIGTERM/SIGINT/SIGHUP, when its parent
// process goes away, and — with --exit-on-stdin-close — when its stdin is closed.

import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  console.error(`[pds] Node >= 22 required (this is ${process.version}); run scripts/pds/install.sh`);
  process.exit(2);
}

// The PDS and PLC read their log settings when first imported: configure before importing.
if (process.env.ATPROTO_E2E_PDS_LOG === "1") {
  process.env.LOG_ENABLED = "true";
  process.env.LOG_DESTINATION = "/dev/stderr";
} else {
  process.env.LOG_ENABLED = "false";
  delete process.env.LOG_DESTINATION;
}

const require = createRequire(import.meta.url);
const { PDS, envToCfg, envToSecrets } = await import("@atproto/pds");
const plcServer = require("@did-plc/server"); // CommonJS

const log = (...args) => console.error("[pds]", ...args);

// ---- arguments -----------------------------------------------------------------------------

const argv = process.argv.slice(2);
const exitOnStdinClose = argv.includes("--exit-on-stdin-close");
const accountArgs = argv.filter((a) => !a.startsWith("--"));

function parsePort(name, dflt) {
  const raw = process.env[name];
  if (raw == null || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`${name}: bad port ${raw}`);
  return n;
}
const PDS_PORT = parsePort("ATPROTO_E2E_PDS_PORT", 2583);
const PLC_PORT = parsePort("ATPROTO_E2E_PLC_PORT", 2582);
const PDS_URL = `http://localhost:${PDS_PORT}`;
const PLC_URL = `http://localhost:${PLC_PORT}`;

const DEFAULT_ACCOUNTS = [
  { handle: "alice.test", password: "alice-pass", email: "alice@example.com" },
  { handle: "bob.test", password: "bob-pass", email: "bob@example.com" },
];

function wantedAccounts() {
  let list;
  if (accountArgs.length > 0) {
    list = accountArgs.map((a) => {
      const [handle, password, email] = a.split(":");
      return { handle, password, email };
    });
  } else if (process.env.ATPROTO_E2E_ACCOUNTS) {
    list = JSON.parse(process.env.ATPROTO_E2E_ACCOUNTS);
  } else {
    list = DEFAULT_ACCOUNTS;
  }
  return list.map((a) => {
    if (!a || typeof a.handle !== "string" || !a.handle.endsWith(".test")) {
      throw new Error(`account handle must end with .test: ${JSON.stringify(a)}`);
    }
    if (typeof a.password !== "string" || a.password === "") {
      throw new Error(`account needs a password: ${JSON.stringify(a)}`);
    }
    const local = a.handle.slice(0, -".test".length).replace(/\./g, "-");
    return { handle: a.handle.toLowerCase(), password: a.password, email: a.email || `${local}@example.com` };
  });
}

// ---- lifecycle -----------------------------------------------------------------------------

let plc = null;
let pds = null;
let dataDir = null;
let stopping = null;

async function shutdown(reason, code = 0) {
  if (stopping) return stopping;
  log(`stopping (${reason})`);
  // Never hang: the parent waits for us before reusing the ports.
  setTimeout(() => {
    log("forced exit after 10 s");
    process.exit(code || 1);
  }, 10_000).unref();
  stopping = (async () => {
    try {
      await pds?.destroy();
    } catch (e) {
      log("pds.destroy:", e?.message ?? e);
    }
    try {
      await plc?.destroy();
    } catch (e) {
      log("plc.destroy:", e?.message ?? e);
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true }).catch(() => {});
    process.exit(code);
  })();
  return stopping;
}

for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(sig, () => shutdown(sig));
}
process.on("uncaughtException", (err) => {
  log("uncaught exception:", err?.stack ?? err);
  shutdown("uncaught exception", 1);
});
process.on("unhandledRejection", (err) => {
  log("unhandled rejection:", err?.stack ?? err);
});

// Parent gone (it died without signalling us, e.g. SIGKILL): we get re-parented.
const originalPpid = process.ppid;
setInterval(() => {
  if (process.ppid !== originalPpid) shutdown("parent process exited");
}, 500).unref();

if (exitOnStdinClose) {
  process.stdin.on("end", () => shutdown("stdin closed"));
  process.stdin.on("close", () => shutdown("stdin closed"));
  process.stdin.on("error", () => shutdown("stdin error"));
  process.stdin.resume(); // (data is ignored)
}

// ---- handle resolution ---------------------------------------------------------------------

// `*.test` is not a real TLD: the PDS's resolver would ask DNS (and then https://<handle>/…) and
// fail. Make it ask this PDS's own /.well-known/atproto-did with the handle as the Host header,
// which is what an https well-known lookup would do for a real domain.
function resolveViaOwnWellKnown(handle) {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: PDS_PORT,
        path: "/.well-known/atproto-did",
        method: "GET",
        headers: { host: handle },
        timeout: 3000,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () => {
          const did = body.trim().split("\n")[0].trim();
          resolve(res.statusCode === 200 && did.startsWith("did:") ? did : undefined);
        });
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

function patchHandleResolution(pdsInstance, domains) {
  const handleResolver = pdsInstance.ctx.idResolver.handle;
  const original = handleResolver.resolve.bind(handleResolver);
  handleResolver.resolve = async (handle) => {
    const h = String(handle).toLowerCase();
    if (domains.some((d) => h.endsWith(d))) return resolveViaOwnWellKnown(h);
    return original(handle);
  };
}

// ---- start ---------------------------------------------------------------------------------

async function xrpcPost(nsid, body) {
  const res = await fetch(`${PDS_URL}/xrpc/${nsid}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${nsid} -> ${res.status} ${text}`);
  return JSON.parse(text);
}

async function main() {
  const accounts = wantedAccounts();

  dataDir = await mkdtemp(path.join(os.tmpdir(), "atproto-e2e-pds-"));

  plc = plcServer.PlcServer.create({ db: plcServer.Database.mock(), port: PLC_PORT });
  try {
    await plc.start();
  } catch (e) {
    plc = null;
    throw new Error(`PLC directory cannot listen on port ${PLC_PORT}: ${e?.message ?? e}`);
  }

  const handleDomains = [".test"];
  const env = {
    port: PDS_PORT,
    hostname: "localhost", // with devMode: issuer/resource http://localhost:<port>
    devMode: true,
    version: "0.0.0-e2e",
    dataDirectory: dataDir,
    blobstoreDiskLocation: path.join(dataDir, "blobs"),
    blobstoreDiskTmpLocation: path.join(dataDir, "blobs-tmp"),
    didPlcUrl: PLC_URL,
    inviteRequired: false,
    serviceHandleDomains: handleDomains,
    disableSsrfProtection: true,
    rateLimitsEnabled: false,
    crawlers: [],
    jwtSecret: randomBytes(32).toString("hex"),
    dpopSecret: randomBytes(32).toString("hex"),
    adminPassword: randomBytes(16).toString("hex"),
    plcRotationKeyK256PrivateKeyHex: randomBytes(32).toString("hex"),
  };
  const cfg = envToCfg(env);
  const secrets = envToSecrets(env);

  pds = await PDS.create(cfg, secrets);
  patchHandleResolution(pds, handleDomains);
  try {
    await pds.start();
  } catch (e) {
    throw new Error(`PDS cannot listen on port ${PDS_PORT}: ${e?.message ?? e}`);
  }

  const created = [];
  for (const a of accounts) {
    const out = await xrpcPost("com.atproto.server.createAccount", {
      handle: a.handle,
      password: a.password,
      email: a.email,
    });
    created.push({ handle: out.handle, did: out.did, password: a.password, email: a.email });
  }

  // Self-check of the handle-resolution patch (the PDS itself resolves handles this way).
  if (created.length > 0) {
    const got = await pds.ctx.idResolver.handle.resolve(created[0].handle);
    if (got !== created[0].did) {
      throw new Error(`handle resolution self-check: ${created[0].handle} -> ${got}, want ${created[0].did}`);
    }
  }

  if (stopping) return;
  process.stdout.write(JSON.stringify({ ready: true, pds: PDS_URL, plc: PLC_URL, accounts: created }) + "\n");
  log(`ready: PDS ${PDS_URL}, PLC ${PLC_URL}, data in ${dataDir}`);
}

main().catch((err) => {
  log("failed to start:", err?.stack ?? err);
  shutdown("start-up failure", 1);
});
