// The example app (examples/vite) as a user builds and runs it: installed the way the README
// recommends (a packed copy of pkg/, examples/vite/install.sh), then
//   - `vite build` (no Vite configuration), the output served as static files, and
//   - the Vite dev server (dependency pre-bundling on, as by default),
// each signed in against the local official PDS through its real sign-in and consent pages, then
// @atproto/api (`new Agent(session)`: create, list, upload a blob, delete) and @atcute/client
// (`new Client({ handler: session.fetchHandler })`: list) on the library's session. Every write is
// checked from outside the browser, on the PDS itself. Chromium only.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { authorizeOnPds } from "../../scripts/browsers/authorize.mjs";
import { browsers, launch } from "../../scripts/browsers/index.mjs";
import { startPds } from "../../scripts/pds.mjs";
import { createStaticServer } from "../../scripts/static-server.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const EXAMPLE = path.join(ROOT, "examples/vite");
const VITE = path.join(EXAMPLE, "node_modules/vite/bin/vite.js");
const HOST = "127.0.0.1";
const PORT = Number(process.env.E2E_SITE_PORT || 8080);
const ORIGIN = `http://${HOST}:${PORT}`;
const COLLECTION = "app.example.vite.note";

// First use: npm ci of the example (~15 s); afterwards a no-op unless pkg/ changed.
execFileSync("bash", [path.join(EXAMPLE, "install.sh")], { stdio: ["ignore", "inherit", "inherit"] });

/** The environment the example reads (import.meta.env): the local PDS instead of Bluesky's. */
const viteEnv = (pds) => ({
  ...process.env,
  VITE_HANDLE_RESOLVER: pds.pds,
  VITE_PLC_DIRECTORY_URL: pds.plc,
  VITE_ALLOW_HTTP: "true",
});

/** `vite build` into a scratch directory, served as plain static files (what a host does). */
async function serveBuild(pds) {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "atproto-oauth-vite-dist-"));
  execFileSync(process.execPath, [VITE, "build", "--outDir", outDir, "--emptyOutDir", "--logLevel", "error"], {
    cwd: EXAMPLE,
    env: viteEnv(pds),
    stdio: ["ignore", "inherit", "inherit"],
  });
  const server = await createStaticServer({
    host: HOST,
    port: PORT,
    mounts: [{ prefix: "/", dir: outDir }],
    fallback: path.join(outDir, "index.html"),
  });
  return {
    outDir,
    close: async () => {
      await server.close();
      fs.rmSync(outDir, { recursive: true, force: true });
    },
  };
}

