// The DPoP key against a script on the app's origin (an XSS, a compromised dependency, an
// extension's content script), in each browser, after a real login against the official PDS.
// The "attacker" below uses only what any page script has: the package's module by its URL (ES
// modules are singletons, so it gets the live instance and its Wasm memory), IndexedDB, and
// WebCrypto with the storage key it finds there. It must not get the DPoP private key:
//   - every CryptoKey in the origin's IndexedDB refuses exportKey;
//   - no stored value, raw or decrypted with the store's own AES key, contains the scalar;
//   - the Wasm linear memory holds no copy of the scalar (big- or little-endian: p256 keeps
//     scalars as little-endian 32-bit limbs on wasm32).
// To know what to look for, the test (not the attacker) records every 32-byte value the page
// draws from crypto.getRandomValues while the login starts (a wrapper the test page installs
// before the package's module is evaluated, with sessionStorage["e2e.recordDraws"]), and picks
// the one whose P-256 public key is the JWK in the DPoP proofs: the scalar. It fails if it
// cannot find it, so it cannot pass by looking for the wrong thing.
//
// A second attacker replaces JavaScript built-ins after the package has loaded (WebCrypto's
// methods, typed-array methods and getters, the Wasm memory's `buffer`, array iteration,
// `Promise.prototype.then`, `Function.prototype.call`/`apply`, `Reflect.apply`…) and, whenever
// one of them is called while a login starts, looks at what it was given and at the whole Wasm
// memory. Any of them running while the scalar sits in Wasm memory, or being handed it, would
// give it away.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createECDH } from "node:crypto";

import { authorizeOnPds } from "../../scripts/browsers/authorize.mjs";
import { browsers } from "../../scripts/browsers/index.mjs";
import { startStack } from "./site.mjs";

const b64url = (buf) => Buffer.from(buf).toString("base64url");

/** The uncompressed public point of a P-256 scalar, as JWK x and y. */
function publicJwk(scalar) {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(scalar));
  const point = ecdh.getPublicKey();
  return { x: b64url(point.subarray(1, 33)), y: b64url(point.subarray(33, 65)) };
}

/** Runs in the page before the login starts: records the DPoP proofs the page sends (through
 *  the test page's own tap on the `fetch` the package took at load). */
function instrument() {
  window.__proofs = [];
  window.__fetchTaps.push((input, init) => {
    const headers = input instanceof Request ? input.headers : new Headers(init?.headers);
    const proof = headers.get("dpop");
    if (proof) window.__proofs.push(proof);
  });
}

/** The second attacker: replaces built-ins after the package loaded (see the file's header).
 *  Each replacement calls the original, so the page works as before. What it finds is compared
 *  with the recorded draws (the test's scaffolding, to keep the search cheap: a real attacker
 *  would copy the memory and search it later). */
