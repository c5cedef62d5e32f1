// The package in a worker, for tests/e2e/workers.test.mjs: the same client as the test page
// (index.html), driven by messages. One script for both kinds of worker: a dedicated module
// worker (`new Worker(url, { type: "module" })`) and a module service worker
// (`navigator.serviceWorker.register(url, { type: "module" })`).
//
// Message: `{ method, args, at? }` with a MessagePort to answer on; the answer is what the
// page's `window.call` returns (`{ ok, value }` or `{ ok: false, code, message }`). `at` (a
// `Date.now()` time) delays the call, so the page and the worker can start at the same moment;
// the answer then also says when the call began and ended (`t0`, `t1`), since timers in a busy
// browser fire late.
// Besides the client's methods: `events` (what its onSessionEvent listener heard since the
// last ask) and
// `requests` (the URLs this worker fetched since the last ask, from Resource Timing: each
// worker has a timeline of its own, which the page cannot see).
import { setUp, callMethod } from "/harness.js";

// No top-level await: service workers refuse module scripts that use it.
const ready = (async () => {
  const client = (await setUp())();
  const events = [];
  client.onSessionEvent((e) => events.push(e));
  performance.setResourceTimingBufferSize?.(10000);
  return { client, events };
})();

function requests() {
  const urls = performance.getEntriesByType("resource").map((e) => e.name);
  performance.clearResourceTimings();
  return urls;
}

async function run({ method, args = [], at }) {
  try {
    const { client, events } = await ready;
    if (at) {
      await new Promise((r) => setTimeout(r, at - Date.now()));
      const t0 = Date.now();
      return { ...(await callMethod(client, method, args)), t0, t1: Date.now() };
    }
    if (method === "events") return { ok: true, value: events.splice(0) };
    if (method === "requests") return { ok: true, value: requests() };
    if (method === "kind") return { ok: true, value: self.registration ? "service" : "dedicated" };
    return await callMethod(client, method, args);
  } catch (e) {
    return { ok: false, code: e?.code, name: e?.name, message: String(e?.message ?? e) };
  }
}

// Registered during the first evaluation: a service worker only gets events whose handlers
// were there then.
self.addEventListener("message", (event) => {
  // An answer that cannot be posted becomes an error answer, so the page never waits forever.
  const answered = run(event.data).then((reply) => {
    try {
      event.ports[0].postMessage(reply);
    } catch (e) {
      event.ports[0].postMessage({ ok: false, code: "unpostable", message: String(e?.message ?? e) });
    }
  });
  // A service worker is kept alive until the answer is sent.
  event.waitUntil?.(answered);
});
