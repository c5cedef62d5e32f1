// Serves the e2e test page on http://127.0.0.1:8080 (the loopback redirect URI's origin):
// /pkg/* from the built package, /config.json with the local PDS's URLs, and the page itself
// for every other path (so /callback is the page too).
import { createStaticServer } from "../../scripts/static-server.mjs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export async function serveTestPage(
  config,
  { host = "127.0.0.1", port = Number(process.env.E2E_SITE_PORT || 8080) } = {},
) {
  return createStaticServer({
    host,
    port,
    mounts: [
      { prefix: "/pkg/", dir: path.join(ROOT, "pkg") },
      { prefix: "/", dir: path.join(ROOT, "tests/e2e/page") },
    ],
    json: { "/config.json": config },
    fallback: path.join(ROOT, "tests/e2e/page/index.html"),
  });
}
