// Sessions against the real local PDS, through the public API only, in each browser
// (scripts/browsers/index.mjs): records and paging, generic XRPC (including a binary upload), restore after
// reload, the steady-state request count, forced refresh, two tabs and two frames refreshing at
// once, and sign-out (heard by the other tab; revocation checked where requests can be caught).
// One page (and its storage) per browser, signed in as alice before the first test.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";

import { browsers } from "../../scripts/browsers/index.mjs";
import { call, callErr, openTestPage, signInOnTestPage, startSignedIn } from "./site.mjs";

const COLLECTION = "com.example.e2e.item";
const CONCURRENT_TABS =
  "needs scripts running in two tabs at the same moment (one WebDriver session runs one at a time)";
const INTERCEPTION = "needs Playwright's network interception";

/** A service with a did:web on localhost that the PDS can resolve and forward proxied calls to:
 *  answers every XRPC call with its path and remembers the Authorization header it got. */
async function startEchoService() {
  const calls = [];
  const server = http.createServer((req, res) => {
    const port = server.address().port;
    const did = `did:web:localhost%3A${port}`;
    res.setHeader("content-type", "application/json");
    if (req.url === "/.well-known/did.json") {
      const endpoint = `http://localhost:${port}`;
      const service = [{ id: "#e2e_echo", type: "E2eEcho", serviceEndpoint: endpoint }];
      return res.end(JSON.stringify({ "@context": ["https://www.w3.org/ns/did/v1"], id: did, service }));
    }
    calls.push(req.headers.authorization ?? "");
    res.end(JSON.stringify({ echo: req.url }));
  });
  await new Promise((resolve) => server.listen(0, resolve));
  const did = `did:web:localhost%3A${server.address().port}`;
  return { did, calls, close: () => server.close() };
}

const isTokenRequest = (r) => r.url.endsWith("/oauth/token");
const isRefresh = (r) =>
  r.method === "POST" && r.url.endsWith("/oauth/token") && r.body.includes("grant_type=refresh_token");