async function hookBuiltins() {
  const pkg = await import("/pkg/atproto_oauth_wasm.js");
  const { memory } = await pkg.default();
  const apply = Reflect.apply;
  const U8 = Uint8Array;
  const TypedArray = Object.getPrototypeOf(U8.prototype).constructor;
  const bufferOf = Object.getOwnPropertyDescriptor(WebAssembly.Memory.prototype, "buffer").get;
  const isView = ArrayBuffer.isView;
  window.__leaks = [];
  window.__hookCalls = 0;
  let busy = false;
  // Native indexOf for each needle's first byte, then the rest compared: every call of every
  // replaced built-in scans the whole memory, so this must be fast.
  const indexOf = U8.prototype.indexOf;
  const search = (bytes, where) => {
    const draws = window.__draws;
    for (let d = 0; d < draws.length; d++) {
      const be = draws[d];
      for (const [order, needle] of [
        ["big-endian", be],
        ["little-endian", [...be].reverse()],
      ]) {
        for (let i = apply(indexOf, bytes, [needle[0]]); i >= 0 && i + 32 <= bytes.length;) {
          let j = 1;
          while (j < 32 && bytes[i + j] === needle[j]) j++;
          if (j === 32) {
            window.__leaks.push({ draw: d, where: `${where} (${order})` });
            break;
          }
          i = apply(indexOf, bytes, [needle[0], i + 1]);
        }
      }
    }
  };
  const look = (name, self, args) => {
    if (busy || window.__hooksOff) return;
    busy = true;
    try {
      window.__hookCalls++;
      search(new U8(apply(bufferOf, memory, [])), `Wasm memory during ${name}`);
      for (const [i, v] of [self, ...args].entries()) {
        if (isView(v)) search(new U8(v.buffer, v.byteOffset, v.byteLength), `${name} argument ${i}`);
        else if (v instanceof ArrayBuffer) search(new U8(v), `${name} argument ${i}`);
      }
    } finally {
      busy = false;
    }
  };
  const hookMethod = (owner, key, name) => {
    const original = owner[key];
    if (typeof original !== "function") return;
    Object.defineProperty(owner, key, {
      configurable: true,
      writable: true,
      value: {
        [name](...args) {
          look(name, this, args);
          const out = new.target ? Reflect.construct(original, args, new.target) : apply(original, this, args);
          look(`${name} (after)`, this, args); // e.g. what getRandomValues wrote
          return out;
        },
      }[name],
    });
  };
  const hookGetter = (owner, key, name) => {
    const d = Object.getOwnPropertyDescriptor(owner, key);
    if (!d?.get) return;
    Object.defineProperty(owner, key, {
      configurable: true,
      get() {
        look(name, this, []);
        return apply(d.get, this, []);
      },
    });
  };
  hookMethod(crypto, "getRandomValues", "crypto.getRandomValues");
  hookMethod(Crypto.prototype, "getRandomValues", "Crypto.prototype.getRandomValues");
  for (const m of ["importKey", "sign", "digest", "encrypt", "decrypt", "generateKey", "exportKey"])
    hookMethod(SubtleCrypto.prototype, m, `SubtleCrypto.prototype.${m}`);
  for (const m of ["subarray", "slice", "set", "fill"]) hookMethod(TypedArray.prototype, m, `TypedArray.${m}`);
  for (const g of ["byteLength", "length", "buffer", "byteOffset"])
    hookGetter(TypedArray.prototype, g, `TypedArray.${g}`);
  hookGetter(WebAssembly.Memory.prototype, "buffer", "WebAssembly.Memory.buffer");
  hookMethod(Array.prototype, "push", "Array.prototype.push");
  hookMethod(Array.prototype, Symbol.iterator, "Array.prototype[Symbol.iterator]");
  hookMethod(Promise.prototype, "then", "Promise.prototype.then");
  hookMethod(TextEncoder.prototype, "encode", "TextEncoder.encode");
  hookMethod(TextEncoder.prototype, "encodeInto", "TextEncoder.encodeInto");
  hookMethod(TextDecoder.prototype, "decode", "TextDecoder.decode");
  hookMethod(Function.prototype, "call", "Function.prototype.call");
  hookMethod(Function.prototype, "apply", "Function.prototype.apply");
  hookMethod(Reflect, "apply", "Reflect.apply");
}

/** The third attacker: replaces, after the package loaded, everything a request passes through
 *  on its way out (`fetch`, `Request`, `Headers` and their methods and iterators, `SubtleCrypto.sign`,
 *  `TextEncoder.encode`, `Array.prototype.push`, `String.prototype[Symbol.split]`). Through any
 *  of them it could read the DPoP proofs and put its own in their place (a proof of a key it
 *  holds: the server would bind the next sign-in's tokens to that key, usable anywhere). Each
 *  replacement records what it was given that carries a proof, and passes the call on. */