/** The Vite dev server (`vite`), with a fresh dependency pre-bundle (--force). */
async function serveDev(pds) {
  const child = spawn(process.execPath, [VITE, "--host", HOST, "--port", String(PORT), "--strictPort", "--force"], {
    cwd: EXAMPLE,
    env: viteEnv(pds),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`vite dev server exited (${child.exitCode}):\n${log}`);
    if (Date.now() > deadline) throw new Error(`vite dev server not answering after 30 s:\n${log}`);
    try {
      if ((await fetch(`${ORIGIN}/`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    log: () => log,
    close: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

async function xrpcGet(pds, nsid, params) {
  const res = await fetch(`${pds.pds}/xrpc/${nsid}?${new URLSearchParams(params)}`);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

const MODES = { build: serveBuild, dev: serveDev };

// The README's SDK snippet against the SDKs' own type declarations, as installed for the example:
// `new Agent(session)` and `new Client({ handler: session.fetchHandler })` must compile.
test("the session type-checks with @atproto/api's Agent and @atcute/client's Client", () => {
  const tsc = path.join(ROOT, "node_modules/.bin/tsc");
  execFileSync(tsc, ["-p", path.join(EXAMPLE, "types/tsconfig.json")], { stdio: ["ignore", "inherit", "inherit"] });
});

// Chromium (the app is the same code in every browser; Chromium also shows request headers).
const names = browsers().filter((b) => b === "chromium");

describe("examples/vite", { skip: names.length === 0 && "Chromium not selected" }, () => {
  let pds, browser;
  before(async () => {
    pds = await startPds();
    browser = await launch("chromium");
  });
  after(async () => {
    await browser?.close();
    await pds?.stop();
  });

  for (const [mode, serve] of Object.entries(MODES)) {
    describe(`vite ${mode}`, () => {
      let site, page;
      before(async () => {
        site = await serve(pds);
        page = await browser.newPage({ onPageError: (e) => console.error(`[page error] ${e.message}`) });
      });
      after(async () => {
        await page?.close();
        await site?.close();
      });

      const alice = () => pds.accounts[0];

      /** Clicks a button of the app and returns the outcome it shows in #out. */
      async function act(selector, action) {
        const seq = Number((await page.attribute("#out", "data-seq")) ?? 0);
        await page.click(selector);
        await page.waitFor((n) => Number(document.getElementById("out").dataset.seq ?? 0) > n, seq, {
          what: `the outcome of ${action}`,
        });
        const out = JSON.parse(await page.text("#out"));
        assert.equal(out.action, action);
        assert.ok(out.ok, `${action} failed: ${JSON.stringify(out.error)}`);
        return out.result;
      }

      test("the page loads the package and its .wasm (application/wasm)", async () => {
        await page.goto(`${ORIGIN}/`);
        await page.waitFor(() => document.body.dataset.ready === "true", undefined, { what: "the app" });
        assert.equal(await page.visible("#login"), true);
        const wasmUrls = await page.evaluate(() =>
          performance
            .getEntriesByType("resource")
            .map((e) => e.name)
            .filter((u) => new URL(u).pathname.endsWith(".wasm")),
        );
        assert.equal(wasmUrls.length, 1, JSON.stringify(wasmUrls));
        const { pathname } = new URL(wasmUrls[0]);
        if (mode === "build") assert.match(pathname, /^\/assets\/atproto_oauth_wasm_bg-[\w-]+\.wasm$/);
        // Dev: the pre-bundled module points at the package's own file in node_modules.
        else assert.equal(pathname, "/node_modules/atproto-oauth-wasm/atproto_oauth_wasm_bg.wasm");
        const res = await fetch(wasmUrls[0]);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("content-type"), "application/wasm");
        const bytes = new Uint8Array(await res.arrayBuffer());
        assert.deepEqual([...bytes.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d]);
        assert.deepEqual(bytes, new Uint8Array(fs.readFileSync(path.join(ROOT, "pkg/atproto_oauth_wasm_bg.wasm"))));
      });

      test("sign-in through the PDS's pages", async () => {
        await page.fill("#handle", alice().handle);
        await page.click("#sign-in");
        await authorizeOnPds(page, { password: alice().password });
        await page.waitForUrl((u) => u.origin === ORIGIN);
        await page.waitFor(() => document.body.dataset.ready === "true", undefined, { what: "the app after sign-in" });
        assert.equal(await page.text("#who"), `${alice().handle} (${alice().did})`);
        assert.equal(await page.text("#status"), `Session with ${pds.pds}`);
      });

      /** The XRPC requests to the PDS while `fn` runs, with their authorization scheme and DPoP proof. */
      async function xrpcRequestsDuring(fn) {
        const seen = [];
        const onRequest = (req) => {
          if (!req.url().startsWith(`${pds.pds}/xrpc/`) || req.method() === "OPTIONS") return;
          const h = req.headers();
          seen.push({
            nsid: new URL(req.url()).pathname.slice("/xrpc/".length),
            method: req.method(),
            auth: (h.authorization ?? "").split(" ")[0],
            dpop: Boolean(h.dpop),
          });
        };
        page.playwright.page.on("request", onRequest);
        try {
          return { value: await fn(), seen };
        } finally {
          page.playwright.page.off("request", onRequest);
        }
      }
      /** Every XRPC request made was DPoP-authenticated, and `nsid` was among them. */
      function assertDpop(seen, nsid) {
        assert.ok(
          seen.some((r) => r.nsid === nsid),
          `no ${nsid} request: ${JSON.stringify(seen)}`,
        );
        for (const r of seen) assert.ok(r.auth === "DPoP" && r.dpop, `not DPoP-authenticated: ${JSON.stringify(r)}`);
      }
      const rkeyOf = (uri) => uri.split("/").pop();
      const getRecord = (uri) =>
        xrpcGet(pds, "com.atproto.repo.getRecord", { repo: alice().did, collection: COLLECTION, rkey: rkeyOf(uri) });

      const text = `hello from vite ${mode}`;
      let created;
      test("@atproto/api: new Agent(session), createRecord; the record is on the PDS", async () => {
        await page.fill("#text", text);
        const { value, seen } = await xrpcRequestsDuring(() => act("#create", "create"));
        assertDpop(seen, "com.atproto.repo.createRecord");
        created = value;
        assert.ok(created.uri.startsWith(`at://${alice().did}/${COLLECTION}/`), created.uri);
        const got = await getRecord(created.uri);
        assert.equal(got.status, 200, got.body.toString());
        assert.equal(JSON.parse(got.body).value.text, text);
      });

      test("@atproto/api: listRecords", async () => {
        const { value, seen } = await xrpcRequestsDuring(() => act("#list-agent", "list-agent"));
        assertDpop(seen, "com.atproto.repo.listRecords");
        assert.deepEqual(
          value.records.filter((r) => r.uri === created.uri),
          [{ uri: created.uri, text }],
        );
      });

      test("@atcute/client: new Client({ handler: session.fetchHandler }), listRecords", async () => {
        const { value, seen } = await xrpcRequestsDuring(() => act("#list-atcute", "list-atcute"));
        assertDpop(seen, "com.atproto.repo.listRecords");
        assert.deepEqual(
          value.records.filter((r) => r.uri === created.uri),
          [{ uri: created.uri, text }],
        );
      });

      test("a module worker: restore(did) and fetchHandler there, on the page's session", async () => {
        const { value, seen } = await xrpcRequestsDuring(() => act("#list-worker", "list-worker"));
        assertDpop(seen, "com.atproto.repo.listRecords");
        assert.equal(value.status, 200);
        assert.ok(value.uris.includes(created.uri), JSON.stringify(value));
      });

      test("@atproto/api: uploadBlob (Uint8Array and Blob), attached to a record; the PDS serves the same bytes", async () => {
        const blobText = `blob from vite ${mode} ✓`;
        await page.fill("#text", blobText);
        const { value, seen } = await xrpcRequestsDuring(() => act("#upload", "upload"));
        assertDpop(seen, "com.atproto.repo.uploadBlob");
        const bytes = Buffer.from(blobText, "utf8");
        assert.equal(value.mimeType, "text/plain");
        assert.equal(value.size, bytes.length);
        assert.equal(value.blobCid, value.cid, "the same bytes uploaded as a Blob have another CID");
        const blob = await xrpcGet(pds, "com.atproto.sync.getBlob", { did: alice().did, cid: value.cid });
        assert.equal(blob.status, 200, blob.body.toString());
        assert.deepEqual(blob.body, bytes);
        const rec = await getRecord(value.uri);
        assert.equal(JSON.parse(rec.body).value.attachment.ref.$link, value.cid);
      });

      test("@atproto/api: deleteRecord; the record is gone from the PDS", async () => {
        await act("#list-atcute", "list-atcute"); // renders the list with its Delete buttons
        const { value, seen } = await xrpcRequestsDuring(() =>
          act(`button[data-delete="${rkeyOf(created.uri)}"]`, "delete"),
        );
        assertDpop(seen, "com.atproto.repo.deleteRecord");
        assert.equal(value.rkey, rkeyOf(created.uri));
        const got = await getRecord(created.uri);
        assert.equal(got.status, 400);
        assert.equal(JSON.parse(got.body).error, "RecordNotFound");
        const listed = await act("#list-agent", "list-agent");
        assert.equal(
          listed.records.some((r) => r.uri === created.uri),
          false,
        );
      });
    });
  }
});
