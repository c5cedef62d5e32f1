// The harness's browser side, checked without the wasm package, in each browser: a minimal Node
// OAuth client (node-oauth.mjs) does PAR/token/DPoP, the browser shows the PDS's own sign-in and
// consent pages, and scripts/browsers/authorize.mjs's authorizeOnPds() drives them over the driver interface. The
// loopback redirect_uri is served by a throwaway HTTP server on 127.0.0.1 with an ephemeral port
// (so the demo's 8080 may be in use). (Playwright's page.route() cannot catch it: route handlers
// don't see redirect targets.)

import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { startPds } from "../../scripts/pds.mjs";
import { authorizeOnPds } from "../../scripts/browsers/authorize.mjs";
import { browsers, launch } from "../../scripts/browsers/index.mjs";
import { NodeOAuthClient } from "./node-oauth.mjs";

let CALLBACK;
let server;
let callbackServer;
before(async () => {
  callbackServer = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" }).end("<title>callback</title>callback");
  });
  await new Promise((resolve) => callbackServer.listen(0, "127.0.0.1", resolve));
  CALLBACK = `http://127.0.0.1:${callbackServer.address().port}/callback`;
  server = await startPds();
});
after(async () => {
  await server?.stop();
  callbackServer?.closeAllConnections();
  await new Promise((resolve) => callbackServer?.close(resolve) ?? resolve());
});

const newClient = () => new NodeOAuthClient({ issuer: server.pds, redirectUri: CALLBACK });

