// Login end to end against the official PDS and its OAuth server on loopback, through the
// package's public API only (tests/e2e/page/index.html), in each browser (scripts/browsers/index.mjs):
// headless Chromium (Playwright) and headless Firefox (WebDriver). Every test starts in a page
// with storage of its own.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";

import { authorizeOnPds } from "../../scripts/browsers/authorize.mjs";
import { browsers } from "../../scripts/browsers/index.mjs";
import { startStack } from "./site.mjs";

for (const name of browsers()) {
  describe(name, () => {
    let pds, site, browser, stack;

    before(async () => ({ pds, site, browser } = stack = await startStack(name)));
    after(() => stack?.stop());

    const alice = () => pds.accounts[0];

    /** A page with storage of its own, on the test page, ready. */
    async function openPage() {
      const page = await browser.newPage();
      await page.goto(`${site.url}/`);
      await page.waitFor(() => window.ready === true, undefined, { what: "the test page" });
      return page;
    }

    /** startLogin in the page, then the PDS's own sign-in and consent pages; returns the callback URL. */
    async function authorize(page, { input, deny = false, account = alice(), options = {} } = {}) {
      const start = await page.evaluate(
        ([i, o]) => window.call("startLogin", i, o),
        [input ?? account.handle, options],
      );
      assert.ok(start.ok, `startLogin failed: ${JSON.stringify(start)}`);
      await page.goto(start.value.url);
      await authorizeOnPds(page, { password: account.password, deny });
      const back = await page.waitForUrl((u) => u.href.startsWith(`${site.url}/callback`), { timeout: 30_000 });
      await page.waitFor(() => window.ready === true, undefined, { what: "the callback page" });
      return back.href;
    }

    test("handle → PDS sign-in and consent → callback → authenticated call", async () => {
      const page = await openPage();
      const callbackUrl = await authorize(page, { options: { state: "return-to:/inbox" } });
      const cb = new URL(callbackUrl);
      assert.ok(cb.searchParams.get("code") && cb.searchParams.get("state"), callbackUrl);
      assert.equal(cb.searchParams.get("iss"), pds.pds);

      const result = await page.evaluate(() => window.call("handleCallback"));
      assert.ok(result.ok, JSON.stringify(result));
      assert.equal(result.value.session.did, alice().did);
      assert.equal(result.value.session.handle, alice().handle);
      assert.equal(result.value.session.pds, pds.pds);
      assert.equal(result.value.session.issuer, pds.pds);
      assert.match(result.value.session.scope, /\batproto\b/);
      assert.ok(result.value.session.expiresAt > Date.now() / 1000);
      assert.equal(result.value.state, "return-to:/inbox");
      // No secret-bearing value is exposed by the session object.
      assert.deepEqual(Object.keys(result.value.session).sort(), [
        "did",
        "expiresAt",
        "handle",
        "issuer",
        "pds",
        "scope",
        "scopes",
      ]);
      assert.deepEqual(result.value.session.scopes, result.value.session.scope.split(" "));

      // The callback parameters are gone from the address bar.
      assert.equal(await page.url(), `${site.url}/callback`);

      // The session works: write a record and read it back.
      const did = alice().did;
      const text = `hello from ${name}`;
      const created = await page.evaluate(
        ([did, text]) =>
          window.call("xrpc", did, {
            nsid: "com.atproto.repo.createRecord",
            body: {
              repo: did,
              collection: "app.example.e2e.note",
              record: { $type: "app.example.e2e.note", text, createdAt: new Date().toISOString() },
            },
          }),
        [did, text],
      );
      assert.ok(created.ok, JSON.stringify(created));
      assert.equal(created.value.status, 200);
      const listed = await page.evaluate(
        (did) => window.call("fetchRecords", did, "app.example.e2e.note", { limit: 10 }),
        did,
      );
      assert.ok(listed.ok, JSON.stringify(listed));
      assert.ok(listed.value.records.some((r) => r.uri === created.value.data.uri && r.value.text === text));

      // The same callback again is refused: state is single-use.
      const replay = await page.evaluate((u) => window.call("handleCallback", u), callbackUrl);
      assert.equal(replay.ok, false);
      assert.equal(replay.code, "invalid_state");
      assert.equal(replay.name, "OAuthError");
      assert.equal(replay.isError, true);
      await page.close();
    });

    test("a forged state is refused", async () => {
      const page = await openPage();
      const r = await page.evaluate(
        (iss) =>
          window.call(
            "handleCallback",
            `${location.origin}/callback?state=forged&code=abc&iss=${encodeURIComponent(iss)}`,
          ),
        pds.pds,
      );
      assert.equal(r.code, "invalid_state");
      await page.close();
    });

    test("an iss that is not the authorization server is refused", async () => {
      const page = await openPage();
      const callbackUrl = await authorize(page);
      const forged = new URL(callbackUrl);
      forged.searchParams.set("iss", "http://localhost:9999");
      const r = await page.evaluate((u) => window.call("handleCallback", u), forged.href);
      assert.equal(r.code, "issuer_mismatch");
      // The attempt is spent: the genuine response cannot be used after a forged one.
      const again = await page.evaluate((u) => window.call("handleCallback", u), callbackUrl);
      assert.equal(again.code, "invalid_state");
      await page.close();
    });

    test("Deny access on the consent page gives access_denied", async () => {
      const page = await openPage();
      await authorize(page, { deny: true });
      const r = await page.evaluate(() => window.call("handleCallback"));
      assert.equal(r.ok, false);
      assert.equal(r.code, "access_denied");
      assert.equal(r.serverError, "access_denied");
      await page.close();
    });

    test("malformed input is refused before any request", async () => {
      const page = await openPage();
      const requests = await page.requestsDuring(async () => {
        for (const [input, code] of [
          ["not a handle", "invalid_handle"],
          ["alice", "invalid_handle"],
          ["did:example:123", "unsupported_did_method"],
          ["did:plc:UPPER", "invalid_did"],
          ["ftp://example.com", "invalid_input"],
        ]) {
          const r = await page.evaluate((i) => window.call("startLogin", i), input);
          assert.equal(r.code, code, input);
        }
      });
      assert.deepEqual(
        requests.map((r) => r.url),
        [],
      );
      await page.close();
    });

    test("login from a DID and from the PDS URL", async () => {
      const page = await openPage();
      await authorize(page, { input: alice().did });
      let r = await page.evaluate(() => window.call("handleCallback"));
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.value.session.did, alice().did);

      await authorize(page, {
        input: pds.pds,
        account: pds.accounts[1],
        options: { loginHint: pds.accounts[1].handle },
      });
      r = await page.evaluate(() => window.call("handleCallback"));
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.value.session.did, pds.accounts[1].did);
      assert.equal(r.value.session.handle, pds.accounts[1].handle);
      const sessions = await page.evaluate(() => window.call("listSessions"));
      assert.deepEqual(sessions.value.map((s) => s.did).sort(), [alice().did, pds.accounts[1].did].sort());
      await page.close();
    });

    test("IndexedDB holds no raw key or token", async () => {
      const page = await openPage();
      await authorize(page);
      // The token response is the only place tokens appear in clear: the page keeps a copy of
      // it to search for (read in the page, so no browser has to hand back a response body).
      const r = await page.evaluate(async () => {
        window.tokenBodies = [];
        window.__fetchTaps.push(async (input, init, resp) => {
          const url = input instanceof Request ? input.url : String(input);
          if (url.endsWith("/oauth/token") && resp.status === 200) window.tokenBodies.push(await resp.clone().json());
        });
        return window.call("handleCallback");
      });
      assert.ok(r.ok, JSON.stringify(r));
      const bodies = await page.evaluate(() => window.tokenBodies);
      const secrets = bodies.flatMap((b) => [b.access_token, b.refresh_token]);
      assert.equal(secrets.length, 2);

      const dump = await page.evaluate(async () => {
        const db = await new Promise((res, rej) => {
          const req = indexedDB.open("atproto-oauth");
          req.onsuccess = () => res(req.result);
          req.onerror = () => rej(req.error);
        });
        const out = { stores: [...db.objectStoreNames], values: [], keys: [] };
        for (const name of out.stores) {
          const all = await new Promise((res) => {
            const tx = db.transaction(name, "readonly");
            const req = tx.objectStore(name).getAll();
            req.onsuccess = () => res(req.result);
          });
          for (const v of all) {
            // A value is the storage key itself, a record's sealed bytes (version 0.1), or a
            // record { sealed, key? } whose key is the DPoP key as a CryptoKey.
            const parts =
              v instanceof CryptoKey ||
              v instanceof Uint8Array ||
              v instanceof ArrayBuffer ||
              !v ||
              typeof v !== "object"
                ? [v]
                : Object.values(v);
            for (const part of parts) {
              if (part instanceof CryptoKey) {
                let exported = false;
                for (const format of ["raw", "pkcs8", "jwk"]) {
                  try {
                    await crypto.subtle.exportKey(format, part);
                    exported = true;
                  } catch {}
                }
                out.keys.push({ extractable: part.extractable, exported, algorithm: part.algorithm.name });
                continue;
              }
              const bytes =
                part instanceof Uint8Array
                  ? part
                  : part instanceof ArrayBuffer
                    ? new Uint8Array(part)
                    : new TextEncoder().encode(JSON.stringify(part));
              out.values.push({ store: name, latin1: Array.from(bytes, (b) => String.fromCharCode(b)).join("") });
            }
          }
        }
        return out;
      });
      assert.ok(
        dump.keys.some((k) => k.algorithm === "AES-GCM"),
        "the wrapping key is stored",
      );
      assert.ok(
        dump.keys.some((k) => k.algorithm === "ECDSA"),
        "the session's DPoP key is stored as a CryptoKey",
      );
      for (const k of dump.keys) {
        assert.equal(k.extractable, false);
        assert.equal(k.exported, false);
        assert.ok(["AES-GCM", "ECDSA"].includes(k.algorithm), k.algorithm);
      }
      assert.ok(dump.values.length >= 2, `expected a session and a nonce record, got ${dump.values.length}`);
      const all = dump.values.map((v) => v.latin1).join("\n");
      for (const secret of secrets) {
        assert.ok(!all.includes(secret), "a token is stored in clear");
        assert.ok(!all.includes(secret.slice(20, 60)), "part of a token is stored in clear");
      }
      for (const marker of ["access_token", "refresh_token", "dpop_key", "verifier", alice().did]) {
        assert.ok(!all.includes(marker), `plaintext ${marker} found in IndexedDB`);
      }
      await page.close();
    });
  });
}
