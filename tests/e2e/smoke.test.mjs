// Smoke test of the end-to-end harness: the real PDS + PLC start, serve what a browser OAuth client
// needs, and stop. Run: node --test tests/e2e/smoke.test.mjs (or node tests/e2e/run.mjs).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startPds } from "../../scripts/pds.mjs";

const ORIGIN = "http://127.0.0.1:8080"; // where the demo / test page is served from

let server;
before(async () => {
  server = await startPds();
});
after(async () => {
  await server?.stop();
});

async function getJson(url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  assert.equal(res.status, 200, `${url} -> ${res.status} ${text}`);
  return { res, json: JSON.parse(text) };
}

test("startPds returns the URLs and the default accounts", () => {
  assert.equal(server.pds, "http://localhost:2583");
  assert.equal(server.plc, "http://localhost:2582");
  assert.deepEqual(
    server.accounts.map(({ handle, password, email }) => ({ handle, password, email })),
    [
      { handle: "alice.test", password: "alice-pass", email: "alice@example.com" },
      { handle: "bob.test", password: "bob-pass", email: "bob@example.com" },
    ],
  );
  for (const a of server.accounts) assert.match(a.did, /^did:plc:[a-z2-7]{24}$/);
});

test("protected resource metadata", async () => {
  const { json } = await getJson(`${server.pds}/.well-known/oauth-protected-resource`);
  assert.equal(json.resource, "http://localhost:2583");
  assert.deepEqual(json.authorization_servers, ["http://localhost:2583"]);
});

test("authorization server metadata", async () => {
  const { json } = await getJson(`${server.pds}/.well-known/oauth-authorization-server`);
  assert.equal(json.issuer, "http://localhost:2583");
  assert.equal(json.pushed_authorization_request_endpoint, "http://localhost:2583/oauth/par");
  assert.equal(json.authorization_endpoint, "http://localhost:2583/oauth/authorize");
  assert.equal(json.token_endpoint, "http://localhost:2583/oauth/token");
  assert.equal(json.require_pushed_authorization_requests, true);
  assert.ok(json.dpop_signing_alg_values_supported.includes("ES256"));
  assert.ok(json.code_challenge_methods_supported.includes("S256"));
  assert.ok(json.scopes_supported.includes("atproto"));
  assert.ok(json.scopes_supported.includes("transition:generic"));
  assert.equal(json.client_id_metadata_document_supported, true);
  assert.equal(json.authorization_response_iss_parameter_supported, true);
});

test("resolveHandle on the PDS", async () => {
  const alice = server.accounts.find((a) => a.handle === "alice.test");
  const { json } = await getJson(`${server.pds}/xrpc/com.atproto.identity.resolveHandle?handle=alice.test`);
  assert.equal(json.did, alice.did);
  const bob = server.accounts.find((a) => a.handle === "bob.test");
  const { json: j2 } = await getJson(`${server.pds}/xrpc/com.atproto.identity.resolveHandle?handle=bob.test`);
  assert.equal(j2.did, bob.did);
  // An unknown handle under the PDS's own domain is an error, not a DNS lookup.
  const res = await fetch(`${server.pds}/xrpc/com.atproto.identity.resolveHandle?handle=nobody.test`);
  assert.equal(res.status, 400);
});

test("PLC serves the DID document", async () => {
  const alice = server.accounts.find((a) => a.handle === "alice.test");
  const { json: doc } = await getJson(`${server.plc}/${alice.did}`);
  assert.equal(doc.id, alice.did);
  assert.deepEqual(doc.alsoKnownAs, ["at://alice.test"]);
  const pds = doc.service.find((s) => s.id === "#atproto_pds" || s.id === `${alice.did}#atproto_pds`);
  assert.ok(pds, "no #atproto_pds service");
  assert.equal(pds.type, "AtprotoPersonalDataServer");
  assert.equal(pds.serviceEndpoint, "http://localhost:2583");
  assert.ok(doc.verificationMethod.some((v) => v.id === "#atproto" || v.id === `${alice.did}#atproto`));
});

test("CORS for a page on http://127.0.0.1:8080", async () => {
  // Simple GETs on the PDS, the authorization server and the PLC directory.
  for (const url of [
    `${server.pds}/.well-known/oauth-protected-resource`,
    `${server.pds}/.well-known/oauth-authorization-server`,
    `${server.pds}/xrpc/com.atproto.identity.resolveHandle?handle=alice.test`,
    `${server.plc}/${server.accounts[0].did}`,
  ]) {
    const res = await fetch(url, { headers: { origin: ORIGIN } });
    await res.arrayBuffer();
    const allow = res.headers.get("access-control-allow-origin");
    assert.ok(allow === "*" || allow === ORIGIN, `${url}: access-control-allow-origin=${allow}`);
  }

  // Preflight for the DPoP-carrying POST to PAR.
  const pre = await fetch(`${server.pds}/oauth/par`, {
    method: "OPTIONS",
    headers: {
      origin: ORIGIN,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type,dpop",
    },
  });
  await pre.arrayBuffer();
  assert.ok(pre.status === 200 || pre.status === 204, `preflight status ${pre.status}`);
  const allowOrigin = pre.headers.get("access-control-allow-origin");
  assert.ok(allowOrigin === "*" || allowOrigin === ORIGIN);
  assert.match(pre.headers.get("access-control-allow-headers") ?? "", /dpop/i);

  // The nonce challenge must be readable by the page: DPoP-Nonce is exposed.
  const par = await fetch(`${server.pds}/oauth/par`, {
    method: "POST",
    headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded" },
    body: "client_id=http%3A%2F%2Flocalhost",
  });
  await par.arrayBuffer();
  assert.ok(par.headers.get("dpop-nonce"), "no DPoP-Nonce header");
  assert.match(par.headers.get("access-control-expose-headers") ?? "", /dpop-nonce/i);

  // Preflight for a DPoP-authenticated XRPC call on the PDS.
  const pre2 = await fetch(`${server.pds}/xrpc/com.atproto.repo.createRecord`, {
    method: "OPTIONS",
    headers: {
      origin: ORIGIN,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization,content-type,dpop",
    },
  });
  await pre2.arrayBuffer();
  assert.ok(pre2.status === 200 || pre2.status === 204, `xrpc preflight status ${pre2.status}`);
  const allowHeaders = (pre2.headers.get("access-control-allow-headers") ?? "").toLowerCase();
  assert.ok(
    allowHeaders === "*" || (allowHeaders.includes("dpop") && allowHeaders.includes("authorization")),
    `xrpc preflight allow-headers: ${allowHeaders}`,
  );
});
