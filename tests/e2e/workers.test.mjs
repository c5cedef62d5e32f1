// The client in workers, against the real local PDS, in each browser: a dedicated module worker
// and a module service worker (page/worker.js, served by the test site) share the page's
// sessions, IndexedDB, Web Locks and BroadcastChannel. Signed in from the page through the PDS's
// pages; then the workers restore and call, a login started in one worker is finished in
// another, refreshes are seen both ways, page and worker refreshing at the same moment make one
// token request, and what needs a window fails with a typed error in a worker.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";

import { authorizeOnPds } from "../../scripts/browsers/authorize.mjs";
import { browsers } from "../../scripts/browsers/index.mjs";
import { call, startSignedIn } from "./site.mjs";

const KINDS = ["dedicated", "service"];

/** Calls a client method in the page's `kind` worker; returns `{ ok, value }` or `{ ok: false, code }`. */
const askWorker = (p, kind, method, ...args) =>
  p.evaluate(([k, m, a]) => window.inWorker(k, m, a), [kind, method, args]);

async function callWorker(p, kind, method, ...args) {
  const r = await askWorker(p, kind, method, ...args);
  if (!r.ok) throw Object.assign(new Error(`${kind} worker: ${method}: ${r.code}: ${r.message}`), r);
  return r.value;
}

/** Starts (or finds) both workers for the page in `p`: `window.inWorker(kind, method, args, at)`.
 *  The service worker's scope is a path no page uses, so it controls nothing: it is only a
 *  place where the package runs. */
function attachWorkers(p) {
  return p.evaluate(async () => {
    const ask = (target, message) =>
      new Promise((resolve) => {
        const { port1, port2 } = new MessageChannel();
        port1.onmessage = (e) => resolve(e.data);
        // A worker that never answers fails the test instead of hanging it.
        setTimeout(() => resolve({ ok: false, code: "no_answer", message: `no answer to ${message.method}` }), 30000);
        target.postMessage(message, [port2]);
      });
    const dedicated = new Worker("/worker.js", { type: "module" });
    let failed = null;
    dedicated.addEventListener("error", (e) => (failed = e.message || "error event"));
    const registration = await navigator.serviceWorker.register("/worker.js", { type: "module", scope: "/sw/" });
    const t0 = Date.now();
    while (registration.active?.state !== "activated") {
      if (Date.now() - t0 > 20000) throw new Error("the service worker did not activate");
      await new Promise((r) => setTimeout(r, 50));
    }
    const targets = { dedicated, service: registration.active };
    window.inWorker = (kind, method, args = [], at) =>
      failed ? { ok: false, code: "worker_error", message: failed } : ask(targets[kind], { method, args, at });
    return true;
  });
}

/** Token requests the `kind` worker sent since the last ask. */
const workerTokenRequests = async (p, kind) =>
  (await callWorker(p, kind, "requests")).filter((url) => url.endsWith("/oauth/token")).length;

/** Token requests this page's document sent since the last ask (Resource Timing). */
const pageTokenRequests = (p) =>
  p.evaluate(() => {
    const n = performance.getEntriesByType("resource").filter((e) => e.name.endsWith("/oauth/token")).length;
    performance.clearResourceTimings();
    return n;
  });

/** Waits for the next whole second: `expiresAt` is in seconds, so two refreshes in different
 *  seconds give different values, which shows which tokens a context holds. */
const nextSecond = () => new Promise((r) => setTimeout(r, 1100));

