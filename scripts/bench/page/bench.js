// scripts/bench/page/bench.js — one page for every client under test, driven by scripts/bench/run.mjs.
//
// The client is named by the path: /c/ours/, /c/official/, /c/atcute/ (its redirect URI is
// /c/<client>/callback). Every adapter offers the same steps, each the way that library's README
// does it: load (import + init), startLogin (handle -> authorization URL), callback (-> session),
// call (one com.atproto.repo.listRecords through the library's DPoP-authenticated fetch),
// restore (page load with a stored session). run.mjs times each step in the page
// (window.bench.step) and counts its requests over the Chrome DevTools Protocol.
//
// window.BENCH_CONFIG ({ pds, plc }) is injected by run.mjs before any page script runs.

// fetch goes through one switch installed before any library loads, so that every client (also
// those that capture `fetch` when they are constructed) can be served by a stub in bench.dpop.
const realFetch = window.fetch;
let fetchStub = null;
window.fetch = function fetch(input, init) {
  return fetchStub ? fetchStub(input, init) : realFetch.call(window, input, init);
};

const cfg = window.BENCH_CONFIG;
const name = location.pathname.split("/")[2];
const SCOPE = "atproto transition:generic";
const COLLECTION = "app.bsky.feed.post";
const LIMIT = 10;
const redirectUri = `${location.origin}/c/${name}/callback`;
const clientId = `http://localhost?redirect_uri=${encodeURIComponent(redirectUri)}&scope=${encodeURIComponent(SCOPE)}`;
const listPath = (did) =>
  `/xrpc/com.atproto.repo.listRecords?repo=${encodeURIComponent(did)}&collection=${COLLECTION}&limit=${LIMIT}`;

async function readRecords(response) {
  if (!response.ok) throw new Error(`listRecords: HTTP ${response.status}: ${await response.text()}`);
  return (await response.json()).records.length;
}

const adapters = {
  // atproto-oauth-wasm (this repository's pkg/)
  ours() {
    let client;
    return {
      async load() {
        const t0 = performance.now();
        const lib = await import("/pkg/atproto_oauth_wasm.js");
        const t1 = performance.now();
        await lib.default(); // fetch + compile + instantiate the .wasm
        const t2 = performance.now();
        if (lib.loopbackClientId(redirectUri, SCOPE) !== clientId) throw new Error("client ids differ");
        client = new lib.OAuthClient({
          clientId,
          redirectUri,
          scope: SCOPE,
          handleResolver: cfg.pds,
          handleResolution: ["xrpc"],
          plcDirectoryUrl: cfg.plc,
          allowHttp: true,
        });
        // Of init(): until the .wasm's last byte arrived (compilation streams alongside), and
        // what was left after it (compile tail + instantiate), from Resource Timing.
        const wasm = performance.getEntriesByType("resource").find((e) => e.name.endsWith("_bg.wasm"));
        const downloadMs = wasm ? wasm.responseEnd - t1 : null;
        return { importMs: t1 - t0, initMs: t2 - t1, downloadMs, constructMs: performance.now() - t2 };
      },
      startLogin: async (handle) => (await client.startLogin(handle)).url,
      callback: async () => (await client.handleCallback()).session.did,
      call: async (did) => (await client.fetchRecords(did, COLLECTION, { limit: LIMIT })).records.length,
      async restore() {
        const [session] = await client.listSessions();
        if (!session) throw new Error("no stored session");
        return session.did;
      },
    };
  },

  // @atproto/oauth-client-browser (the official client), bundled by run.mjs
  official() {
    let client, session;
    return {
      async load() {
        const t0 = performance.now();
        const { BrowserOAuthClient } = await import("/bench/dist/official.js");
        const t1 = performance.now();
        client = await BrowserOAuthClient.load({
          clientId,
          handleResolver: cfg.pds,
          plcDirectoryUrl: cfg.plc,
          allowHttp: true,
        });
        return { importMs: t1 - t0, initMs: null, constructMs: performance.now() - t1 }; // no .wasm
      },
      startLogin: async (handle) => (await client.authorize(handle, { scope: SCOPE })).href,
      async callback() {
        ({ session } = await client.initCallback());
        return session.did;
      },
      call: async () => readRecords(await session.fetchHandler(listPath(session.did))),
      async restore() {
        const result = await client.init();
        if (!result) throw new Error("no stored session");
        session = result.session;
        return session.did;
      },
    };
  },

  // @atcute/oauth-browser-client, bundled by run.mjs
  atcute() {
    let lib, agent;
    return {
      async load() {
        const t0 = performance.now();
        lib = await import("/bench/dist/atcute.js");
        const t1 = performance.now();
        lib.configureOAuth({
          metadata: { client_id: clientId, redirect_uri: redirectUri },
          identityResolver: new lib.LocalActorResolver({
            handleResolver: new lib.XrpcHandleResolver({ serviceUrl: cfg.pds }),
            didDocumentResolver: new lib.CompositeDidDocumentResolver({
              methods: {
                plc: new lib.PlcDidDocumentResolver({ apiUrl: cfg.plc }),
                web: new lib.WebDidDocumentResolver(),
              },
            }),
          }),
        });
        return { importMs: t1 - t0, initMs: null, constructMs: performance.now() - t1 }; // no .wasm
      },
      startLogin: async (handle) =>
        (await lib.createAuthorizationUrl({ target: { type: "account", identifier: handle }, scope: SCOPE })).href,
      async callback() {
        // atcute's README: read the fragment, scrub it from the address bar, finalize.
        const params = new URLSearchParams(location.hash.slice(1));
        history.replaceState(null, "", location.pathname + location.search);
        const { session } = await lib.finalizeAuthorization(params);
        agent = new lib.OAuthUserAgent(session);
        return session.info.sub;
      },
      call: async () => readRecords(await agent.handle(listPath(agent.sub))),
      async restore() {
        const [did] = lib.listStoredSessions();
        if (!did) throw new Error("no stored session");
        agent = new lib.OAuthUserAgent(await lib.getSession(did));
        return did;
      },
    };
  },
};

