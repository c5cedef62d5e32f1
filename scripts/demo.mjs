#!/usr/bin/env node
// scripts/demo.mjs — what `npm start` runs after the build: serves www/ on http://127.0.0.1:8080.
//
//   DEMO_NETWORK=local (default)  starts the official PDS on loopback with two demo accounts
//                                 and serves the page configured for it (config.json).
//   DEMO_NETWORK=bsky             serves the same page for the real network, no local PDS.
// Env: HOST, PORT. Ctrl-C stops everything it started.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createStaticServer } from "./static-server.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const network = process.env.DEMO_NETWORK || "local";
const host = process.env.HOST || "127.0.0.1";
const port = Number(process.env.PORT || 8080);

let pds = null;
let config = null;
if (network === "local") {
  const { startPds } = await import("../tests/e2e/pds.mjs");
  console.log("demo: starting the local PDS (first run installs it: a few minutes)…");
  pds = await startPds();
  config = {
    network: "local",
    pds: pds.pds,
    plc: pds.plc,
    accounts: pds.accounts.map(({ handle, password }) => ({ handle, password })),
  };
} else if (network !== "bsky") {
  console.error(`demo: DEMO_NETWORK must be "local" or "bsky", not ${JSON.stringify(network)}`);
  process.exit(2);
}

const site = await createStaticServer({
  host,
  port,
  mounts: [
    { prefix: "/pkg/", dir: path.join(ROOT, "pkg") },
    { prefix: "/", dir: path.join(ROOT, "www") },
  ],
  json: config ? { "/config.json": config } : {},
  fallback: path.join(ROOT, "www/index.html"),
});

console.log("");
console.log(`demo: open ${site.url}/`);
if (pds) {
  console.log(`demo: local PDS ${pds.pds} (PLC ${pds.plc}); demo accounts:`);
  for (const a of pds.accounts) console.log(`        ${a.handle}  password: ${a.password}`);
} else {
  console.log("demo: configured for the real network (sign in with any Bluesky handle).");
}
console.log("demo: Ctrl-C to stop");

async function shutdown() {
  await site.close();
  await pds?.stop();
  process.exit(0);
}
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, shutdown);
