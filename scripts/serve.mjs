#!/usr/bin/env node
// scripts/serve.mjs — serves the demo page (no dependencies).
//
//   node scripts/serve.mjs [--host 127.0.0.1] [--port 8080] [--config FILE.json]
//
//   /pkg/ -> pkg/   (wasm-pack output: the module, its .wasm and .d.ts)
//   /     -> www/   (the demo page; unknown extension-less paths serve www/index.html)
//   /config.json    (when --config is given: that file's JSON, e.g. the local PDS's URLs)
// Env: HOST, PORT override the defaults.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createStaticServer } from "./static-server.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
let host = process.env.HOST || "127.0.0.1";
let port = Number(process.env.PORT || 8080);
let config = null;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--host") host = args[++i];
  else if (a === "--port") port = Number(args[++i]);
  else if (a === "--config") config = JSON.parse(fs.readFileSync(args[++i], "utf8"));
  else {
    console.error(`usage: node scripts/serve.mjs [--host H] [--port N] [--config FILE.json]`);
    process.exit(2);
  }
}

const { url, close } = await createStaticServer({
  host,
  port,
  mounts: [
    { prefix: "/pkg/", dir: path.join(ROOT, "pkg") },
    { prefix: "/", dir: path.join(ROOT, "www") },
  ],
  json: config ? { "/config.json": config } : {},
  fallback: path.join(ROOT, "www/index.html"),
});
console.log(`serve: ${url}/ (Ctrl-C to stop)`);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => close().then(() => process.exit(0)));