for (const name of browsers()) {
  describe(name, () => {
    let pds, site, stack, page, did;

    before(async () => {
      ({ pds, site, page } = stack = await startSignedIn(name));
      did = pds.accounts[0].did;
      await attachWorkers(page);
    });

    after(() => stack?.stop());

    for (const kind of KINDS) {
      test(`a ${kind} worker restores the page's session and makes authenticated calls`, async () => {
        assert.equal(await callWorker(page, kind, "kind"), kind);
        const listed = await callWorker(page, kind, "listSessions");
        assert.deepEqual(
          listed.map((s) => s.did),
          [did],
        );
        assert.equal((await callWorker(page, kind, "restore", did)).did, did);
        // getSession needs the access token and a DPoP proof (listRecords would answer anyone).
        const me = await callWorker(page, kind, "xrpc", did, { nsid: "com.atproto.server.getSession" });
        assert.equal(me.status, 200);
        assert.equal(me.data.did, did);
        const created = await callWorker(page, kind, "xrpc", did, {
          nsid: "com.atproto.repo.createRecord",
          body: { repo: did, collection: "com.example.e2e.item", record: { $type: "com.example.e2e.item", kind } },
        });
        assert.equal(created.status, 200);
        const listedRecords = await call(page, "fetchRecords", did, "com.example.e2e.item", { limit: 10 });
        assert.ok(listedRecords.records.some((r) => r.uri === created.data.uri));
      });

      test(`in a ${kind} worker, what needs a window fails with a typed error`, async () => {
        await callWorker(page, kind, "requests");
        const redirect = await askWorker(page, kind, "startLogin", pds.accounts[1].handle, { redirect: true });
        assert.equal(redirect.ok, false, "startLogin({ redirect: true }) cannot navigate from a worker");
        assert.equal(redirect.code, "unsupported", JSON.stringify(redirect));
        assert.deepEqual(await callWorker(page, kind, "requests"), [], "refused before any request");
        const callback = await askWorker(page, kind, "handleCallback");
        assert.equal(callback.ok, false);
        assert.equal(callback.code, "unsupported", JSON.stringify(callback));
        assert.deepEqual(await askWorker(page, kind, "isCallback"), { ok: true, value: false });
      });

      test(`a refresh in the ${kind} worker is seen by the page, and one in the page by the worker`, async () => {
        await call(page, "fetchRecords", did, "com.example.e2e.item", { limit: 1 }); // the page holds tokens
        await callWorker(page, kind, "fetchRecords", did, "com.example.e2e.item", { limit: 1 });
        await page.evaluate(() => (window.events.length = 0));
        await callWorker(page, kind, "events"); // drained
        await workerTokenRequests(page, kind);
        const before = await call(page, "restore", did);

        await nextSecond();
        const inWorker = await callWorker(page, kind, "refresh", did);
        assert.equal(await workerTokenRequests(page, kind), 1);
        assert.ok(inWorker.expiresAt > before.expiresAt);
        await page.waitFor(
          (did) => window.events.some((e) => e.type === "updated" && e.did === did && e.remote === true),
          did,
          { timeout: 5000, what: "the worker's updated event in the page" },
        );
        // The page dropped its copy: it now holds the worker's tokens, and uses them.
        assert.equal((await call(page, "restore", did)).expiresAt, inWorker.expiresAt);
        await pageTokenRequests(page);
        assert.equal((await call(page, "xrpc", did, { nsid: "com.atproto.server.getSession" })).status, 200);
        assert.equal(await pageTokenRequests(page), 0, "the page needed no refresh of its own");

        // And back: a refresh in the page (from the rotated refresh token: the PDS would refuse
        // the old one and end the session) is heard by the worker.
        await nextSecond();
        const inPage = await call(page, "refresh", did);
        assert.equal(await pageTokenRequests(page), 1);
        assert.ok(inPage.expiresAt > inWorker.expiresAt);
        const t0 = Date.now();
        const heard = [];
        while (!heard.some((e) => e.type === "updated" && e.did === did && e.remote === true)) {
          assert.ok(Date.now() - t0 < 5000, `the page's event in the worker: ${JSON.stringify(heard)}`);
          heard.push(...(await callWorker(page, kind, "events")));
        }
        assert.equal((await callWorker(page, kind, "restore", did)).expiresAt, inPage.expiresAt);
        const me = await callWorker(page, kind, "xrpc", did, { nsid: "com.atproto.server.getSession" });
        assert.equal(me.status, 200);
        assert.equal(await workerTokenRequests(page, kind), 0, "the worker needed no refresh of its own");
      });

      test(`the page and a ${kind} worker refreshing at the same moment make exactly one token request`, async (t) => {
        // Both learn the server's current DPoP nonce first (as every round ends), so that a stale
        // nonce's use_dpop_nonce retry is not counted as a second refresh.
        await call(page, "xrpc", did, { nsid: "com.atproto.server.getSession" });
        await callWorker(page, kind, "xrpc", did, { nsid: "com.atproto.server.getSession" });
        await pageTokenRequests(page);
        await workerTokenRequests(page, kind);
        // Timers in a busy browser (a service worker most of all) can fire later than the other
        // side's whole refresh; such a round is sequential, and a refresh asked for after another
        // one finished may rightly refresh again. So rounds run until six overlapped: each
        // began before the other ended.
        let overlapped = 0;
        for (let round = 0; overlapped < 6; round++) {
          assert.ok(round < 15, `only ${overlapped} of ${round} rounds started at the same moment`);
          // Both hold the same tokens before they start (each reads them now).
          await call(page, "restore", did);
          await callWorker(page, kind, "restore", did);
          const results = await page.evaluate(
            async ([kind, did]) => {
              const at = Date.now() + 150;
              const here = new Promise((r) => setTimeout(r, at - Date.now())).then(async () => {
                const t0 = Date.now();
                return { ...(await window.call("refresh", did)), t0, t1: Date.now() };
              });
              return Promise.all([here, window.inWorker(kind, "refresh", [did], at)]);
            },
            [kind, did],
          );
          for (const r of results) assert.ok(r.ok, `round ${round}: ${JSON.stringify(r)}`);
          const sent = (await pageTokenRequests(page)) + (await workerTokenRequests(page, kind));
          const [a, b] = results;
          const at = `round ${round}: page ${a.t0}–${a.t1}, worker ${b.t0}–${b.t1}: ${sent} token requests`;
          if (a.t0 < b.t1 && b.t0 < a.t1) {
            overlapped++;
            assert.equal(sent, 1, at);
            // Both work with the rotated tokens.
            assert.equal(a.value.expiresAt, b.value.expiresAt, at);
          } else {
            t.diagnostic(`sequential, not counted: ${at}`);
            assert.ok(sent === 1 || sent === 2, at);
          }
          await call(page, "xrpc", did, { nsid: "com.atproto.server.getSession" });
          await callWorker(page, kind, "xrpc", did, { nsid: "com.atproto.server.getSession" });
        }
      });
    }

    test("a login started in the service worker finishes in a dedicated worker; the page hears it", async () => {
      const bob = pds.accounts[1];
      const start = await callWorker(page, "service", "startLogin", bob.handle);
      await page.goto(start.url);
      await authorizeOnPds(page, { password: bob.password });
      const back = await page.waitForUrl((u) => u.href.startsWith(`${site.url}/callback`));
      await page.waitFor(() => window.ready === true, undefined, { what: "the callback page" });
      // The navigation ended the page's dedicated worker; a new one takes the URL as an argument.
      await attachWorkers(page);
      assert.equal(await call(page, "isCallback"), true);
      const done = await callWorker(page, "dedicated", "handleCallback", back.href);
      assert.equal(done.session.did, bob.did);
      await page.waitFor(
        (did) => window.events.some((e) => e.type === "updated" && e.did === did && e.remote === true),
        bob.did,
        { timeout: 5000, what: "the worker's new session heard in the page" },
      );
      assert.deepEqual((await call(page, "listSessions")).map((s) => s.did).sort(), [did, bob.did].sort());
      // Signed out from the service worker: the page hears that too.
      await callWorker(page, "service", "signOut", bob.did);
      await page.waitFor(
        (did) => window.events.some((e) => e.type === "deleted" && e.did === did && e.remote === true),
        bob.did,
        { timeout: 5000, what: "the service worker's sign-out heard in the page" },
      );
      assert.deepEqual(
        (await call(page, "listSessions")).map((s) => s.did),
        [did],
      );
    });
  });
}
