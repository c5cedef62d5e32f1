// Sessions against the real local PDS, in headless Chromium, through the public API only:
// records and paging, generic XRPC (including a binary upload), restore after reload, the
// steady-state request count, forced refresh, two tabs refreshing at once, and sign-out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { startPds } from "../../scripts/pds.mjs";
import { launchChromium, authorizeOnPds } from "./browser.mjs";
import { serveTestPage } from "./site.mjs";

let pds, site, browser, context, page, did;
const COLLECTION = "com.example.e2e.item";

before(async () => {
  pds = await startPds();
  site = await serveTestPage({ pds: pds.pds, plc: pds.plc });
  browser = await launchChromium();
  context = await browser.newContext();
  page = await openPage();
  const account = pds.accounts[0];
  did = account.did;
  const start = await call(page, "startLogin", account.handle);
  await page.goto(start.url);
  await authorizeOnPds(page, { password: account.password });
  await page.waitForURL((u) => u.href.startsWith(`${site.url}/callback`));
  await page.waitForFunction(() => window.ready === true);
  await call(page, "handleCallback");
});

after(async () => {
  await browser?.close();
  await site?.close();
  await pds?.stop();
});

async function openPage() {
  const p = await context.newPage();
  await p.goto(`${site.url}/`);
  await p.waitForFunction(() => window.ready === true);
  return p;
}

/** Calls a client method in the page; throws with the error's code if it rejects. */
async function call(p, method, ...args) {
  const r = await p.evaluate(([m, a]) => window.call(m, ...a), [method, args]);
  if (!r.ok) throw Object.assign(new Error(`${method}: ${r.code}: ${r.message}`), r);
  return r.value;
}

async function callErr(p, method, ...args) {
  const r = await p.evaluate(([m, a]) => window.call(m, ...a), [method, args]);
  assert.equal(r.ok, false, `${method} was expected to fail`);
  return r;
}

/** Records requests to the PDS/authorization server while `fn` runs. */
async function requestsDuring(target, fn) {
  const seen = [];
  const listener = (req) => {
    if (req.url().startsWith(pds.pds)) seen.push({ method: req.method(), url: req.url(), body: req.postData() ?? "" });
  };
  target.on("request", listener);
  try {
    await fn();
    // Let request events that were already sent reach us.
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    target.off("request", listener);
  }
  return seen;
}

const isRefresh = (r) => r.method === "POST" && r.url.endsWith("/oauth/token") && r.body.includes("grant_type=refresh_token");

test("records are created and listed page by page", async () => {
  const uris = [];
  for (let i = 0; i < 7; i++) {
    const res = await call(page, "xrpc", did, {
      nsid: "com.atproto.repo.createRecord",
      body: { repo: did, collection: COLLECTION, record: { $type: COLLECTION, n: i } },
    });
    assert.equal(res.status, 200);
    uris.push(res.data.uri);
  }
  const seen = [];
  let cursor;
  for (let pageNo = 0; pageNo < 10; pageNo++) {
    const p = await call(page, "fetchRecords", did, COLLECTION, { limit: 3, cursor });
    assert.ok(p.records.length <= 3);
    seen.push(...p.records.map((r) => r.uri));
    cursor = p.cursor;
    if (!cursor || p.records.length === 0) break;
  }
  assert.deepEqual([...seen].sort(), [...uris].sort());
  const all = await call(page, "fetchAllRecords", did, COLLECTION, { limit: 2 });
  assert.deepEqual(all.map((r) => r.uri).sort(), [...uris].sort());
  const capped = await call(page, "fetchAllRecords", did, COLLECTION, { limit: 2, maxRecords: 3 });
  assert.equal(capped.length, 3);
  const forward = await call(page, "fetchRecords", did, COLLECTION, { limit: 7, reverse: true });
  const backward = await call(page, "fetchRecords", did, COLLECTION, { limit: 7 });
  assert.deepEqual(forward.records.map((r) => r.uri), backward.records.map((r) => r.uri).reverse());
});

