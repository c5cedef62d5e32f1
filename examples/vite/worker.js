// A module worker using the session the page signed in (same origin, same IndexedDB). No top-level
// await here: `vite build` bundles workers as "iife" by default, which has none (with
// `worker: { format: "es" }` in vite.config.js, `await init()` at the top works too).
import init, { OAuthClient } from "atproto-oauth-wasm";
import { COLLECTION, clientConfig } from "./config.js";

const ready = init().then(() => new OAuthClient(clientConfig()));

self.onmessage = async ({ data: { did } }) => {
  try {
    const client = await ready;
    const session = await client.restore(did);
    const params = new URLSearchParams({ repo: did, collection: COLLECTION, limit: "100" });
    const res = await session.fetchHandler(`/xrpc/com.atproto.repo.listRecords?${params}`);
    const body = await res.json();
    self.postMessage({ ok: res.ok, result: { status: res.status, uris: (body.records ?? []).map((r) => r.uri) } });
  } catch (err) {
    self.postMessage({ ok: false, error: { name: err.name, code: err.code, message: err.message } });
  }
};