function hookRequests() {
  const seen = (window.__requestHooks = []);
  const apply = Reflect.apply;
  const proofLike = (v) => typeof v === "string" && /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(v);
  const note = (name, args) => {
    for (const a of args) {
      if (proofLike(a)) seen.push(`${name}: a proof`);
      else if (typeof a === "string" && /(^|\n)dpop$/i.test(a)) seen.push(`${name}: the DPoP header`);
      else if (a instanceof Request && a.headers.has("dpop")) seen.push(`${name}: a request with a proof`);
      else if (a && typeof a === "object" && a.headers) {
        const h = a.headers instanceof Headers ? a.headers : new Headers(a.headers);
        if (h.has("dpop")) seen.push(`${name}: init with a proof`);
      } else if (typeof a === "string" && a.includes("\n") && /eyJ/.test(a)) seen.push(`${name}: a request head`);
    }
  };
  const wrap = (owner, key, name) => {
    const original = owner[key];
    const replacement = function (...args) {
      note(name, args);
      return new.target ? Reflect.construct(original, args, new.target) : apply(original, this, args);
    };
    if (original.prototype) replacement.prototype = original.prototype;
    Object.defineProperty(owner, key, { configurable: true, writable: true, value: replacement });
  };
  for (const m of ["append", "set"]) wrap(Headers.prototype, m, `Headers.prototype.${m}`);
  // What reads a Headers object's entries (`Request` converting its `headers` option does).
  for (const m of [Symbol.iterator, "entries", "forEach"]) {
    const original = Headers.prototype[m];
    Object.defineProperty(Headers.prototype, m, {
      configurable: true,
      writable: true,
      value: function (...args) {
        if (this instanceof Headers && this.has("dpop")) seen.push(`Headers.prototype[${String(m)}]: a proof`);
        return apply(original, this, args);
      },
    });
  }
  wrap(window, "fetch", "fetch");
  wrap(window, "Request", "Request");
  wrap(window, "Headers", "Headers");
  wrap(SubtleCrypto.prototype, "sign", "SubtleCrypto.prototype.sign");
  wrap(TextEncoder.prototype, "encode", "TextEncoder.prototype.encode");
  wrap(Array.prototype, "push", "Array.prototype.push");
  // Looked up even for a string separator ("a\nb".split("\n")); passed on by splitting once
  // without it.
  const split = function (string, limit) {
    note("String.prototype[Symbol.split]", [string]);
    const separator = String(this);
    delete String.prototype[Symbol.split];
    try {
      return string.split(separator, limit);
    } finally {
      Object.defineProperty(String.prototype, Symbol.split, { configurable: true, value: split });
    }
  };
  Object.defineProperty(String.prototype, Symbol.split, { configurable: true, value: split });
}

/** A fourth attacker, after load: what promises settle with and what strings are decoded.
 * `Promise.prototype.then` (each value it hands on), `Promise.prototype.constructor` (asked by
 * `await` and by `then`: a constructor of its own makes `await` follow the promise through the
 * replaced `then`) and `TextDecoder.prototype.decode` (each string it makes). The new DPoP key
 * (a CryptoKey, bare or in an object, from `importKey`), a 64-byte signature or a proof's
 * signing input seen there could be kept, or swapped for a key, a signature or a URL of the
 * script's own. `keys`: whether to look for the key (while a login starts, when it is made; a
 * key read back from IndexedDB later is the stored one, which any script of the origin can
 * read there, see the threat model). */
function hookPromises(keys) {
  const seen = (window.__promiseHooks = []);
  const apply = Reflect.apply;
  // `instanceof` as it was: the hook below replaces what `x instanceof CryptoKey` calls.
  const hasInstance = Function.prototype[Symbol.hasInstance];
  const ecdsa = (x) => apply(hasInstance, CryptoKey, [x]) && x.algorithm.name === "ECDSA";
  const hasKey = (v) => {
    if (ecdsa(v)) return true;
    if (!v || typeof v !== "object") return false;
    try {
      return Object.values(v).some(ecdsa);
    } catch {
      return false;
    }
  };
  const look = (where, v) => {
    if (keys && hasKey(v)) seen.push(`${where}: the DPoP key`);
    else if (v instanceof ArrayBuffer && v.byteLength === 64) seen.push(`${where}: a signature`);
    else if (typeof v === "string" && v.startsWith("eyJ0eXAiOiJkcG9wK2p3dCIs")) seen.push(`${where}: a proof's input`);
  };
  const then = Promise.prototype.then;
  Promise.prototype.then = function (ok, err) {
    const watched =
      typeof ok === "function"
        ? function (value) {
            look("Promise.prototype.then", value);
            return apply(ok, this, [value]);
          }
        : ok;
    return apply(then, this, [watched, err]);
  };
  // A constructor of its own, so that `await` on a native promise goes through `then` above;
  // and asked for as a getter, which every `then` call does (for the species of the promise it
  // makes), even one made with a `then` taken before this script ran: the getter is handed the
  // promise itself, and follows it to see what it settles with.
  class Watched extends Promise {}
  let asking = false;
  Object.defineProperty(Promise.prototype, "constructor", {
    configurable: true,
    get() {
      if (asking) return Promise;
      asking = true;
      try {
        apply(then, this, [(value) => look("Promise.prototype.constructor", value), () => {}]);
      } finally {
        asking = false;
      }
      return Watched;
    },
  });
  // `x instanceof CryptoKey` calls `CryptoKey[Symbol.hasInstance]`, which a script can define.
  Object.defineProperty(CryptoKey, Symbol.hasInstance, {
    configurable: true,
    value(value) {
      look("CryptoKey[Symbol.hasInstance]", value);
      return apply(hasInstance, this, [value]);
    },
  });
  const decode = TextDecoder.prototype.decode;
  TextDecoder.prototype.decode = function (...args) {
    const text = apply(decode, this, args);
    look("TextDecoder.prototype.decode", text);
    return text;
  };
}

