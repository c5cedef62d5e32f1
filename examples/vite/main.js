// The example app: atproto-oauth-wasm signs in and keeps the session; @atproto/api and
// @atcute/client make their calls through it (session.fetchHandler: DPoP-signed, refreshed).
import init, { OAuthClient } from "atproto-oauth-wasm";
import { Agent } from "@atproto/api";
import { Client } from "@atcute/client";
import { COLLECTION, clientConfig } from "./config.js";

// Loads the .wasm; the bundler emits it as an asset (build) or serves it (dev).
await init();
const client = new OAuthClient(clientConfig());

const $ = (id) => document.getElementById(id);
let seq = 0;
/** Shows the outcome of an action in #out (the e2e test reads it). */
function show(action, outcome) {
  const out = $("out");
  out.textContent = JSON.stringify({ action, ...outcome }, null, 2);
  out.className = outcome.ok ? "" : "error";
  out.dataset.action = action;
  out.dataset.seq = String(++seq);
}
async function run(action, fn) {
  try {
    show(action, { ok: true, result: await fn() });
  } catch (err) {
    show(action, { ok: false, error: { name: err.name, code: err.code, message: err.message } });
  }
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  run("sign-in", () => client.startLogin($("handle").value.trim(), { redirect: true }));
});

let info;
try {
  if (client.isCallback()) {
    ({ session: info } = await client.handleCallback());
  } else {
    [info] = await client.listSessions();
  }
} catch (err) {
  show("callback", { ok: false, error: { name: err.name, code: err.code, message: err.message } });
}

if (!info) {
  $("login").hidden = false;
  $("status").textContent = "Not signed in.";
} else {
  const session = await client.restore(info.did);
  const agent = new Agent(session);
  const atcute = new Client({ handler: session.fetchHandler });
  const repo = session.did;

  $("who").textContent = `${session.handle} (${session.did})`;
  $("status").textContent = `Session with ${session.pds}`;
  $("app").hidden = false;

  const note = (extra = {}) => ({
    $type: COLLECTION,
    text: $("text").value,
    createdAt: new Date().toISOString(),
    ...extra,
  });

  $("create").addEventListener("click", () =>
    run("create", async () => {
      const { data } = await agent.com.atproto.repo.createRecord({ repo, collection: COLLECTION, record: note() });
      return { uri: data.uri, cid: data.cid };
    }),
  );

  $("upload").addEventListener("click", () =>
    run("upload", async () => {
      const bytes = new TextEncoder().encode($("text").value);
      const { data } = await agent.uploadBlob(bytes, { encoding: "text/plain" });
      // The same content as a Blob (its type is the encoding): the same CID.
      const asBlob = await agent.uploadBlob(new Blob([bytes], { type: "text/plain" }));
      // An uploaded blob is kept only once a record refers to it.
      const created = await agent.com.atproto.repo.createRecord({
        repo,
        collection: COLLECTION,
        record: note({ attachment: data.blob }),
      });
      return {
        cid: data.blob.ref.toString(),
        blobCid: asBlob.data.blob.ref.toString(),
        mimeType: data.blob.mimeType,
        size: data.blob.size,
        uri: created.data.uri,
      };
    }),
  );

  function render(records) {
    const list = $("records");
    list.replaceChildren(
      ...records.map((r) => {
        const li = document.createElement("li");
        const rkey = r.uri.split("/").pop();
        const del = document.createElement("button");
        del.type = "button";
        del.textContent = "Delete";
        del.dataset.delete = rkey;
        del.addEventListener("click", () =>
          run("delete", async () => {
            await agent.com.atproto.repo.deleteRecord({ repo, collection: COLLECTION, rkey });
            li.remove();
            return { rkey };
          }),
        );
        li.append(`${r.value.text} `, del);
        return li;
      }),
    );
  }

  $("list-agent").addEventListener("click", () =>
    run("list-agent", async () => {
      const { data } = await agent.com.atproto.repo.listRecords({ repo, collection: COLLECTION, limit: 100 });
      render(data.records);
      return { records: data.records.map((r) => ({ uri: r.uri, text: r.value.text })) };
    }),
  );

  $("list-atcute").addEventListener("click", () =>
    run("list-atcute", async () => {
      const res = await atcute.get("com.atproto.repo.listRecords", {
        params: { repo, collection: COLLECTION, limit: 100 },
      });
      if (!res.ok) throw new Error(`${res.status} ${res.data.error}: ${res.data.message}`);
      render(res.data.records);
      return { records: res.data.records.map((r) => ({ uri: r.uri, text: r.value.text })) };
    }),
  );

  // The same session in a module worker (worker.js).
  let worker;
  $("list-worker").addEventListener("click", () =>
    run("list-worker", async () => {
      worker ??= new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
      const reply = await new Promise((resolve, reject) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => reject(new Error(`worker: ${e.message ?? "failed to load"}`));
        worker.postMessage({ did: repo });
      });
      if (!reply.ok) throw Object.assign(new Error(reply.error?.message ?? JSON.stringify(reply)), reply.error);
      return reply.result;
    }),
  );

  $("sign-out").addEventListener("click", () =>
    run("sign-out", async () => {
      await client.signOut(session.did);
      location.reload();
    }),
  );
}
document.body.dataset.ready = "true";