test("generic XRPC: get, put, delete, binary upload, and typed XRPC errors", async () => {
  const rkey = "e2e-put";
  const put = await call(page, "xrpc", did, {
    nsid: "com.atproto.repo.putRecord",
    body: { repo: did, collection: COLLECTION, rkey, record: { $type: COLLECTION, v: 1 } },
  });
  assert.equal(put.status, 200);
  const got = await call(page, "xrpc", did, { nsid: "com.atproto.repo.getRecord", params: { repo: did, collection: COLLECTION, rkey } });
  assert.equal(got.data.value.v, 1);
  assert.match(got.headers["content-type"], /json/);
  await call(page, "xrpc", did, { nsid: "com.atproto.repo.deleteRecord", body: { repo: did, collection: COLLECTION, rkey } });
  const missing = await callErr(page, "xrpc", did, { nsid: "com.atproto.repo.getRecord", params: { repo: did, collection: COLLECTION, rkey } });
  assert.equal(missing.code, "xrpc_error");
  assert.equal(missing.serverError, "RecordNotFound");

  const blob = await page.evaluate(async (did) => {
    const bytes = new Uint8Array(256).map((_, i) => i);
    const r = await window.call("xrpc", did, { nsid: "com.atproto.repo.uploadBlob", body: bytes, encoding: "application/octet-stream" });
    return r.ok ? r.value.data.blob : r;
  }, did);
  assert.equal(blob.size, 256, JSON.stringify(blob));
  assert.equal(blob.$type, "blob");
});

test("steady state: one HTTP request per authenticated call", async () => {
  await call(page, "fetchRecords", did, COLLECTION, { limit: 1 }); // warm: nonce known
  const seen = await requestsDuring(page, async () => {
    for (let i = 0; i < 5; i++) await call(page, "fetchRecords", did, COLLECTION, { limit: 1 });
  });
  assert.equal(seen.length, 5, JSON.stringify(seen.map((r) => r.url)));
});

test("a reload restores the session without network and calls again", async () => {
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  let listed;
  const quiet = await requestsDuring(page, async () => {
    listed = await call(page, "listSessions");
    await call(page, "restore", did);
  });
  assert.deepEqual(quiet, [], "restore makes no request");
  assert.ok(listed.some((s) => s.did === did));
  // The persisted nonce makes even the first call after a reload a single request.
  const seen = await requestsDuring(page, () => call(page, "fetchRecords", did, COLLECTION, { limit: 1 }));
  assert.equal(seen.length, 1);
});

test("a forced refresh rotates the tokens", async () => {
  const tokens = [];
  const onResponse = async (resp) => {
    if (resp.url().endsWith("/oauth/token") && resp.status() === 200) tokens.push(await resp.json());
  };
  page.on("response", onResponse);
  const before = await call(page, "restore", did);
  const seen = await requestsDuring(page, () => call(page, "refresh", did));
  page.off("response", onResponse);
  assert.equal(seen.filter(isRefresh).length, 1);
  assert.equal(tokens.length, 1);
  const after = await call(page, "restore", did);
  assert.ok(after.expiresAt >= before.expiresAt);
  await call(page, "fetchRecords", did, COLLECTION, { limit: 1 });
});