for (const name of browsers()) {
  describe(name, () => {
    let pds, site, stack, page, did;

    before(async () => {
      ({ pds, site, page } = stack = await startSignedIn(name));
      did = pds.accounts[0].did;
    });

    after(() => stack?.stop());

    const open = (p) => openTestPage(p, site);

    const signIn = (p, account) => signInOnTestPage(p, site, account);

    /** Requests to the PDS/authorization server while `fn` runs. */
    const requestsDuring = (p, fn, opts) => p.requestsDuring(fn, { prefix: pds.pds, ...opts });

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
      assert.deepEqual(
        forward.records.map((r) => r.uri),
        backward.records.map((r) => r.uri).reverse(),
      );
    });

    test("generic XRPC: get, put, delete, binary upload, and typed XRPC errors", async () => {
      const rkey = "e2e-put";
      const put = await call(page, "xrpc", did, {
        nsid: "com.atproto.repo.putRecord",
        body: { repo: did, collection: COLLECTION, rkey, record: { $type: COLLECTION, v: 1 } },
      });
      assert.equal(put.status, 200);
      const got = await call(page, "xrpc", did, {
        nsid: "com.atproto.repo.getRecord",
        params: { repo: did, collection: COLLECTION, rkey },
      });
      assert.equal(got.data.value.v, 1);
      assert.match(got.headers["content-type"], /json/);
      await call(page, "xrpc", did, {
        nsid: "com.atproto.repo.deleteRecord",
        body: { repo: did, collection: COLLECTION, rkey },
      });
      const missing = await callErr(page, "xrpc", did, {
        nsid: "com.atproto.repo.getRecord",
        params: { repo: did, collection: COLLECTION, rkey },
      });
      assert.equal(missing.code, "xrpc_error");
      assert.equal(missing.serverError, "RecordNotFound");

      const blob = await page.evaluate(async (did) => {
        const bytes = new Uint8Array(256).map((_, i) => i);
        const r = await window.call("xrpc", did, {
          nsid: "com.atproto.repo.uploadBlob",
          body: bytes,
          encoding: "application/octet-stream",
        });
        return r.ok ? r.value.data.blob : r;
      }, did);
      assert.equal(blob.size, 256, JSON.stringify(blob));
      assert.equal(blob.$type, "blob");
    });

    test("the session object: fetchHandler as SDKs call it, every body type, error answers, proxy", async () => {
      const service = await startEchoService();
      const out = await page
        .evaluate(
          async ([did, collection, service]) => {
            const session = await window.client.restore(did);
            const fetchHandler = session.fetchHandler; // SDKs call it without `this`
            const results = { did: session.did, handle: session.handle };
            const json = async (res) => [res.status, await res.json()];
            const [created, record] = await json(
              await fetchHandler("/xrpc/com.atproto.repo.createRecord", {
                method: "POST",
                headers: [["content-type", "application/json"]],
                body: JSON.stringify({ repo: did, collection, record: { $type: collection, via: "fetchHandler" } }),
              }),
            );
            results.created = [created, typeof record.uri];
            const q = `repo=${encodeURIComponent(did)}&collection=${collection}`;
            const [listed, page] = await json(
              await fetchHandler(`/xrpc/com.atproto.repo.listRecords?${q}&limit=100`, {
                headers: new Headers({ accept: "application/json" }),
              }),
            );
            results.listed = [listed, page.records.some((r) => r.uri === record.uri)];
            // An error answer is a Response, not a rejection.
            const [missing, error] = await json(
              await fetchHandler(`/xrpc/com.atproto.repo.getRecord?${q}&rkey=no-such-record`),
            );
            results.missing = [missing, error.error];
            const bytes = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10, 1, 2, 3]);
            const bodies = {
              uint8array: bytes,
              arraybuffer: bytes.slice().buffer,
              blob: new Blob([bytes], { type: "image/png" }), // its type is the content type
              stream: new Blob([bytes]).stream(),
            };
            for (const [kind, body] of Object.entries(bodies)) {
              const headers = kind === "blob" ? {} : { "content-type": "image/png" };
              const [status, data] = await json(
                await fetchHandler("/xrpc/com.atproto.repo.uploadBlob", {
                  method: "POST",
                  headers,
                  body,
                  duplex: "half",
                }),
              );
              results[kind] = [status, data.blob?.size, data.blob?.mimeType];
            }
            // Leaving the PDS is refused before anything is sent.
            results.offsite = await fetchHandler("//evil.example/xrpc/x").then(
              () => "resolved",
              (e) => e.code,
            );
            // The proxy header reaches the PDS, which forwards the call to the service it names.
            const call = "/xrpc/com.example.e2e.echo?x=1";
            const proxied = await window.client.restore(did, { proxy: service });
            const viaDefault = await proxied.fetchHandler(call);
            results.viaDefault = [viaDefault.status, await viaDefault.text()];
            const perCall = await fetchHandler(call, { headers: { "atproto-proxy": service } });
            results.perCall = [perCall.status, await perCall.text()];
            return results;
          },
          [did, COLLECTION, service.did + "#e2e_echo"],
        )
        .finally(() => service.close());
      assert.equal(out.did, did);
      assert.deepEqual(out.created, [200, "string"]);
      assert.deepEqual(out.listed, [200, true]);
      assert.deepEqual(out.missing, [400, "RecordNotFound"]);
      for (const kind of ["uint8array", "arraybuffer", "blob", "stream"]) {
        assert.deepEqual(out[kind], [200, 11, "image/png"], kind);
      }
      assert.equal(out.offsite, "invalid_input");
      // The service saw both calls, forwarded by the PDS with a service token for this user.
      for (const key of ["viaDefault", "perCall"]) {
        assert.equal(out[key][0], 200, `${key}: ${out[key][1]}`);
        assert.deepEqual(JSON.parse(out[key][1]), { echo: "/xrpc/com.example.e2e.echo?x=1" });
      }
      assert.equal(service.calls.length, 2);
      for (const auth of service.calls) {
        const claims = JSON.parse(Buffer.from(auth.split(".")[1], "base64url"));
        assert.equal(claims.iss, did);
        assert.equal(claims.lxm, "com.example.e2e.echo");
        assert.match(claims.aud, /^did:web:localhost%3A\d+/);
      }
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
      await page.waitFor(() => window.ready === true, undefined, { what: "the reloaded page" });
      let listed, restored, lastActive;
      const quiet = await requestsDuring(page, async () => {
        listed = await call(page, "listSessions");
        // No DID: the last active account (the one signed in on this origin).
        lastActive = await call(page, "restore");
        restored = await call(page, "restore", did);
      });
      assert.deepEqual(quiet, [], "restore makes no request");
      assert.ok(listed.some((s) => s.did === did));
      assert.equal(restored.did, did);
      assert.equal(lastActive?.did, did);
      assert.equal(lastActive.fetchHandler, "function");
      // The persisted nonce makes even the first call after a reload a single request.
      const seen = await requestsDuring(page, () => call(page, "fetchRecords", did, COLLECTION, { limit: 1 }));
      assert.equal(seen.length, 1);
    });

    test("fetchHandler honours init.signal as fetch does: an aborted call rejects with the signal's reason, and one aborted before it starts sends nothing", async () => {
      const run = () =>
        page.evaluate(
          async ([did, collection]) => {
            const { fetchHandler } = await window.client.restore(did);
            const url = `/xrpc/com.atproto.repo.listRecords?repo=${encodeURIComponent(did)}&collection=${collection}`;
            const settle = (p) =>
              p.then(
                (r) => `resolved ${r.status}`,
                (e) => `${e.name}: ${e.message}`,
              );
            const before = new AbortController();
            before.abort();
            const early = await settle(fetchHandler(url, { signal: before.signal }));
            const own = new AbortController();
            own.abort(new RangeError("mine"));
            const reason = await settle(fetchHandler(url, { signal: own.signal }));
            return { early, reason };
          },
          [did, COLLECTION],
        );
      let out;
      const seen = await requestsDuring(page, async () => (out = await run()));
      assert.match(out.early, /^AbortError/, JSON.stringify(out));
      assert.equal(out.reason, "RangeError: mine");
      assert.equal(seen.length, 0, "nothing sent");
      // Aborted after the call started but before it could send (it reads the body, looks the
      // session up): the call itself stops, and nothing is sent, not even later. A write, so
      // that a request sent after the abort would show as a record too.
      let late;
      const lateSeen = await requestsDuring(page, async () => {
        late = await page.evaluate(
          async ([did, collection]) => {
            const { fetchHandler } = await window.client.restore(did);
            const during = new AbortController();
            const call = fetchHandler("/xrpc/com.atproto.repo.createRecord", {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({
                repo: did,
                collection,
                record: { $type: collection, text: "aborted", createdAt: new Date().toISOString() },
              }),
              signal: during.signal,
            });
            during.abort();
            const aborted = await call.then(
              (r) => `resolved ${r.status}`,
              (e) => e.name,
            );
            await new Promise((r) => setTimeout(r, 500)); // a late send would have left by now
            return { aborted };
          },
          [did, COLLECTION],
        );
      });
      assert.deepEqual(late, { aborted: "AbortError" });
      assert.equal(lateSeen.length, 0, `sent after the abort: ${JSON.stringify(lateSeen)}`);
      const rest = await page.evaluate(
        async ([did, collection]) => {
          const { fetchHandler } = await window.client.restore(did);
          const url = `/xrpc/com.atproto.repo.listRecords?repo=${encodeURIComponent(did)}&collection=${collection}`;
          // A signal that never aborts changes nothing.
          const response = await fetchHandler(url, { signal: new AbortController().signal });
          const texts = (await response.json()).records.map((r) => r.value.text);
          // `init.signal` is read once: a getter that answers an aborted signal the second time
          // does not stop a call whose promise followed the first.
          let reads = 0;
          const once = await fetchHandler(url, {
            get signal() {
              reads += 1;
              return reads === 1 ? new AbortController().signal : AbortSignal.abort();
            },
          }).then(
            (r) => r.status,
            (e) => e.code ?? String(e),
          );
          // What is not an AbortSignal is refused with a code, as a rejection (fetch rejects
          // with a TypeError), never a synchronous throw.
          const refused = async (init) => {
            try {
              return await fetchHandler(url, init).then(
                (r) => `resolved ${r.status}`,
                (e) => e.code ?? `no code: ${e}`,
              );
            } catch (e) {
              return `thrown: ${e}`;
            }
          };
          const bad = [
            await refused({
              get signal() {
                throw new Error("no signal");
              },
            }),
            await refused({ signal: { aborted: false, reason: 1, addEventListener() {}, removeEventListener() {} } }),
            await refused({ signal: { aborted: true, reason: 1, addEventListener() {} } }),
            await refused({ signal: 7 }),
            // A body over 256 MiB, refused before it is copied into Wasm memory (where a failed
            // allocation is a trap).
            await refused({ method: "POST", body: new Uint8Array(2 ** 28 + 1) }),
            // Headers longer than 2 Mi characters, for the same reason (a string is copied too).
            await refused({ headers: { "x-long": "a".repeat(2 ** 21) } }),
          ];
          return { ok: response.status, aborted: texts.includes("aborted"), bad, once, reads };
        },
        [did, COLLECTION],
      );
      assert.deepEqual(rest, { ok: 200, aborted: false, bad: Array(6).fill("invalid_input"), once: 200, reads: 1 });
    });

    test("a forced refresh rotates the tokens", async () => {
      const before = await call(page, "restore", did);
      const seen = await requestsDuring(page, () => call(page, "refresh", did));
      const token = seen.filter(isTokenRequest);
      assert.equal(token.length, 1, JSON.stringify(token));
      if (page.seesRequestDetails) {
        // A refresh_token grant, answered with new tokens.
        assert.equal(seen.filter(isRefresh).length, 1);
        assert.equal(token[0].status, 200);
      }
      const after = await call(page, "restore", did);
      assert.ok(after.expiresAt >= before.expiresAt);
      await call(page, "fetchRecords", did, COLLECTION, { limit: 1 });
    });

    test(
      "two tabs refreshing at the same moment make exactly one refresh request, every round",
      { skip: name !== "chromium" && CONCURRENT_TABS },
      async () => {
        const tabB = await open(await page.openTab());
        await call(tabB, "restore", did);
        await tabB.evaluate(() => {
          window.updates = [];
          window.client.onSessionEvent((e) => window.updates.push(e));
        });
        const rounds = 12;
        for (let round = 0; round < rounds; round++) {
          const at = Date.now() + 150;
          const seen = await requestsDuring(
            page,
            () =>
              Promise.all(
                [page, tabB].map((p) =>
                  p.evaluate(
                    async ([at, did]) => {
                      await new Promise((r) => setTimeout(r, at - Date.now()));
                      return window.call("refresh", did);
                    },
                    [at, did],
                  ),
                ),
              ).then((results) => {
                for (const r of results) assert.ok(r.ok, JSON.stringify(r));
              }),
            { allTabs: true },
          );
          assert.equal(
            seen.filter(isRefresh).length,
            1,
            `round ${round}: ${seen.filter(isRefresh).length} refresh requests`,
          );
          // Both tabs work with the rotated tokens.
          await call(page, "fetchRecords", did, COLLECTION, { limit: 1 });
          await call(tabB, "fetchRecords", did, COLLECTION, { limit: 1 });
        }
        const updates = await tabB.evaluate(() => window.updates);
        assert.ok(
          updates.some((e) => e.type === "updated" && e.remote === true),
          "the other tab hears about rotations",
        );
        assert.equal((await call(tabB, "listSessions")).length, 1);
        await tabB.close();
      },
    );

    test("two frames refreshing at the same moment make exactly one token request, every round", async () => {
      await open(page);
      // Two same-origin frames: two instances of the package sharing IndexedDB, Web Locks and
      // BroadcastChannel, as two tabs do, started in the same tick. Counted with Resource Timing.
      const rounds = await page.evaluate(
        async ([did, collection]) => {
          const frames = [0, 1].map(() => {
            const f = document.createElement("iframe");
            f.src = "/";
            document.body.append(f);
            return f.contentWindow;
          });
          const until = (cond) =>
            new Promise((resolve, reject) => {
              const t0 = Date.now();
              const poll = () =>
                cond()
                  ? resolve()
                  : Date.now() - t0 > 20000
                    ? reject(new Error("frames not ready"))
                    : setTimeout(poll, 50);
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
            const token = frames
              .flatMap((w) => w.performance.getEntriesByType("resource"))
              .filter((e) => e.name.endsWith("/oauth/token"));
            const calls = await Promise.all(frames.map((w) => w.call("fetchRecords", did, collection, { limit: 1 })));
            rounds.push({ failures: [...results, ...calls].filter((r) => !r.ok), tokenRequests: token.length });
          }
          return rounds;
        },
        [did, COLLECTION],
      );
      assert.ok(Array.isArray(rounds), JSON.stringify(rounds));
      rounds.forEach((r, i) => {
        assert.deepEqual(r.failures, [], `round ${i}`);
        assert.equal(r.tokenRequests, 1, `round ${i}: ${r.tokenRequests} token requests`);
      });
      await open(page); // drop the frames
    });

    test("sign-out deletes the session here and in the other tab, and revokes the tokens", async () => {
      const tabB = await open(await page.openTab());
      await call(tabB, "restore", did);
      await tabB.evaluate(() => {
        window.signOutEvents = [];
        window.client.onSessionEvent((e) => window.signOutEvents.push(e));
        window.unsubscribed = [];
        const off = window.client.onSessionEvent((e) => window.unsubscribed.push(e));
        off();
        off();
      });

      // Where requests can be caught (Playwright): capture two authenticated requests without
      // letting them reach the PDS, so each can be sent later exactly once (a DPoP proof is
      // single-use). getSession requires auth (listRecords would answer anyone).
      const pw = page.playwright;
      const captured = [];
      if (pw) {
        const pattern = `${pds.pds}/xrpc/com.atproto.server.getSession**`;
        await pw.page.route(pattern, async (route) => {
          captured.push({ url: route.request().url(), headers: await route.request().allHeaders() });
          await route.abort();
        });
        for (let i = 0; i < 2; i++) {
          const r = await callErr(page, "xrpc", did, { nsid: "com.atproto.server.getSession" });
          assert.equal(r.code, "network_error");
        }
        await pw.page.unroute(pattern);
        assert.equal(captured.length, 2);
      }
      const replay = ({ url, headers }) =>
        fetch(url, { headers: { authorization: headers.authorization, dpop: headers.dpop } });

      if (pw) assert.equal((await replay(captured[0])).status, 200, "the captured token works before sign-out");
      // An SDK that still holds the session object (`new Agent(session)`).
      await page.evaluate(async (did) => (window.heldSession = await window.client.restore(did)), did);
      await call(page, "signOut", did);
      // Its next call: the session is gone, which `@atproto/xrpc`'s XRPCError.from reads as
      // `statusCode` 401 (AuthenticationRequired), as the official client's 401 answers.
      const held = await page.evaluate(() =>
        window.heldSession.fetchHandler("/xrpc/com.atproto.server.getSession").then(
          () => "resolved",
          (e) => ({ name: e.name, code: e.code, statusCode: e.statusCode }),
        ),
      );
      assert.deepEqual(held, { name: "OAuthError", code: "session_not_found", statusCode: 401 });
      if (pw) assert.equal((await replay(captured[1])).status, 401, "the access token is revoked");

      assert.deepEqual(await call(page, "listSessions"), []);
      assert.equal((await callErr(page, "fetchRecords", did, COLLECTION)).code, "session_not_found");
      assert.equal(await call(page, "restore"), null, "nobody is the last active account now");
      // The other tab hears it over BroadcastChannel, asynchronously: wait for it, up to 5 s.
      await tabB
        .waitFor(
          (did) => window.signOutEvents.some((e) => e.type === "deleted" && e.did === did && e.remote === true),
          did,
          { timeout: 5000, what: "the deleted event in the other tab" },
        )
        .catch(async (err) => {
          assert.fail(`${err.message}: ${JSON.stringify(await tabB.evaluate(() => window.signOutEvents))}`);
        });
      assert.deepEqual(await tabB.evaluate(() => window.unsubscribed), [], "an unsubscribed listener hears nothing");
      assert.equal((await callErr(tabB, "fetchRecords", did, COLLECTION)).code, "session_not_found");
      await tabB.close();
    });

    test(
      "sign-out deletes locally even when the server is unreachable",
      { skip: name !== "chromium" && INTERCEPTION },
      async () => {
        const { page: pw } = page.playwright;
        const session = await signIn(page, pds.accounts[1]);
        await pw.route(`${pds.pds}/oauth/revoke`, (route) => route.abort());
        await call(page, "signOut", session.did);
        assert.deepEqual(await call(page, "listSessions"), []);
        await pw.unroute(`${pds.pds}/oauth/revoke`);
      },
    );
  });
}
