// The built package (pkg/) as an app gets it: `npm pack`, unpacked into a scratch app's
// node_modules, then resolved and imported by name in plain Node (what server-side rendering
// does: no window, no document, no IndexedDB). Run by `npm test` (stage "package", after the
// build) or `node --test tests/package/`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PKG = path.join(ROOT, "pkg");
const NAME = "atproto-oauth-wasm";

let app; // a scratch app directory with the packed package in node_modules
let manifest; // pkg/package.json as shipped

/** Runs an ES module source in a fresh Node process inside the scratch app; returns its JSON output. */
function runInApp(source) {
  const file = path.join(app, `probe-${Math.random().toString(36).slice(2)}.mjs`);
  fs.writeFileSync(file, source);
  try {
    const out = execFileSync(process.execPath, [file], {
      cwd: app,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    return JSON.parse(out.trim().split("\n").at(-1));
  } catch (e) {
    throw new Error(`probe failed:\n${e.stderr || e.message}`);
  }
}

before(() => {
  assert.ok(fs.existsSync(path.join(PKG, "package.json")), "pkg/ is not built (npm run build)");
  app = fs.mkdtempSync(path.join(os.tmpdir(), "atproto-oauth-wasm-package-"));
  fs.writeFileSync(
    path.join(app, "package.json"),
    JSON.stringify({ name: "scratch-app", private: true, type: "module" }),
  );
  const packed = JSON.parse(
    execFileSync("npm", ["pack", PKG, "--json", "--pack-destination", app], { cwd: app, encoding: "utf8" }),
  )[0];
  const dest = path.join(app, "node_modules", NAME);
  fs.mkdirSync(dest, { recursive: true });
  execFileSync("tar", ["-xzf", path.join(app, packed.filename), "-C", dest, "--strip-components=1"]);
  manifest = JSON.parse(fs.readFileSync(path.join(dest, "package.json"), "utf8"));
});

after(() => {
  if (app) fs.rmSync(app, { recursive: true, force: true });
});

test("package.json: exports with types and default, the .wasm, package.json", () => {
  const wasm = fs.readdirSync(PKG).find((f) => f.endsWith("_bg.wasm"));
  assert.equal(manifest.name, NAME);
  assert.equal(manifest.type, "module");
  assert.deepEqual(manifest.exports, {
    ".": { types: "./atproto_oauth_wasm.d.ts", default: "./atproto_oauth_wasm.js" },
    [`./${wasm}`]: `./${wasm}`,
    "./package.json": "./package.json",
  });
  // "types" comes before "default": conditions are matched in order.
  assert.deepEqual(Object.keys(manifest.exports["."]), ["types", "default"]);
  assert.equal(manifest.types, "atproto_oauth_wasm.d.ts");
  assert.equal(manifest.main, "atproto_oauth_wasm.js");
  // No snippets: nothing runs when the module is evaluated (checked below), so bundlers may drop it.
  assert.equal(fs.existsSync(path.join(PKG, "snippets")), false);
  assert.equal(manifest.sideEffects, false);
});

test("the packed tarball holds every file the exports name, the README, and nothing else", () => {
  const dest = path.join(app, "node_modules", NAME);
  const shipped = fs.readdirSync(dest).sort();
  assert.deepEqual(shipped, [
    "README.md",
    "atproto_oauth_wasm.d.ts",
    "atproto_oauth_wasm.js",
    "atproto_oauth_wasm_bg.wasm",
    "atproto_oauth_wasm_bg.wasm.d.ts",
    "package.json",
  ]);
  for (const target of [
    manifest.exports["."].types,
    manifest.exports["."].default,
    ...Object.values(manifest.exports).filter((v) => typeof v === "string"),
  ]) {
    assert.ok(fs.existsSync(path.join(dest, target)), `exports names ${target}, which is not in the tarball`);
  }
});

test("Node resolves the package, its package.json and its .wasm by name", () => {
  const r = runInApp(`
    const wasm = import.meta.resolve("${NAME}/atproto_oauth_wasm_bg.wasm");
    const main = import.meta.resolve("${NAME}");
    const { default: pj } = await import("${NAME}/package.json", { with: { type: "json" } });
    console.log(JSON.stringify({ wasm, main, name: pj.name }));
  `);
  assert.equal(r.name, NAME);
  assert.match(r.main, /\/node_modules\/atproto-oauth-wasm\/atproto_oauth_wasm\.js$/);
  assert.match(r.wasm, /\/node_modules\/atproto-oauth-wasm\/atproto_oauth_wasm_bg\.wasm$/);
});

test("TypeScript finds the types through exports (moduleResolution nodenext and bundler)", () => {
  fs.writeFileSync(
    path.join(app, "check.ts"),
    `import init, { OAuthClient, type SessionInfo } from "${NAME}";
// @ts-expect-error: only what "exports" names can be imported
import * as glue from "${NAME}/atproto_oauth_wasm.js";
void glue;
export async function main(): Promise<string | undefined> {
  await init();
  const client = new OAuthClient({ clientId: "https://app.example/c.json", redirectUri: "https://app.example/" });
  const sessions: SessionInfo[] = await client.listSessions();
  // @ts-expect-error: a misspelt method does not exist
  client.listSession();
  return sessions[0]?.did;
}
`,
  );
  const tsc = path.join(ROOT, "node_modules/.bin/tsc");
  for (const resolution of ["nodenext", "bundler"]) {
    const options = {
      compilerOptions: {
        target: "ES2022",
        module: resolution === "nodenext" ? "nodenext" : "esnext",
        moduleResolution: resolution,
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: [],
        lib: ["ESNext", "DOM"],
      },
      files: ["check.ts"],
    };
    fs.writeFileSync(path.join(app, "tsconfig.json"), JSON.stringify(options));
    try {
      execFileSync(tsc, ["-p", app], { cwd: app, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      assert.fail(`tsc (moduleResolution ${resolution}):\n${e.stdout}${e.stderr}`);
    }
  }
});

test("server-side rendering: importing in plain Node does not throw, touches no global, fetches nothing", () => {
  const r = runInApp(`
    const fetched = [];
    globalThis.fetch = (url) => { fetched.push(String(url)); throw new Error("fetch at import"); };
    const names = Object.getOwnPropertyNames(globalThis).sort();
    const m = await import("${NAME}");
    const after = Object.getOwnPropertyNames(globalThis).sort();
    console.log(JSON.stringify({
      browserGlobals: ["window", "document", "indexedDB", "localStorage"].filter((g) => g in globalThis),
      exports: Object.keys(m).sort(),
      types: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v])),
      addedGlobals: after.filter((n) => !names.includes(n)),
      removedGlobals: names.filter((n) => !after.includes(n)),
      fetched,
      errorClass: typeof m.OAuthClient.prototype.startLogin,
    }));
  `);
  // The probe really runs where SSR runs: no browser globals.
  assert.deepEqual(r.browserGlobals, []);
  // Exactly what the declarations promise (each a function or class), plus init/initSync.
  const dts = fs.readFileSync(path.join(PKG, `${NAME.replaceAll("-", "_")}.d.ts`), "utf8");
  const declared = [...dts.matchAll(/^export (?:class|function) (\w+)/gm)].map((m) => m[1]);
  const expected = [...new Set([...declared, "default"])].sort();
  assert.ok(expected.includes("OAuthClient") && expected.includes("initSync"), expected.join());
  assert.deepEqual(r.exports, expected);
  assert.deepEqual(r.types, Object.fromEntries(expected.map((k) => [k, "function"])));
  assert.equal(r.errorClass, "function");
  assert.deepEqual(r.addedGlobals, [], "the module defined globals at import");
  assert.deepEqual(r.removedGlobals, []);
  assert.deepEqual(r.fetched, [], "the module fetched at import");
});

test("a freed OAuthClient refuses its calls with an OAuthError, and the module goes on working", () => {
  // wasm-bindgen's class handed Rust a freed client's null pointer, whose check threw through the
  // Wasm frames and left the module's stack pointer behind: after some 8,000 such calls every
  // call of every client in the page trapped ("memory access out of bounds").
  const r = runInApp(`
    import fs from "node:fs";
    const m = await import("${NAME}");
    m.initSync({ module: fs.readFileSync(new URL(import.meta.resolve("${NAME}/atproto_oauth_wasm_bg.wasm"))) });
    const config = { clientId: "https://app.example/client-metadata.json", redirectUri: "https://app.example/" };
    const client = new m.OAuthClient(config);
    client.free();
    const codes = new Set();
    for (let i = 0; i < 20000; i++) {
      try {
        client.isCallback("https://app.example/?state=a&code=b");
        codes.add("returned");
      } catch (e) {
        codes.add(e.name + " " + e.code);
      }
    }
    client.free(); // a second free does nothing
    client[Symbol.dispose]();
    // Something that is not a client, or a forged pointer, is refused the same way.
    const forged = Object.create(m.OAuthClient.prototype);
    forged.__wbg_ptr = 8;
    for (const self of [forged, {}]) {
      try {
        m.OAuthClient.prototype.isCallback.call(self, "https://app.example/");
        codes.add("forged returned");
      } catch (e) {
        codes.add(e.name + " " + e.code);
      }
    }
    // Freed from a getter it was reading: dropped once the call is done, nothing thrown.
    const other = new m.OAuthClient(config);
    let thrown = null;
    try {
      other.startLogin("alice.test", { get display() { other.free(); return "page"; } }).catch(() => {});
    } catch (e) {
      thrown = String(e);
    }
    // Behind a Proxy (Vue's reactive, MobX): it works, and frees the client it stands for.
    const target = new m.OAuthClient(config);
    const proxied = new Proxy(target, {});
    const url = "https://app.example/?state=a&code=b&iss=x";
    const viaProxy = [proxied.isCallback(url)];
    proxied.free();
    for (const self of [proxied, target]) {
      try {
        viaProxy.push(self.isCallback(url));
      } catch (e) {
        viaProxy.push(e.code);
      }
    }
    const after = [
      m.loopbackClientId("http://127.0.0.1/callback", "atproto").startsWith("http://localhost?"),
      new m.OAuthClient(config).isCallback(url),
    ];
    console.log(JSON.stringify({ codes: [...codes], thrown, viaProxy, after }));
  `);
  assert.deepEqual(r, {
    codes: ["OAuthError invalid_input"],
    thrown: null,
    viaProxy: [true, "invalid_input", "invalid_input"],
    after: [true, true],
  });
});