test("two tabs refreshing at the same moment make exactly one refresh request, every round", async () => {
  const tabB = await openPage();
  await call(tabB, "restore", did);
  const updates = [];
  await tabB.exposeFunction("recordEvent", (e) => updates.push(e));
  await tabB.evaluate(() => window.client.onSessionEvent((e) => window.recordEvent(e)));
  const rounds = 12;
  for (let round = 0; round < rounds; round++) {
    const at = Date.now() + 150;
    const seen = await requestsDuring(context, () =>
      Promise.all(
        [page, tabB].map((p) =>
          p.evaluate(async ([at, did]) => {
            await new Promise((r) => setTimeout(r, at - Date.now()));
            return window.call("refresh", did);
          }, [at, did]),
        ),
      ).then((results) => {
        for (const r of results) assert.ok(r.ok, JSON.stringify(r));
      }),
    );
    assert.equal(seen.filter(isRefresh).length, 1, `round ${round}: ${seen.filter(isRefresh).length} refresh requests`);
    // Both tabs work with the rotated tokens.
    await call(page, "fetchRecords", did, COLLECTION, { limit: 1 });
    await call(tabB, "fetchRecords", did, COLLECTION, { limit: 1 });
  }
  assert.ok(updates.some((e) => e.type === "updated" && e.remote === true), "the other tab hears about rotations");
  assert.equal((await call(tabB, "listSessions")).length, 1);
  await tabB.close();
});

test("sign-out revokes: the old access token fails at the PDS", async () => {
  const tabB = await openPage();
  await call(tabB, "restore", did);
  const events = [];
  await tabB.exposeFunction("recordSignOut", (e) => events.push(e));
  await tabB.evaluate(() => {
    window.client.onSessionEvent((e) => window.recordSignOut(e));
    window.unsubscribed = [];
    const off = window.client.onSessionEvent((e) => window.unsubscribed.push(e));
    off();
    off();
  });

  // Capture two authenticated requests without letting them reach the PDS, so each can be sent
  // later exactly once (a DPoP proof is single-use). getSession requires auth (listRecords
  // would answer anyone).
  const captured = [];
  const pattern = `${pds.pds}/xrpc/com.atproto.server.getSession**`;
  await page.route(pattern, async (route) => {
    captured.push({ url: route.request().url(), headers: await route.request().allHeaders() });
    await route.abort();
  });
  for (let i = 0; i < 2; i++) {
    const r = await callErr(page, "xrpc", did, { nsid: "com.atproto.server.getSession" });
    assert.equal(r.code, "network_error");
  }
  await page.unroute(pattern);
  assert.equal(captured.length, 2);
  const replay = ({ url, headers }) =>
    fetch(url, { headers: { authorization: headers.authorization, dpop: headers.dpop } });

  assert.equal((await replay(captured[0])).status, 200, "the captured token works before sign-out");
  await call(page, "signOut", did);
  const afterSignOut = await replay(captured[1]);
  assert.equal(afterSignOut.status, 401, "the access token is revoked");

  assert.deepEqual(await call(page, "listSessions"), []);
  assert.equal((await callErr(page, "fetchRecords", did, COLLECTION)).code, "session_not_found");
  // The other tab hears it over BroadcastChannel, asynchronously: wait for it, up to 5 s.
  const heard = () => events.some((e) => e.type === "deleted" && e.did === did && e.remote === true);
  for (let waited = 0; !heard() && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
  assert.ok(heard(), JSON.stringify(events));
  assert.deepEqual(await tabB.evaluate(() => window.unsubscribed), [], "an unsubscribed listener hears nothing");
  assert.equal((await callErr(tabB, "fetchRecords", did, COLLECTION)).code, "session_not_found");
  await tabB.close();
});

test("sign-out deletes locally even when the server is unreachable", async () => {
  const account = pds.accounts[1];
  const start = await call(page, "startLogin", account.handle);
  await page.goto(start.url);
  await authorizeOnPds(page, { password: account.password });
  await page.waitForURL((u) => u.href.startsWith(`${site.url}/callback`));
  await page.waitForFunction(() => window.ready === true);
  const { session } = await call(page, "handleCallback");
  await page.route(`${pds.pds}/oauth/revoke`, (route) => route.abort());
  await call(page, "signOut", session.did);
  assert.deepEqual(await call(page, "listSessions"), []);
  await page.unroute(`${pds.pds}/oauth/revoke`);
});