for (const name of browsers()) {
  describe(name, () => {
    let browser;
    before(async () => {
      browser = await launch(name);
    });
    after(async () => {
      await browser?.close();
    });

    /** Opens `authorizeUrl` in a fresh page, runs `drive(page)`, returns the callback URL. */
    async function throughBrowser(authorizeUrl, drive) {
      const page = await browser.newPage();
      try {
        await page.goto(authorizeUrl);
        await drive(page);
        const back = await page.waitForUrl((u) => u.href.startsWith(CALLBACK), { timeout: 15_000 });
        return back.href;
      } finally {
        await page.close();
      }
    }

    test("login_hint sign-in, consent, callback, token, DPoP createRecord", async () => {
      const alice = server.accounts.find((a) => a.handle === "alice.test");
      const client = newClient();
      const url = await client.authorize({ loginHint: "alice.test" });
      const callbackUrl = await throughBrowser(url, (page) => authorizeOnPds(page, { password: alice.password }));

      const q = new URL(callbackUrl).searchParams;
      assert.ok(q.get("code"));
      assert.equal(q.get("iss"), "http://localhost:2583");
      assert.equal(q.get("state"), client.state);

      const tokens = await client.callback(callbackUrl);
      assert.equal(tokens.token_type, "DPoP");
      assert.equal(tokens.sub, alice.did);
      assert.deepEqual(tokens.scope.split(" ").sort(), ["atproto", "transition:generic"]);
      assert.ok(tokens.refresh_token);

      const created = await client.xrpc("POST", "com.atproto.repo.createRecord", {
        body: {
          repo: alice.did,
          collection: "app.bsky.feed.post",
          record: {
            $type: "app.bsky.feed.post",
            text: `hello from the e2e harness in ${name}`,
            createdAt: new Date().toISOString(),
          },
        },
      });
      assert.match(created.uri, new RegExp(`^at://${alice.did}/app.bsky.feed.post/`));
      const list = await client.xrpc("GET", "com.atproto.repo.listRecords", {
        params: { repo: alice.did, collection: "app.bsky.feed.post" },
      });
      assert.ok(list.records.some((r) => r.uri === created.uri));
    });

    // The AT Protocol OAuth spec: "Clients must reject responses missing a DPoP-Nonce header
    // (case insensitive), if the request included DPoP." What the official server does (this
    // test is the evidence, and the package's rule follows it): its authorization server sends
    // DPoP-Nonce on every response (PAR, token, revocation; successes and errors), and so does
    // its resource server wherever it verifies the DPoP proof (endpoints that need auth,
    // including their 401s). XRPC endpoints that need no auth (listRecords, getRecord) never look
    // at the proof and answer without it, so the package requires the header from the
    // authorization server, and from the PDS only on 401 challenges.
    test("DPoP-Nonce: on every authorization-server response, and where the PDS checks DPoP", async () => {
      const alice = server.accounts.find((a) => a.handle === "alice.test");
      const client = newClient();
      const url = await client.authorize({ loginHint: "alice.test" });
      const callbackUrl = await throughBrowser(url, (page) => authorizeOnPds(page, { password: alice.password }));
      await client.callback(callbackUrl);

      const session = await client.xrpcRaw("GET", "com.atproto.server.getSession");
      assert.equal(session.status, 200);
      const badToken = await client.xrpcRaw("GET", "com.atproto.server.getSession", { accessToken: "not-a-token" });
      assert.equal(badToken.status, 401);
      const open = await client.xrpcRaw("GET", "com.atproto.repo.listRecords", {
        params: { repo: alice.did, collection: "app.bsky.feed.post" },
      });
      assert.equal(open.status, 200);
      const refreshed = await client.oauthPost("/oauth/token", {
        grant_type: "refresh_token",
        refresh_token: client.tokens.refresh_token,
      });
      assert.equal(refreshed.status, 200);
      const fresh = await refreshed.json();
      const replayed = await client.oauthPost("/oauth/token", {
        grant_type: "refresh_token",
        refresh_token: client.tokens.refresh_token,
      });
      assert.equal(replayed.status, 400, "the rotated refresh token is refused");
      // What the official server does when an old refresh token comes back (a lost refresh
      // response looks like this from the server's side): is the newer one still good?
      const after = await client.oauthPost("/oauth/token", {
        grant_type: "refresh_token",
        refresh_token: fresh.refresh_token,
      });
      console.error(
        `[refresh-replay] after the rotated refresh token came back, the newer one answered HTTP ${after.status}`,
      );
      const latest = after.ok ? (await after.json()).refresh_token : fresh.refresh_token;
      const revoked = await client.oauthPost("/oauth/revoke", { token: latest });
      assert.equal(revoked.status, 200);

      const seen = client.dpopResponses;
      const find = (method, path, status) =>
        seen.find((r) => r.url.startsWith(`${method} `) && r.url.endsWith(path) && r.status === status);
      for (const [method, path, status] of [
        ["POST", "/oauth/par", 400],
        ["POST", "/oauth/par", 201],
        ["POST", "/oauth/token", 200],
        ["POST", "/oauth/token", 400],
        ["POST", "/oauth/revoke", 200],
        ["GET", "/xrpc/com.atproto.server.getSession", 200],
        ["GET", "/xrpc/com.atproto.server.getSession", 401],
      ]) {
        const r = find(method, path, status);
        assert.ok(r, `a ${status} answer to ${method} ${path} was seen: ${JSON.stringify(seen)}`);
        assert.ok(r.nonce, `the ${status} answer to ${method} ${path} carries DPoP-Nonce`);
      }
      const oauth = seen.filter((r) => r.url.includes("/oauth/"));
      assert.deepEqual(
        oauth.filter((r) => !r.nonce),
        [],
        "every authorization-server answer carries DPoP-Nonce",
      );
      // The evidence for the exception: a no-auth endpoint answers without one.
      const listed = find("GET", "/xrpc/com.atproto.repo.listRecords", 200);
      console.error(`[dpop-nonce] listRecords (no auth needed) answered with DPoP-Nonce: ${listed.nonce ?? "(none)"}`);
    });

    test("without login_hint the username is typed (welcome step first)", async () => {
      const bob = server.accounts.find((a) => a.handle === "bob.test");
      const client = newClient();
      const url = await client.authorize();
      const callbackUrl = await throughBrowser(url, (page) =>
        authorizeOnPds(page, { username: bob.handle, password: bob.password }),
      );
      const tokens = await client.callback(callbackUrl);
      assert.equal(tokens.sub, bob.did);
    });

    test("Deny access redirects with error=access_denied", async () => {
      const alice = server.accounts.find((a) => a.handle === "alice.test");
      const client = newClient();
      const url = await client.authorize({ loginHint: "alice.test" });
      const callbackUrl = await throughBrowser(url, (page) =>
        authorizeOnPds(page, { password: alice.password, deny: true }),
      );
      const q = new URL(callbackUrl).searchParams;
      assert.equal(q.get("error"), "access_denied");
      assert.equal(q.get("state"), client.state);
      assert.equal(q.get("iss"), "http://localhost:2583");
      assert.equal(q.get("code"), null);
    });

    test("a wrong password is reported by authorizeOnPds", async () => {
      const client = newClient();
      const url = await client.authorize({ loginHint: "alice.test" });
      const page = await browser.newPage();
      try {
        await page.goto(url);
        await assert.rejects(
          authorizeOnPds(page, { password: "not-the-password", timeout: 15_000 }),
          /sign-in failed: .*wrong identifier or password/i,
        );
      } finally {
        await page.close();
      }
    });
  });
}