const errorText = (e) => (e && (e.stack || `${e.name}: ${e.message}${e.code ? ` (${e.code})` : ""}`)) || String(e);
const status = (s) => (document.getElementById("status").textContent = s);

/** DPoP cost with fetch stubbed: `calls` sequential authenticated calls answered instantly,
 * through the client, taking turns with as many through `floor`, under the same stub. */
async function dpop(adapter, did, { calls, warmup }) {
  const body = JSON.stringify({
    cursor: "3l5a2b3c4d5e6",
    records: [1, 2, 3].map((i) => ({
      uri: `at://${did}/${COLLECTION}/3l5a2b3c4d5e${i}`,
      cid: "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
      value: { $type: COLLECTION, text: `post ${i}`, createdAt: "2024-01-01T00:00:00.000Z" },
    })),
  });
  let fetches = 0;
  let authenticated = 0;
  // When the request leaves: the time from a call's start to its fetch is the client's work
  // before sending (session lookup, DPoP proof signed, request built), the same cut for every
  // client through the public API.
  let started = 0;
  let beforeSend = 0;
  fetchStub = async (input, init) => {
    beforeSend += performance.now() - started;
    fetches++;
    const headers = input instanceof Request ? input.headers : new Headers(init?.headers);
    if (headers.get("dpop") && /^DPoP /.test(headers.get("authorization") ?? "")) authenticated++;
    return new Response(body, {
      status: 200,
      headers: { "content-type": "application/json; charset=utf-8", "dpop-nonce": "bench-stub-nonce" },
    });
  };
  // One timed batch of `n` sequential calls.
  const batch = async (call, n) => {
    const w = { fetches, authenticated };
    beforeSend = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      started = performance.now();
      await call();
    }
    const ms = performance.now() - t0;
    return { ms, beforeSend, fetches: fetches - w.fetches, authenticated: authenticated - w.authenticated };
  };
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  try {
    const client = () => adapter.call(did);
    const least = await floor(did);
    await batch(client, warmup);
    await batch(least, warmup);
    // The client and the floor take turns, ten batches each, so that what the machine does
    // meanwhile falls on both alike; each figure is the median of its ten batches.
    const rounds = 10;
    const n = Math.ceil(calls / rounds);
    const mine = [];
    const under = [];
    for (let r = 0; r < rounds; r++) {
      mine.push(await batch(client, n));
      under.push(await batch(least, n));
    }
    const perCall = (bs, f) => median(bs.map((b) => f(b) / n));
    return {
      calls: n * rounds,
      ms: mine.reduce((a, b) => a + b.ms, 0),
      msPerCall: perCall(mine, (b) => b.ms),
      msBeforeSend: perCall(mine, (b) => b.beforeSend),
      fetches: mine.reduce((a, b) => a + b.fetches, 0),
      authenticated: mine.reduce((a, b) => a + b.authenticated, 0),
      floor: { msPerCall: perCall(under, (b) => b.ms), msBeforeSend: perCall(under, (b) => b.beforeSend) },
    };
  } finally {
    fetchStub = null;
  }
}