/** The attacker, in the page. `needles` are byte strings (as arrays) that must appear nowhere. */
async function attack(needles) {
  const found = [];
  const hasNeedle = (bytes, where) => {
    for (const [name, needle] of Object.entries(needles)) {
      outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
        for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
        found.push(`${name} in ${where} at ${i}`);
        break;
      }
    }
  };
  const enc = new TextEncoder();

  // 1. Wasm memory, through the package module as any page script can reach it.
  const pkg = await import("/pkg/atproto_oauth_wasm.js");
  const exports = await pkg.default();
  hasNeedle(new Uint8Array(exports.memory.buffer), "wasm memory");
  // …and every JS object the module holds (its exported tables of references).
  const held = [];
  for (const [name, value] of Object.entries(exports)) {
    if (!(value instanceof WebAssembly.Table)) continue;
    for (let i = 0; i < value.length; i++) {
      try {
        held.push([`${name}[${i}]`, value.get(i)]);
      } catch {}
    }
  }

  // 2. IndexedDB: every database, store and value.
  const keys = [];
  const records = [];
  const walk = (value, where) => {
    if (value instanceof CryptoKey) keys.push({ key: value, where });
    else if (ArrayBuffer.isView(value))
      hasNeedle(new Uint8Array(value.buffer, value.byteOffset, value.byteLength), where);
    else if (value instanceof ArrayBuffer) hasNeedle(new Uint8Array(value), where);
    else if (typeof value === "string") hasNeedle(enc.encode(value), where);
    else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, `${where}.${k}`);
  };
  const request = (r) =>
    new Promise((ok, fail) => ((r.onsuccess = () => ok(r.result)), (r.onerror = () => fail(r.error))));
  // Not recursed into: the table also holds the global object, the document, functions…
  for (const [where, value] of held)
    if (
      !(value instanceof Object) ||
      value instanceof CryptoKey ||
      ArrayBuffer.isView(value) ||
      value instanceof ArrayBuffer
    )
      walk(value, where);
  const databases = await indexedDB.databases();
  for (const { name } of databases) {
    const db = await request(indexedDB.open(name));
    for (const store of db.objectStoreNames) {
      const tx = db.transaction(store, "readonly");
      const ids = await request(tx.objectStore(store).getAllKeys());
      const values = await request(tx.objectStore(store).getAll());
      ids.forEach((id, i) => {
        walk(values[i], `${name}/${store}/${id}`);
        records.push({ db: name, store, id: String(id), value: values[i] });
      });
    }
    db.close();
  }

  // 3. Every CryptoKey refuses to be exported; AES keys are used to decrypt every record the
  //    way the store does (iv || ciphertext, additional data naming the record).
  const exported = [];
  for (const { key, where } of keys) {
    for (const format of ["pkcs8", "jwk", "raw", "spki"]) {
      try {
        await crypto.subtle.exportKey(format, key);
        exported.push(`${where} as ${format}`);
      } catch {}
    }
  }
  const aesKeys = keys.filter(({ key }) => key.algorithm.name === "AES-GCM");
  let decrypted = 0;
  for (const { key } of aesKeys) {
    for (const r of records) {
      const sealed = r.value instanceof Uint8Array ? r.value : r.value?.sealed;
      if (!(sealed instanceof Uint8Array) || sealed.length < 28) continue;
      try {
        const plain = await crypto.subtle.decrypt(
          {
            name: "AES-GCM",
            iv: sealed.subarray(0, 12),
            additionalData: enc.encode(`atproto-oauth-wasm/${r.store}/${r.id}`),
          },
          key,
          sealed.subarray(12),
        );
        decrypted++;
        hasNeedle(new Uint8Array(plain), `decrypted ${r.db}/${r.store}/${r.id}`);
      } catch {}
    }
  }
  const kinds = keys.map(
    ({ key, where }) => `${where}: ${key.algorithm.name} ${key.type} extractable=${key.extractable} ${key.usages}`,
  );
  return { found, exported, decrypted, keys: kinds, memory: exports.memory.buffer.byteLength };
}

