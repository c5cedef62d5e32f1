// tests/webkit-jit/run.mjs — reproduces a WebKitGTK 2.50 Wasm engine fault (README.md here).
//
//   node tests/webkit-jit/run.mjs [--release] [--rounds N] [--pages N] [JSC_option=value ...]
//
// Builds this crate's .wasm (debug unless --release), then in WebKitGTK's MiniBrowser (through
// WebKitWebDriver, under an Xvfb of its own) compiles it afresh `rounds` times per page, and each
// time computes the public points of three random P-256 scalars. Node's own P-256 (OpenSSL) says
// what they must be. JSC_ options are given to the browser's environment, which JavaScriptCore
// reads its options from. Prints each wrong answer and a count; exits 1 if there was any.

import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchWebKit } from "../../scripts/browsers/webdriver.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : Number(args.splice(i, 2)[1]);
};
const releaseAt = args.indexOf("--release");
const release = releaseAt >= 0;
if (release) args.splice(releaseAt, 1);
const ROUNDS = flag("--rounds", 300);
const PAGES = flag("--pages", 5);
const PER_ROUND = 3;
for (const a of args) {
  const m = /^(JSC_\w+)=(.*)$/.exec(a);
  if (!m) throw new Error(`not an option: ${a} (JSC_name=value)`);
  process.env[m[1]] = m[2];
}

const target = path.join(HERE, "../../target/webkit-jit");
const build = spawnSync(
  "cargo",
  ["build", "--quiet", "--target", "wasm32-unknown-unknown", ...(release ? ["--release"] : [])],
  { cwd: HERE, stdio: "inherit", env: { ...process.env, CARGO_TARGET_DIR: target } },
);
if (build.status !== 0) process.exit(1);
const wasm = readFileSync(
  path.join(target, "wasm32-unknown-unknown", release ? "release" : "debug", "webkit_jit_repro.wasm"),
);

const server = createServer((req, res) => {
  if (req.url === "/repro.wasm") res.writeHead(200, { "content-type": "application/wasm" }).end(wasm);
  else res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>webkit-jit</title>");
}).listen(0, "127.0.0.1");
await new Promise((r) => server.once("listening", r));
const url = `http://127.0.0.1:${server.address().port}/`;

const browser = await launchWebKit();
let wrong = 0;
try {
  for (let p = 0; p < PAGES; p++) {
    const cases = Array.from({ length: ROUNDS * PER_ROUND }, () => {
      const ecdh = crypto.createECDH("prime256v1");
      ecdh.generateKeys();
      return [ecdh.getPrivateKey("hex").padStart(64, "0"), ecdh.getPublicKey("hex")];
    });
    const page = await browser.newPage();
    await page.goto(url);
    const bad = await page.evaluate(
      async ({ cases, rounds, perRound }) => {
        const bytes = await (await fetch("/repro.wasm")).arrayBuffer();
        const hex = (u) => Array.from(u, (b) => b.toString(16).padStart(2, "0")).join("");
        const bad = [];
        let n = 0;
        for (let r = 0; r < rounds; r++) {
          // A new compilation each round: the engine tiers the module's code up from the start.
          const { exports } = await WebAssembly.instantiate(await WebAssembly.compile(bytes), {});
          const at = exports.buf();
          for (let k = 0; k < perRound; k++, n++) {
            const [scalar, point] = cases[n];
            const mem = new Uint8Array(exports.memory.buffer);
            for (let i = 0; i < 32; i++) mem[at + i] = parseInt(scalar.slice(2 * i, 2 * i + 2), 16);
            try {
              const ok = exports.point();
              const got = hex(new Uint8Array(exports.memory.buffer, at + 32, 65));
              if (ok !== 1 || got !== point) bad.push({ round: r, call: k, scalar, point, got });
            } catch (e) {
              bad.push({ round: r, call: k, scalar, point, trap: String(e) });
              break; // the instance's state is unknown after a trap
            }
          }
        }
        return bad;
      },
      { cases, rounds: ROUNDS, perRound: PER_ROUND },
    );
    for (const b of bad) console.log("wrong:", JSON.stringify(b));
    wrong += bad.length;
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
const options = Object.keys(process.env).filter((k) => k.startsWith("JSC_"));
console.log(
  `${wrong} wrong of ${ROUNDS * PER_ROUND * PAGES} (${release ? "release" : "debug"} build, ` +
    `${ROUNDS * PAGES} compilations${options.length ? `, ${options.map((k) => `${k}=${process.env[k]}`).join(" ")}` : ""})`,
);
process.exit(wrong ? 1 : 0);