/**
 * The floor under every WebCrypto DPoP client on this machine, measured with the same stub: the
 * least any such client does per call, and no more. The key is a non-extractable WebCrypto key
 * made up front, the header (with its JWK) and `ath` are encoded once; per call: a random `jti`,
 * the claims, one `crypto.subtle.sign`, the proof, `fetch` and the JSON body read. No session,
 * no nonce cache, no retry, no error handling. A client's distance to this is its own cost.
 */
async function floor(did) {
  const enc = new TextEncoder();
  const b64url = (bytes) => {
    let s = "";
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const text64 = (text) => b64url(enc.encode(text));
  const { privateKey, publicKey } = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
    "sign",
  ]);
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", publicKey);
  const header = text64(JSON.stringify({ typ: "dpop+jwt", alg: "ES256", jwk: { kty, crv, x, y } }));
  const token = "bench-floor-access-token";
  const ath = b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(token))));
  const url = `${cfg.pds}${listPath(did)}`;
  const htu = url.split("?")[0];
  const algorithm = { name: "ECDSA", hash: "SHA-256" };
  return async () => {
    const jti = b64url(crypto.getRandomValues(new Uint8Array(16)));
    const iat = Math.floor(Date.now() / 1000);
    const claims = { jti, htm: "GET", htu, iat, nonce: "bench-stub-nonce", ath };
    const input = `${header}.${text64(JSON.stringify(claims))}`;
    const signature = await crypto.subtle.sign(algorithm, privateKey, enc.encode(input));
    const response = await fetch(url, {
      headers: { dpop: `${input}.${b64url(new Uint8Array(signature))}`, authorization: `DPoP ${token}` },
    });
    return readRecords(response);
  };
}

async function main() {
  const make = adapters[name];
  if (!make) throw new Error(`unknown client "${name}" in ${location.pathname}`);
  const adapter = make();
  const load = await adapter.load();
  window.benchLoad = load;
  window.bench = {
    name,
    /** Runs one step, timed in the page: { ok, ms, value } or { ok: false, error }. */
    async step(step, ...args) {
      try {
        const t0 = performance.now();
        const value = await adapter[step](...args);
        return { ok: true, ms: performance.now() - t0, value };
      } catch (e) {
        return { ok: false, error: errorText(e) };
      }
    },
    async dpop(did, options) {
      try {
        return { ok: true, value: await dpop(adapter, did, options) };
      } catch (e) {
        return { ok: false, error: errorText(e) };
      }
    },
  };
  // A reload that run.mjs marked: restore the stored session and make the first call, timed from
  // the navigation's start (performance.now() counts from this document's time origin).
  if (sessionStorage.getItem("bench-auto") === "1") {
    sessionStorage.removeItem("bench-auto");
    const t0 = performance.now();
    const did = await adapter.restore();
    const t1 = performance.now();
    const records = await adapter.call(did);
    const t2 = performance.now();
    window.benchAuto = { did, records, load, restoreMs: t1 - t0, callMs: t2 - t1, sinceNavigationMs: t2 };
  }
  status("ready");
  window.benchReady = true;
}

main().catch((e) => {
  window.benchError = errorText(e);
  status(`error: ${window.benchError}`);
});