/** Signs `account` in at the PDS from the authorization page `url`, finishes the callback on
 *  the page (after `onCallbackPage`, if given, has run there) and makes one call. */
async function signInAndCall(page, site, account, url, onCallbackPage) {
  await page.goto(url);
  await authorizeOnPds(page, { password: account.password });
  await page.waitForUrl((u) => u.href.startsWith(`${site.url}/callback`), { timeout: 30_000 });
  await page.waitFor(() => window.ready === true, undefined, { what: "the callback page" });
  await onCallbackPage?.();
  const done = await page.evaluate(() => window.call("handleCallback"));
  assert.ok(done.ok, JSON.stringify(done));
  const listed = await page.evaluate(
    (did) => window.call("fetchRecords", did, "app.bsky.feed.post", { limit: 1 }),
    account.did,
  );
  assert.ok(listed.ok, JSON.stringify(listed));
}

/** Opens the test page with the draws recorded from before the package loads. */
async function recordingDraws(page, site) {
  await page.goto(`${site.url}/`);
  await page.evaluate(() => sessionStorage.setItem("e2e.recordDraws", "1"));
  await page.goto(`${site.url}/`);
  await page.waitFor(() => window.ready === true, undefined, { what: "the test page" });
}

/** The DPoP scalar among the page's recorded draws: the one whose public key signs its proofs. */
function scalarOf(draws, proofs) {
  assert.ok(proofs.length > 0, "the PAR request carried a DPoP proof");
  const jwk = JSON.parse(Buffer.from(proofs[0].split(".")[0], "base64url")).jwk;
  const found = [];
  draws.forEach((d, i) => {
    try {
      const pub = publicJwk(d);
      if (pub.x === jwk.x && pub.y === jwk.y) found.push(i);
    } catch {}
  });
  assert.equal(found.length, 1, `the DPoP scalar is one of the ${draws.length} random draws`);
  return found[0];
}

