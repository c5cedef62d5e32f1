// `npm start` itself, run as a newcomer runs it: it prints the demo URL and the demo accounts'
// handles and passwords, serves the page and the package there, and Ctrl-C stops everything it
// started (the page server and the local PDS). demo.test.mjs clicks through the page it serves.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function portOpen(port) {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

test(
  "npm start prints the URL and demo credentials, serves the demo, and Ctrl-C stops it all",
  { timeout: 600_000 },
  async () => {
    // Its own process group, so that a failure below can still stop npm and everything under it.
    const child = spawn("npm", ["start"], { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    try {
      const deadline = Date.now() + 540_000;
      while (!/Ctrl-C to stop/.test(out)) {
        if (child.exitCode !== null) assert.fail(`npm start exited (${child.exitCode}):\n${out}`);
        if (Date.now() > deadline) assert.fail(`npm start printed no ready line:\n${out}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(out, /demo: open http:\/\/127\.0\.0\.1:8080\//);
      assert.match(out, /alice\.test\s+password: alice-pass/);
      assert.match(out, /bob\.test\s+password: bob-pass/);

      const page = await fetch("http://127.0.0.1:8080/");
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script[^>]+app\.js/);
      const wasm = await fetch("http://127.0.0.1:8080/pkg/atproto_oauth_wasm_bg.wasm");
      assert.equal(wasm.status, 200);
      assert.equal(wasm.headers.get("content-type"), "application/wasm");
      assert.ok(WebAssembly.validate(new Uint8Array(await wasm.arrayBuffer())));
      const config = await (await fetch("http://127.0.0.1:8080/config.json")).json();
      assert.equal(config.network, "local");
      assert.equal(config.pds, "http://localhost:2583");
      assert.equal(await portOpen(2583), true, "the local PDS is up");

      // Ctrl-C in a terminal signals the whole foreground process group.
      process.kill(-child.pid, "SIGINT");
      const { code, signal } = await exited;
      assert.ok(code === 0 || code === 130 || signal === "SIGINT", `exit code ${code}, signal ${signal}\n${out}`);
      for (let i = 0; i < 50 && ((await portOpen(8080)) || (await portOpen(2583))); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(await portOpen(8080), false, "the page server stopped");
      assert.equal(await portOpen(2583), false, "the PDS stopped");
    } finally {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }
  },
);
