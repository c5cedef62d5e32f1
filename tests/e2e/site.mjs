// Serves the e2e test page on http://127.0.0.1:8080 (the loopback redirect URI's origin):
// /pkg/* from the built package, /config.json with the local PDS's URLs, and the page itself
// for every other path (so /callback is the page too). `startStack(browserName)` starts what a
// page suite needs around it: the PDS, this page, and the browser.
import { launch } from "../../scripts/browsers/index.mjs";
import { startPds } from "../../scripts/pds.mjs";
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

/**
 * The PDS, the test page served for it, and the named browser, for one suite; `stop()` ends
 * them (also after a start that failed half-way, whatever had started).
 * @returns {Promise<{pds: object, site: object, browser: object, stop: () => Promise<void>}>}
 */
export async function startStack(browserName) {
  const stack = {
    async stop() {
      await stack.browser?.close();
      await stack.site?.close();
      await stack.pds?.stop();
    },
  };
  try {
    stack.pds = await startPds();
    stack.site = await serveTestPage({ pds: stack.pds.pds, plc: stack.pds.plc });
    stack.browser = await launch(browserName);
    return stack;
  } catch (e) {
    await stack.stop().catch(() => {});
    throw e;
  }
}
