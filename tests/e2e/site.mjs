// Serves the e2e test page on http://127.0.0.1:8080 (the loopback redirect URI's origin):
// /pkg/* from the built package, /config.json with the local PDS's URLs, and the page itself
// for every other path (so /callback is the page too). `startStack(browserName)` starts what a
// page suite needs around it: the PDS, this page, and the browser.
import { authorizeOnPds } from "../../scripts/browsers/authorize.mjs";
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
export async function startStack(browserName, { intercept = false } = {}) {
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
    stack.browser = await launch(browserName, { intercept });
    return stack;
  } catch (e) {
    await stack.stop().catch(() => {});
    throw e;
  }
}

/** Calls a client method in the test page; throws with the error's code if it rejects. */
export async function call(p, method, ...args) {
  const r = await p.evaluate(([m, a]) => window.call(m, ...a), [method, args]);
  if (!r.ok) throw Object.assign(new Error(`${method}: ${r.code}: ${r.message}`), r);
  return r.value;
}

/** Calls a client method in the test page that must fail; returns `{ ok: false, code, … }`. */
export async function callErr(p, method, ...args) {
  const r = await p.evaluate(([m, a]) => window.call(m, ...a), [method, args]);
  if (r.ok) throw new Error(`${method} was expected to fail, and returned ${JSON.stringify(r.value)}`);
  return r;
}

/** The test page of `site`, ready, in `p`. */
export async function openTestPage(p, site) {
  await p.goto(`${site.url}/`);
  await p.waitFor(() => window.ready === true, undefined, { what: "the test page" });
  return p;
}

/** Signs `account` in from `p` (on the test page of `site`) through the PDS's own pages;
 *  returns the session. */
export async function signInOnTestPage(p, site, account) {
  const start = await call(p, "startLogin", account.handle);
  await p.goto(start.url);
  await authorizeOnPds(p, { password: account.password });
  await p.waitForUrl((u) => u.href.startsWith(`${site.url}/callback`));
  await p.waitFor(() => window.ready === true, undefined, { what: "the callback page" });
  return (await call(p, "handleCallback")).session;
}

/** `startStack`, plus `page`: the test page, signed in as the first account. */
export async function startSignedIn(browserName, options) {
  const stack = await startStack(browserName, options);
  try {
    stack.page = await stack.browser.newPage();
    await openTestPage(stack.page, stack.site);
    await signInOnTestPage(stack.page, stack.site, stack.pds.accounts[0]);
  } catch (e) {
    await stack.stop();
    throw e;
  }
  return stack;
}