for (const name of browsers()) {
  describe(name, () => {
    let pds, site, browser, stack;

    before(async () => ({ pds, site, browser } = stack = await startStack(name)));
    after(() => stack?.stop());

    test("a script on the page cannot take the DPoP private key", async () => {
      const alice = pds.accounts[0];
      const page = await browser.newPage();
      await recordingDraws(page, site);
      await page.evaluate(instrument);
      const start = await page.evaluate((h) => window.call("startLogin", h), alice.handle);
      assert.ok(start.ok, JSON.stringify(start));
      const { draws, proofs } = await page.evaluate(() => ({
        draws: window.__draws.map((d) => Array.from(d)),
        proofs: window.__proofs,
      }));
      const scalar = draws[scalarOf(draws, proofs)];
      const text = (s) => [...Buffer.from(s)];
      const needles = {
        "scalar (big-endian)": scalar,
        "scalar (little-endian)": [...scalar].reverse(),
        "scalar (base64url)": text(b64url(scalar)),
        "scalar (base64)": text(Buffer.from(scalar).toString("base64").replace(/=+$/, "")),
        "scalar (hex)": text(Buffer.from(scalar).toString("hex")),
      };

      // Before the callback: the pending login's key.
      const pending = await page.evaluate(attack, needles);
      assert.deepEqual(pending.found, [], "the key is nowhere a page script can read (login pending)");
      assert.deepEqual(pending.exported, [], "no stored CryptoKey can be exported");

      // Sign in, use the session, then attack again.
      await signInAndCall(page, site, alice, start.value.url);

      const signedIn = await page.evaluate(attack, needles);
      assert.deepEqual(signedIn.found, [], "the key is nowhere a page script can read (signed in)");
      assert.deepEqual(signedIn.exported, [], "no stored CryptoKey can be exported");
      assert.ok(signedIn.decrypted >= 1, `the attacker decrypted the stored records (${signedIn.decrypted})`);
      assert.ok(
        signedIn.keys.some((k) => /ECDSA private extractable=false sign/.test(k)),
        `the session's key is a non-extractable ECDSA key: ${signedIn.keys.join("; ")}`,
      );
      await page.close();
    });

    test("a script that replaces fetch and the like after the package loaded sees no proof", async () => {
      const alice = pds.accounts[0];
      const page = await browser.newPage();
      await page.goto(`${site.url}/`);
      await page.waitFor(() => window.ready === true, undefined, { what: "the test page" });
      await page.evaluate(hookRequests);
      const start = await page.evaluate((h) => window.call("startLogin", h), alice.handle);
      assert.ok(start.ok, JSON.stringify(start));
      // A new page: the hooks again, after the package loaded, for the token request and a call.
      await signInAndCall(page, site, alice, start.value.url, () => page.evaluate(hookRequests));
      const seen = await page.evaluate(() => window.__requestHooks);
      assert.deepEqual([...new Set(seen)], [], "no replaced function saw a DPoP proof");
      // The hooks work: a request of the page's own passes through them.
      const own = await page.evaluate(async () => {
        await fetch("/", { headers: { DPoP: "eyJa.eyJb.c" } });
        return window.__requestHooks.length;
      });
      assert.ok(own > 0, "the hooks saw the page's own request");
      await page.close();
    });

    test("a script that replaces Promise's then and constructor, CryptoKey's instanceof and TextDecoder's decode after the package loaded is handed no key, signature or proof input", async () => {
      const alice = pds.accounts[0];
      const page = await browser.newPage();
      await page.goto(`${site.url}/`);
      await page.waitFor(() => window.ready === true, undefined, { what: "the test page" });
      await page.evaluate(hookPromises, true);
      const start = await page.evaluate((h) => window.call("startLogin", h), alice.handle);
      assert.ok(start.ok, JSON.stringify(start));
      const starting = await page.evaluate(() => window.__promiseHooks);
      assert.deepEqual([...new Set(starting)], [], "while the login started: no key, signature or proof input");
      await signInAndCall(page, site, alice, start.value.url, () => page.evaluate(hookPromises, false));
      const seen = await page.evaluate(() => window.__promiseHooks);
      assert.deepEqual([...new Set(seen)], [], "token request and call: no signature or proof input");
      // The hooks work: the page's own signature passes through them.
      const own = await page.evaluate(async () => {
        const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
        await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, new Uint8Array(1));
        return window.__promiseHooks.length;
      });
      assert.ok(own > 0, "the hooks saw the page's own signature");
      await page.close();
    });

    test("built-ins replaced after the package loaded never see the DPoP private key", async () => {
      const alice = pds.accounts[0];
      const page = await browser.newPage();
      await recordingDraws(page, site);
      await page.evaluate(instrument);
      await page.evaluate(hookBuiltins);
      const start = await page.evaluate((h) => window.call("startLogin", h), alice.handle);
      assert.ok(start.ok, JSON.stringify(start));
      const seen = await page.evaluate(() => ({
        off: (window.__hooksOff = true),
        draws: window.__draws.map((d) => Array.from(d)),
        proofs: window.__proofs,
        leaks: window.__leaks,
        calls: window.__hookCalls,
      }));
      const scalar = scalarOf(seen.draws, seen.proofs);
      assert.ok(seen.calls > 0, "the replaced built-ins were called while the login started");
      const leaks = seen.leaks.filter((l) => l.draw === scalar).map((l) => l.where);
      assert.deepEqual([...new Set(leaks)], [], "no replaced built-in saw the DPoP scalar");
      await page.close();
    });
  });
}
