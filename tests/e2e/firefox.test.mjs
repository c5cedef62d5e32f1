// The login and session flow in headless Firefox (Debian's firefox-esr over geckodriver), against
// the official PDS on loopback, through the package's public API only (tests/e2e/page/index.html).
// Chromium runs the full suites (login, session, demo); this file shows the same package works in
// Firefox end to end: the PDS's real pages, the callback, calls, reload, refresh, other tabs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { startPds } from "../../scripts/pds.mjs";
import { serveTestPage } from "./site.mjs";
import { launchFirefoxWebDriver, authorizeOnPdsWebDriver } from "./webdriver.mjs";

const COLLECTION = "app.example.e2e.firefox";
let pds, site, ff;

before(async () => {
  pds = await startPds();
  site = await serveTestPage({ pds: pds.pds, plc: pds.plc });
  ff = await launchFirefoxWebDriver();
});

after(async () => {
  await ff?.quit();
  await site?.close();
  await pds?.stop();
});

const alice = () => pds.accounts[0];

async function openSite(path = "/") {
  await ff.navigate(`${site.url}${path}`);
  await ff.waitFor("return window.ready === true", { what: "the test page" });
}

/** A client method in the page: `{ ok, value }` or `{ ok: false, code, ... }`. */
const call = (method, ...args) => ff.execute("return window.call(...arguments)", [method, ...args]);

async function ok(method, ...args) {
  const r = await call(method, ...args);
  assert.ok(r.ok, `${method}: ${JSON.stringify(r)}`);
  return r.value;
}

/** Requests this page has made to the PDS since the last `clearRequests()` (Resource Timing). */
const requestsToPds = () =>
  ff.execute("return performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.startsWith(arguments[0]))", [pds.pds]);
const clearRequests = () =>
  ff.execute("performance.setResourceTimingBufferSize(10000); performance.clearResourceTimings()");

async function signIn({ deny = false, account = alice() } = {}) {
  await openSite();
  const start = await ok("startLogin", account.handle);
  await ff.navigate(start.url);
  await authorizeOnPdsWebDriver(ff, { password: account.password, deny });
  const back = await ff.waitForUrl((u) => u.href.startsWith(`${site.url}/callback`));
  await ff.waitFor("return window.ready === true", { what: "the callback page" });
  return back.href;
}

test("Firefox: handle → PDS sign-in and consent → callback → records written and listed", async () => {
  const callbackUrl = await signIn();
  assert.equal(new URL(callbackUrl).searchParams.get("iss"), pds.pds);
  const { session } = await ok("handleCallback");
  assert.equal(session.did, alice().did);
  assert.equal(session.handle, alice().handle);
  assert.equal(await ff.url(), `${site.url}/callback`, "the authorization response is removed from the address bar");

  const created = await ok("xrpc", session.did, {
    nsid: "com.atproto.repo.createRecord",
    body: { repo: session.did, collection: COLLECTION, record: { $type: COLLECTION, text: "from Firefox" } },
  });
  assert.equal(created.status, 200);
  const page = await ok("fetchRecords", session.did, COLLECTION, { limit: 10 });
  assert.ok(page.records.some((r) => r.uri === created.data.uri && r.value.text === "from Firefox"));

  const replay = await call("handleCallback", callbackUrl);
  assert.equal(replay.code, "invalid_state");
});

test("Firefox: a reload restores with no request; a forced refresh makes one token request", async () => {
  await openSite();
  await clearRequests();
  const restored = await ok("restore", alice().did);
  assert.equal(restored.did, alice().did);
  assert.deepEqual(await requestsToPds(), [], "restore makes no request");

  const before = restored.expiresAt;
  await clearRequests();
  const refreshed = await ok("refresh", alice().did);
  const tokenRequests = (await requestsToPds()).filter((u) => u.endsWith("/oauth/token"));
  assert.equal(tokenRequests.length, 1, JSON.stringify(tokenRequests));
  assert.ok(refreshed.expiresAt >= before);
  await ok("fetchRecords", alice().did, COLLECTION, { limit: 1 });
});

test("Firefox: two pages refreshing at the same moment make exactly one token request, every round", async () => {
  await openSite();
  // Two same-origin frames: two instances of the package sharing IndexedDB, Web Locks and
  // BroadcastChannel, as two tabs do, started in the same tick.
  const rounds = await ff.execute(
    `return (async (did, collection) => {
     const frames = [0, 1].map(() => {
       const f = document.createElement("iframe");
       f.src = "/";
       document.body.append(f);
       return f.contentWindow;
     });
     const until = (cond) => new Promise((resolve, reject) => {
       const t0 = Date.now();
       const poll = () => cond() ? resolve() : Date.now() - t0 > 20000 ? reject(new Error("frames not ready")) : setTimeout(poll, 50);
       poll();
     });
     await until(() => frames.every((w) => w.ready === true));
     for (const w of frames) {
       const r = await w.call("restore", did);
       if (!r.ok) return r;
       w.performance.setResourceTimingBufferSize(10000);
     }
     const rounds = [];
     for (let i = 0; i < 8; i++) {
       for (const w of frames) w.performance.clearResourceTimings();
       const results = await Promise.all(frames.map((w) => w.call("refresh", did)));
       const token = frames.flatMap((w) => w.performance.getEntriesByType("resource")).filter((e) => e.name.endsWith("/oauth/token"));
       const calls = await Promise.all(frames.map((w) => w.call("fetchRecords", did, collection, { limit: 1 })));
       rounds.push({ failures: [...results, ...calls].filter((r) => !r.ok), tokenRequests: token.length });
     }
     return rounds;
    })(...arguments);`,
    [alice().did, COLLECTION],
  );
  assert.ok(Array.isArray(rounds), JSON.stringify(rounds));
  rounds.forEach((r, i) => {
    assert.deepEqual(r.failures, [], `round ${i}`);
    assert.equal(r.tokenRequests, 1, `round ${i}: ${r.tokenRequests} token requests`);
  });
});

test("Firefox: sign-out in one tab deletes the session in the other", async () => {
  const first = await ff.windowHandle();
  await ff.newTab();
  await openSite();
  await ok("restore", alice().did);
  await ff.switchTo(first);
  await openSite();
  await ok("signOut", alice().did);
  assert.deepEqual(await ok("listSessions"), []);

  const tabs = await ff.cmd("GET", "/window/handles");
  await ff.switchTo(tabs.find((h) => h !== first));
  await ff.waitFor("return window.events.some((e) => e.type === 'deleted' && e.did === arguments[0] && e.remote === true)", {
    args: [alice().did],
    what: "the deleted event in the other tab",
    timeout: 10_000,
  });
  const after = await call("fetchRecords", alice().did, COLLECTION);
  assert.equal(after.code, "session_not_found");
  await ff.closeTab();
  await ff.switchTo(first);
});

test("Firefox: Deny access on the consent page gives access_denied", async () => {
  await signIn({ deny: true });
  const r = await call("handleCallback");
  assert.equal(r.ok, false);
  assert.equal(r.code, "access_denied");
});
