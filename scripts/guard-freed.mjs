// node scripts/guard-freed.mjs <out dir>: makes wasm-bindgen's `OAuthClient` class safe to call
// once freed, freed twice, or freed while one of its own calls is running (before
// scripts/minify-glue.mjs).
//
// Why: the generated class hands Rust the pointer it keeps in `this.__wbg_ptr`: 0 once
// `free()` (or `[Symbol.dispose]`, as `using` calls it) ran. Rust's null check then throws a
// plain Error through the Wasm frames, which leaves the module's stack pointer behind (128 bytes
// a call): after some 8,000 calls on a freed client, every call of every client in the page
// trapped with "memory access out of bounds". A second `free()` did the same (16 bytes), and a
// `free()` from a getter the client was reading (its options) threw "attempted to take ownership
// of Rust value while it was borrowed" through the frames.
//
// Now the pointers of live clients are kept in a Set: a method whose `this.__wbg_ptr` is not
// one (a freed client, something that is not a client, a forged pointer) throws an
// `OAuthError` (`invalid_input`) before Wasm is entered. The pointer is still read through
// `this`, so a client behind a Proxy (Vue's `reactive`, MobX, a logging wrapper) works as
// before (a WeakMap keyed by the object refused it). `free()` frees a live pointer once, and
// drops the Rust value when its calls are done (wasm-bindgen's `allow_delayed`, as the
// FinalizationRegistry already does); the FinalizationRegistry frees only a pointer still live
// (a Proxy's `free()` cannot unregister the object, which would have been freed twice).
//
// Each rewrite must match exactly as often as expected, or the build fails (a newer wasm-bindgen
// that generates other code needs this script looked at again).
import fs from "node:fs";
import path from "node:path";

const out = process.argv[2];
if (!out) throw new Error("usage: guard-freed.mjs <out dir>");
const die = (msg) => {
  console.error(`guard-freed: ${msg}`);
  process.exit(1);
};

const HELPER = `
function OAuthClientPointer(client) {
  const ptr = client?.__wbg_ptr;
  if (!OAuthClientLive.has(ptr)) {
    const e = new Error("this OAuthClient was freed (free() or [Symbol.dispose]), or is not one: make a new one");
    e.name = "OAuthError";
    e.code = "invalid_input";
    throw e;
  }
  return ptr;
}
`;

for (const glue of fs.readdirSync(out).filter((f) => f.endsWith(".js"))) {
  const file = path.join(out, glue);
  let source = fs.readFileSync(file, "utf8");
  if (!/^export class OAuthClient \{/m.test(source)) continue;
  const rewrite = (pattern, replacement, expected) => {
    const found = source.match(pattern)?.length ?? 0;
    const ok = typeof expected === "number" ? found === expected : found >= expected.min;
    if (!ok) die(`${glue}: ${pattern} matched ${found} times (expected ${JSON.stringify(expected)})`);
    source = source.replace(pattern, replacement);
  };
  // The set, before the class (the FinalizationRegistry below it uses it).
  rewrite(/^export class OAuthClient \{$/gm, "const OAuthClientLive = new Set();\nexport class OAuthClient {", 1);
  // Every method: a live pointer, or a typed error before Wasm is entered.
  rewrite(/wasm\.oauthclient_(\w+)\(this\.__wbg_ptr\b/g, "wasm.oauthclient_$1(OAuthClientPointer(this)", { min: 10 });
  // The constructor records the pointer.
  rewrite(
    /^(\s*)OAuthClientFinalization\.register\(this, this\.__wbg_ptr, this\);$/gm,
    "$1OAuthClientFinalization.register(this, this.__wbg_ptr, this);\n$1OAuthClientLive.add(this.__wbg_ptr);",
    1,
  );
  // Freeing takes the pointer out of the set: once.
  rewrite(
    /^(\s*)const ptr = this\.__wbg_ptr;\n(\s*)this\.__wbg_ptr = 0;$/gm,
    "$1const live = this.__wbg_ptr;\n$1const ptr = OAuthClientLive.delete(live) ? live : 0;\n$2this.__wbg_ptr = 0;",
    1,
  );
  // The FinalizationRegistry frees only a pointer still live.
  rewrite(
    /new FinalizationRegistry\(ptr => wasm\.__wbg_oauthclient_free\(ptr, 1\)\)/g,
    "new FinalizationRegistry(ptr => { if (OAuthClientLive.delete(ptr)) wasm.__wbg_oauthclient_free(ptr, 1); })",
    1,
  );
  // A pointer already taken frees nothing; a client still in one of its calls is dropped when
  // that call is done.
  rewrite(
    /^(\s*)wasm\.__wbg_oauthclient_free\(ptr, 0\);$/gm,
    "$1if (ptr !== 0) wasm.__wbg_oauthclient_free(ptr, 1);",
    1,
  );
  source += HELPER;
  fs.writeFileSync(file, source);
}
