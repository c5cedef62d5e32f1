#!/usr/bin/env node
// scripts/demo.mjs — what `npm start` runs after the build: serves www/ on http://127.0.0.1:8080.
//
//   DEMO_NETWORK=local (default)  starts the official PDS on loopback with two demo accounts
//                                 and serves the page configured for it (config.json).
//   DEMO_NETWORK=bsky             serves the same page for the real network, no local PDS.
// Env: HOST, PORT. Ctrl-C stops everything it started.
//
// Library (the end-to-end test of the demo page uses exactly this wiring):
//   import { startDemo } from "../../scripts/demo.mjs";
//   const { url, pds, config, stop } = await startDemo({ network: "local", host, port });
//   // url = "http://127.0.0.1:8080", pds = startPds()'s result (null for "bsky")
//   await stop();
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createStaticServer } from "./static-server.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const NETWORKS = Object.freeze(["local", "bsky"]);

/**
 * Starts the demo: for "local", the official PDS (scripts/pds.mjs) with the demo accounts, then
 * the static server for www/ (and pkg/ under /pkg/) with a generated /config.json.
 * @param {{network?: "local"|"bsky", host?: string, port?: number, log?: (line: string) => void,
 *          pdsOptions?: object}} [opts]
 * @returns {Promise<{url: string, pds: object|null, config: object|null, stop: () => Promise<void>}>}
 */
export async function startDemo({
  network = "local",
  host = "127.0.0.1",
  port = 8080,
  log = () => {},
  pdsOptions = {},
} = {}) {
  if (!NETWORKS.includes(network)) {
    const err = new Error(`DEMO_NETWORK must be "local" or "bsky", not ${JSON.stringify(network)}`);
    err.code = "BAD_NETWORK";
    throw err;
  }

  let pds = null;
  let config = null;
  if (network === "local") {
    const { startPds } = await import("./pds.mjs");
    log("demo: starting the local PDS (first run installs it: a few minutes)…");
    pds = await startPds(pdsOptions);
    config = {
      network: "local",
      pds: pds.pds,
      plc: pds.plc,
      accounts: pds.accounts.map(({ handle, password }) => ({ handle, password })),
    };
  }

  let site;
  try {
    site = await createStaticServer({
      host,
      port,
      mounts: [
        { prefix: "/pkg/", dir: path.join(ROOT, "pkg") },
        { prefix: "/", dir: path.join(ROOT, "www") },
      ],
      json: config ? { "/config.json": config } : {},
      fallback: path.join(ROOT, "www/index.html"),
    });
  } catch (err) {
    await pds?.stop();
    throw err;
  }

  let stopped = null;
  const stop = () =>
    (stopped ??= (async () => {
      await site.close();
      await pds?.stop();
    })());

  return { url: site.url, pds, config, stop };
}

// ---- CLI -------------------------------------------------------------------------------------

async function cli() {
  const network = process.env.DEMO_NETWORK || "local";
  const host = process.env.HOST || "127.0.0.1";
  const port = Number(process.env.PORT || 8080);

  let demo;
  try {
    demo = await startDemo({ network, host, port, log: (line) => console.log(line) });
  } catch (err) {
    console.error(`demo: ${err.message}`);
    process.exit(err.code === "BAD_NETWORK" ? 2 : 1);
  }

  const { url, pds } = demo;
  console.log("");
  console.log(`demo: open ${url}/`);
  if (pds) {
    console.log(`demo: local PDS ${pds.pds} (PLC ${pds.plc}); demo accounts:`);
    for (const a of pds.accounts) console.log(`        ${a.handle}  password: ${a.password}`);
  } else {
    console.log("demo: configured for the real network (sign in with any Bluesky handle).");
  }
  console.log("demo: Ctrl-C to stop");

  let stopping = false;
  async function shutdown() {
    if (stopping) return;
    stopping = true;
    await demo.stop();
    process.exit(0);
  }
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await cli();
}
