// The browser glue in JavaScript, one module (inlined into the package's glue at build time by
// scripts/inline-snippets.mjs): each function here is called once per operation from Rust and
// does the whole operation, so a request, a stored record, a lock or a sign-in popup costs one
// crossing of the Wasm boundary instead of one per JS object, and none of this is in the .wasm.
// One module, not one per concern: wasm-bindgen-test's service-worker runs failed to load the
// test module at random with several snippet modules (see README, "Where the bytes are").
// Every exported function resolves, never rejects: to its answer, or to { failure, detail }.

const encoder = new TextEncoder();

// ---- Taken when the package is loaded (src/browser/crypto.rs says why)
// A page script that replaces built-ins afterwards (WebCrypto's methods, typed-array methods and
// getters, the memory's `buffer`, `Reflect.apply`, `Function.prototype.call`…) must not be
// called while a DPoP private key is in Wasm memory: `randomFill` and `keyImport` use only
// these. (A script that runs before the package is loaded can replace anything any library
// uses; no JavaScript can defend against that.)
const apply = Reflect.apply;
const Bytes = Uint8Array;
const fillBytes = Bytes.prototype.fill;
const setBytes = Bytes.prototype.set;
const memoryBuffer = Object.getOwnPropertyDescriptor(globalThis.WebAssembly?.Memory?.prototype ?? {}, "buffer")?.get;
const webCrypto = globalThis.crypto;
const drawRandom = webCrypto?.getRandomValues;
const loadSubtle = webCrypto?.subtle;
const loadImportKey = loadSubtle?.importKey;
const EC_IMPORT = { name: "ECDSA", namedCurve: "P-256" };
const SIGN_ONLY = ["sign"];
// And what makes and sends a request: a script that replaced `fetch`, `Request`, `Headers` (its
// `append` or its iterator), `sign`, `Array.prototype.push` or `String.prototype[Symbol.split]`
// could otherwise put a proof of a key of its own in place of the package's, and the next
// sign-in's tokens would be bound to that key, usable anywhere. (The request's head is read with
// `indexOf` and `slice`, which consult nothing a script can replace; `split` looks up
// `Symbol.split` even for a string separator. The body is copied with `set`.)
let loadFetch = globalThis.fetch;
const LoadRequest = globalThis.Request;
const loadSign = loadSubtle?.sign;
const encodeText = TextEncoder.prototype.encode;
const textIndexOf = String.prototype.indexOf;
// Promises are followed with the `then` taken here, and the key's and the signature's answers
// settle prototype-less objects: `await`, or resolving with an object that has a prototype,
// looks up `then` (and a promise's `constructor`) when it runs, where a later script could
// put its own and be handed the CryptoKey or the signature, or hand over a key of its own.
const promiseThen = Promise.prototype.then;
const LoadPromise = Promise;
const LoadCryptoKey = globalThis.CryptoKey;
const defineOwn = Reflect.defineProperty;
const NO_SPECIES = { __proto__: null, value: undefined };
/** `apply(promiseThen, promise, handlers)`, without asking `promise` for its `constructor`:
 * `then` reads it (for the species of the promise it makes), and a later script's getter there
 * would be handed `promise`, and through it what it settles with (the new DPoP key, a
 * signature). An own `constructor` of `undefined` makes `then` use the built-in `Promise`
 * unasked. Only for promises of the package's own making, which no app ever sees. */
function thenOwn(promise, handlers) {
  defineOwn(promise, "constructor", NO_SPECIES);
  apply(promiseThen, promise, handlers);
}
// `instanceof` calls the class's `Symbol.hasInstance`, which a later script can define on
// `CryptoKey` (as an own property) and be handed the value checked: the one taken here instead.
const hasInstance = Function.prototype[Symbol.hasInstance];
const isCryptoKey = (value) => apply(hasInstance, LoadCryptoKey, [value]);
const utf8 = new TextDecoder();
const decodeUtf8 = TextDecoder.prototype.decode;
/** A promise settled with `value` (a prototype-less object or a primitive). */
const settled = (value) => new LoadPromise((resolve) => resolve(value));
/** `promise` followed with the `then` taken at load: a promise of `ok(value)`, or of
 * `no(reason)` when it rejects, when `ok` throws, or when it cannot be followed. Never one that
 * stays pending. */
function follow(promise, ok, no) {
  return new LoadPromise((resolve) => {
    const fail = (e) => resolve(no(e));
    const fulfilled = (value) => {
      try {
        resolve(ok(value));
      } catch (e) {
        fail(e);
      }
    };
    try {
      thenOwn(promise, [fulfilled, fail]);
    } catch (e) {
      fail(e);
    }
  });
}
const sliceText = String.prototype.slice;

/** A view of `len` bytes at `at` in the module's `memory`. */
const wasmBytes = (memory, at, len) => new Bytes(apply(memoryBuffer, memory, []), at, len);

/** Fills `len` bytes at `at` in Wasm memory from crypto.getRandomValues, in place (at most
 * 65,536 bytes per call, as getRandomValues allows). False if there is none or it failed. */
export function randomFill(memory, at, len) {
  try {
    for (let done = 0; done < len; done += 65536) {
      apply(drawRandom, webCrypto, [wasmBytes(memory, at + done, len - done > 65536 ? 65536 : len - done)]);
    }
    return true;
  } catch {
    return false;
  }
}

// ---- HTTP (src/browser/http.rs)
// One HTTP request, start to finish, for src/browser/http.rs (which says why it is JS).
// `head` is the request's method, URL and headers in one string (one string decoded out of Wasm
// memory per request, not one per part): "METHOD\nURL\nname\nvalue\n…".
// Resolves, never rejects, to { status, headers: "name\nvalue\n"…, body, redirected } or to
// { failure: "invalid" | "network" | "timeout" | "too_large" | "redirect" | "crypto", detail }
// ("redirect": a request with a body was answered with a redirect, which it does not follow).

const failed = (failure, detail = "") => ({ __proto__: null, failure, detail });

// One deadline aborts the fetch and is raced against every step, so a fetch or stream that
// ignores its signal cannot hang the caller. The body is a stream, refused past `max` bytes
// (fetch decompresses, so Content-Length does not bound it). `body` is a view into Wasm memory:
// copied first, before anything else runs.
/** A human-readable message for whatever JS threw or rejected with (here, and in
 * src/browser/js.rs): an
 * `Error` by name and message; a string as it is; an object by its string `name` and `message`
 * (a DOMException is not `instanceof Error` in every engine); anything else as `String(value)`
 * shows it. Never throws. */
export function thrownMessage(value) {
  const text = wholeMessage(value);
  // Copied into Wasm memory, where an allocation that fails is a trap: what an app's getter
  // throws may be a message of hundreds of millions of characters.
  return text.length > 4096 ? `${text.slice(0, 4096)}…` : text;
}

function wholeMessage(value) {
  try {
    if (value instanceof Error) return `${value.name}: ${value.message}`;
    if (typeof value === "string") return value;
    let name, message;
    if (typeof value === "object" && value !== null) {
      const text = (key) => {
        try {
          const v = value[key];
          return typeof v === "string" ? v : undefined;
        } catch {
          return undefined;
        }
      };
      [name, message] = [text("name"), text("message")];
    }
    if (name !== undefined && message !== undefined) return `${name}: ${message}`;
    return message ?? name ?? String(value);
  } catch {
    return "an unprintable value";
  }
}

/** For the package's own tests (src/browser/http.rs `replace_fetch`): `fetch` in place of the
 * one taken at load; returns the one before. */
export function fetchForTests(fetch) {
  const before = loadFetch;
  loadFetch = fetch;
  return before;
}

/** A copy of `body` (a view into Wasm memory), made with what was taken at load. */
// `given`: no body (`undefined`), the bytes in `body`, a view into Wasm memory, copied now
// (`true`), or an app's bytes, read here already (`xrpcCall`, `readInit`) and never in Wasm.
function copyBody(given, body) {
  if (given !== true) return given;
  const copy = new Bytes(body.length);
  apply(setBytes, copy, [body]);
  return copy;
}

export function send(head, given, body, timeoutMs, max, signal, keep) {
  return exchange(head, 0, copyBody(given, body), timeoutMs, max, undefined, signal, keep);
}

// `head` from `at` on: the method, the URL, then a name and a value per header, a line each;
// then the `DPoP` header with `proof`, if any.
// `keep`: where a 2xx answer's body goes, the app's as it is (`keep.kept`), not copied into
// Wasm memory: the answer's `body` is then empty.
async function exchange(head, at, payload, timeoutMs, max, proof, signal, keep) {
  const controller = new AbortController();
  const timedOut = failed("timeout");
  // The caller's signal (an SDK's `init.signal`) aborts the request on its way, as fetch does.
  const cancelled = failed("network", "the request was cancelled (its signal fired)");
  if (signalFired(signal)) return cancelled;
  let timer, onAbort;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => {
      reject(timedOut);
      controller.abort();
    }, timeoutMs);
    if (signal !== undefined) {
      onAbort = () => {
        reject(cancelled);
        controller.abort();
      };
      apply(addListener, signal, ["abort", onAbort]);
    }
  });
  deadline.catch(() => {}); // rejects while no step may be listening
  let request;
  try {
    const line = () => {
      let end = apply(textIndexOf, head, ["\n", at]);
      if (end < 0) end = head.length;
      const text = apply(sliceText, head, [at, end]);
      at = end + 1;
      return text;
    };
    const method = line();
    const url = line();
    // The headers as an object without a prototype: `Request` reads it as a record, where a
    // `Headers` object would be read through its iterator, which a script can replace. A name
    // given twice is one header, its values joined, as `Headers.append` joins them.
    const headers = { __proto__: null };
    const add = (name, value) => (headers[name] = name in headers ? `${headers[name]}, ${value}` : value);
    while (at < head.length) add(line(), line());
    if (proof !== undefined) add("DPoP", proof);
    // No prototype either: the members left out are not looked up where a script could add them.
    request = new LoadRequest(url, {
      __proto__: null,
      method,
      headers,
      body: payload,
      // A body goes only where it was addressed: a redirect would re-send it (307, 308), with
      // the code verifier or the refresh token of a token request, to wherever it points.
      redirect: payload === undefined ? "follow" : "manual",
      signal: controller.signal,
    });
  } catch (e) {
    clearTimeout(timer);
    if (onAbort) apply(removeListener, signal, ["abort", onAbort]);
    return failed("invalid", thrownMessage(e));
  }
  let reader;
  try {
    // Every step races the deadline; whatever a step throws is classified once, below.
    const response = await Promise.race([apply(loadFetch, globalThis, [request]), deadline]);
    if (!(response instanceof Response)) {
      return failed("network", "fetch resolved to something other than a Response");
    }
    if (response.type === "opaqueredirect") return failed("redirect");
    const declared = Number(response.headers.get("content-length") ?? NaN);
    if (declared > max) {
      controller.abort();
      return failed("too_large");
    }
    let out = new Uint8Array(0);
    if (response.body) {
      reader = response.body.getReader();
      out = await readAll(reader, deadline, max, true);
      if (out.failure) {
        controller.abort();
        return failed(out.failure === "too_large" ? "too_large" : "network", out.detail);
      }
    }
    let lines = "";
    for (const [name, value] of response.headers) lines += `${name}\n${value}\n`;
    const { status, redirected } = response;
    if (keep && status >= 200 && status < 300) [keep.kept, out] = [out, new Uint8Array(0)];
    return { status, headers: lines, body: out, redirected };
  } catch (e) {
    if (reader) reader.cancel().catch(() => {});
    // The deadline's or the signal's, once it has passed or fired (an aborted fetch rejects with
    // its own AbortError).
    if (e === cancelled || signalFired(signal)) return cancelled;
    return e === timedOut || controller.signal.aborted ? timedOut : failed("network", thrownMessage(e));
  } finally {
    clearTimeout(timer);
    if (onAbort) apply(removeListener, signal, ["abort", onAbort]);
  }
}

/** A body stream's bytes, each read raced against `deadline` (which rejects); past `max` bytes,
 * or at a chunk that is not bytes, a failure, and the stream cancelled. */
async function readAll(reader, deadline, max, own) {
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await Promise.race([reader.read(), deadline]);
    if (done) break;
    // Bytes of any realm (an app's stream may come from a frame), as `arrayBuffer()` takes.
    const bad = !ArrayBuffer.isView(value) || value[Symbol.toStringTag] !== "Uint8Array";
    if (bad || (size += value.length) > max) {
      reader.cancel().catch(() => {});
      return bad ? failed("chunk", "a body chunk is not bytes") : failed("too_large");
    }
    chunks.push(value);
  }
  // One chunk of fetch's own is the body; an app's is copied (it could change it later).
  if (own && chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const ES256 = { name: "ECDSA", hash: "SHA-256" };
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Base64url without padding: for 64 bytes, a loop beats spreading them into btoa. */
function b64url(bytes) {
  let s = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    s += B64URL[n >> 18] + B64URL[(n >> 12) & 63] + B64URL[(n >> 6) & 63] + B64URL[n & 63];
  }
  if (i + 1 === bytes.length) {
    const n = bytes[i] << 16;
    s += B64URL[n >> 18] + B64URL[(n >> 12) & 63];
  } else if (i + 2 === bytes.length) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    s += B64URL[n >> 18] + B64URL[(n >> 12) & 63] + B64URL[(n >> 6) & 63];
  }
  return s;
}

// `send`, with a DPoP proof finished here. `head` starts with one more line: the proof's
// signing input (its header and claims, base64url), which is signed with `key`, a
// non-extractable CryptoKey; the proof (the input, a dot, the signature in base64url) goes out
// as the `DPoP` header. WebCrypto's ECDSA output is the raw r || s that ES256 is.
//
// The head is read here from Wasm memory (`len` bytes at `at`), with the functions taken at
// load: through wasm-bindgen's string conversion, a later script's `TextDecoder.prototype.decode`
// or `subarray` would see the proof's input and could rewrite the URL it goes to.
export function sendSigned(key, memory, at, len, given, body, timeoutMs, max, signal, keep) {
  const payload = copyBody(given, body);
  let head, end, input, signing;
  try {
    head = apply(decodeUtf8, utf8, [wasmBytes(memory, at, len)]);
    end = apply(textIndexOf, head, ["\n"]);
    input = apply(sliceText, head, [0, end]);
    signing = apply(loadSign, loadSubtle, [ES256, key, apply(encodeText, encoder, [input])]);
  } catch (e) {
    return settled(failed("crypto", thrownMessage(e)));
  }
  return follow(
    signing,
    (bytes) => {
      const signature = new Bytes(bytes);
      if (signature.length !== 64) return failed("crypto", `ES256 signature of ${signature.length} bytes`);
      return exchange(head, end + 1, payload, timeoutMs, max, `${input}.${b64url(signature)}`, signal, keep);
    },
    (e) => failed("crypto", thrownMessage(e)),
  );
}

// ---- The DPoP key (src/browser/crypto.rs)
// Resolve, never reject: to { key } or { signature }, or to { failure: "crypto" | "unsupported",
// detail }.

const NO_SUBTLE = "WebCrypto (crypto.subtle) is not available; the page must be served over https or from localhost";

/** The DPoP key from its PKCS#8 bytes (`len` bytes at `at` in Wasm memory), as a
 * non-extractable ECDSA P-256 key that can only sign. The bytes are copied into a buffer of
 * this function's own and zeroed in Wasm memory first, with the functions taken at load; then
 * `importKey` (also taken at load) takes its own copy in the synchronous part of the call, and
 * this copy is zeroed too, before anything is awaited. */
export function keyImport(memory, at, len) {
  const view = wasmBytes(memory, at, len);
  const der = new Bytes(len);
  apply(setBytes, der, [view]);
  apply(fillBytes, view, [0]);
  let outcome;
  let threw = false;
  try {
    outcome = loadImportKey && apply(loadImportKey, loadSubtle, ["pkcs8", der, EC_IMPORT, false, SIGN_ONLY]);
  } catch (e) {
    threw = true;
    outcome = e;
  }
  apply(fillBytes, der, [0]);
  return keyAnswer(outcome, threw);
}

/** What `importKey` answered: its promise, or what the call threw. */
function keyAnswer(outcome, threw) {
  if (!loadImportKey) return settled(failed("unsupported", NO_SUBTLE));
  const refused = (e) => failed("crypto", `importing the DPoP key: ${thrownMessage(e)}`);
  if (threw) return settled(refused(outcome));
  return follow(
    outcome,
    (key) => (isCryptoKey(key) ? { __proto__: null, key } : failed("crypto", "importKey did not return a CryptoKey")),
    refused,
  );
}

/** An ES256 signature (r || s) of `message` (a view into Wasm memory, copied first). */
export async function keySign(key, message) {
  const bytes = message.slice();
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return failed("unsupported", NO_SUBTLE);
  try {
    return { signature: new Uint8Array(await subtle.sign(ES256, key, bytes)) };
  } catch (e) {
    return failed("crypto", `signing a DPoP proof: ${thrownMessage(e)}`);
  }
}

// ---- IndexedDB, every value sealed with AES-GCM (src/browser/idb.rs)
// IndexedDB, every value sealed with AES-GCM, for src/browser/idb.rs (which says why it is JS).
// Each exported function resolves, never rejects: to its result, or to { failure, detail } with
// failure "storage", "crypto" or "unsupported".
//
// IndexedDB requests are awaited as Promises settled by the request's own events: resuming after
// one runs in a microtask, which keeps the transaction active. Awaiting WebCrypto does not, so
// sealing and opening records happen outside transactions.

const DB_VERSION = 1; // bump only together with an upgrade path in `upgrade`
const TABLES = ["pending", "sessions", "nonces", "keys"];
const KEY_ID = "storage-key";
const IV_LEN = 12;
const TAG_LEN = 16; // the GCM tag WebCrypto appends (128 bits, its default)
const AES = { name: "AES-GCM", length: 256 };
/** A failure, thrown inside these functions and resolved with at their edge. */
const fail = (failure, context, e) => failed(failure, e === undefined ? context : `${context}: ${thrownMessage(e)}`);

/** Runs `body`, resolving with its result or with the failure it threw (any other throw is
 * "storage"), or with a "storage" failure once `ms` have passed (0: no deadline). IndexedDB gives
 * no deadline of its own: a transaction waits behind any other on its table, and another script
 * of the origin can keep one busy for ever. `body` makes its transactions with the function it
 * is given: none after the deadline, and the one in progress aborted at it (one that can no
 * longer be, as it commits, answers with its own outcome), so an operation reported as failed
 * never writes (or takes) anything later. */
async function answer(what, ms, body) {
  let timer;
  let late = false;
  let current = null;
  const tooLate = () => fail("storage", `${what}: IndexedDB did not answer within ${ms} ms`);
  const begin = (db, table, mode) => {
    if (late) throw tooLate();
    const t = transaction(db, table, mode);
    current = t.tx;
    return t;
  };
  try {
    const deadline = new Promise((_, reject) => {
      let grace = true;
      const expire = () => {
        late = true;
        try {
          current?.abort();
        } catch {
          // Committing or finished: it can no longer be undone, so its own outcome, which is
          // due at once, is the answer (a write reported as failed must not have landed). A
          // second deadline, should it not come.
          if (grace) {
            grace = false;
            timer = setTimeout(expire, ms);
            return;
          }
        }
        reject(tooLate());
      };
      if (ms) timer = setTimeout(expire, ms);
    });
    return await Promise.race([body(begin), deadline]);
  } catch (e) {
    return e && typeof e === "object" && "failure" in e ? e : fail("storage", what, e);
  } finally {
    clearTimeout(timer);
  }
}

/** The request `make` returns, settled: its result, or its error thrown as a "storage" failure. */
function request(make, what) {
  return new Promise((resolve, reject) => {
    const req = make();
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(fail("storage", what, req.error));
  }).catch((e) => {
    throw "failure" in Object(e) ? e : fail("storage", what, e);
  });
}

/** A transaction on one table, its outcome watched from the start so no `complete` is missed. */
function transaction(db, table, mode) {
  const what = `transaction on ${table}`;
  let tx, store;
  try {
    tx = db.transaction(table, mode);
    store = tx.objectStore(table);
  } catch (e) {
    throw fail("storage", what, e);
  }
  const done = new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(fail("storage", tx.error ? what : `${what} aborted`, tx.error ?? undefined));
  });
  done.catch(() => {}); // rejects while nobody may be listening yet
  return { tx, store, done };
}

/** Additional authenticated data: where the record lives, so a record copied elsewhere fails. */
const aad = (table, id) => encoder.encode(`atproto-oauth-wasm/${table}/${id}`);

/** The store of the database `name`, which the other functions take. Nothing is opened until
 * one of them needs it (so a client's constructor stays synchronous and a page that restores no
 * session does no storage work); a failed open is tried again by the next one. `close()` closes
 * the connection once it is open (running transactions still finish, so in-flight writes land). */
export function storeHandle(name, ms) {
  let opening = null;
  // The database was deleted under the open connection (site data cleared, or another script's
  // deleteDatabase): the next operation opens it afresh (empty: the user signs in again).
  const gone = (which) => {
    if (opening === which) opening = null;
  };
  return {
    ms, // every operation's deadline
    open: () => {
      if (opening) return opening;
      const mine = openStore(name, () => gone(mine)).then((h) => {
        if ("failure" in h) {
          gone(mine);
          throw h;
        }
        return h;
      });
      return (opening = mine);
    },
    close: () =>
      opening?.then(
        (h) => h.db.close(),
        () => {},
      ),
  };
}

/** Opens the store now: {} once it is open (tests open stores side by side this way). */
export function storeReady(handle) {
  return answer("opening the database", handle.ms, async () => {
    await handle.open();
    return {};
  });
}

/** Opens (creating on first use) the database `name` and loads its storage key, generating it
 * on the first open anywhere in the origin: { db, subtle, key }, or a failure. */
function openStore(name, gone) {
  return answer(`opening database ${name}`, 0, async () => {
    const subtle = globalThis.crypto?.subtle;
    if (!subtle) throw fail("unsupported", NO_SUBTLE);
    const factory = globalThis.indexedDB;
    if (!factory) {
      throw fail("unsupported", "IndexedDB is not available (private mode in some browsers, or a sandboxed frame)");
    }
    const db = await request(() => {
      const req = factory.open(name, DB_VERSION);
      req.onupgradeneeded = () => {
        try {
          for (const table of TABLES)
            if (!req.result.objectStoreNames.contains(table)) req.result.createObjectStore(table);
        } catch {
          req.transaction?.abort(); // fails the open, which reports it
        }
      };
      return req;
    }, `opening database ${name}`);
    // A newer version of this library in another tab may need to upgrade the schema; an open
    // connection would block it forever, so give way. This store then fails with storage
    // errors until the page reloads, which is what an upgrade needs anyway. A deletion
    // (`newVersion` null) is given way to as well, and the next operation opens a new database;
    // so is a connection the browser closed (`close`: site data cleared).
    db.onversionchange = (event) => {
      db.close();
      if (event.newVersion === null) gone();
    };
    db.onclose = gone;
    try {
      return { db, subtle, key: await storageKey(db, subtle) };
    } catch (e) {
      db.close();
      throw e;
    }
  });
}

async function storageKey(db, subtle) {
  const what = "reading the storage key";
  // A stored value that is not a CryptoKey counts as none, and is replaced: Safari keeps a
  // stored CryptoKey wrapped under a key in the Keychain, and reads one it cannot unwrap back
  // as `null`. The records sealed under the lost key stay, and read as crypto errors (the app
  // sees them in `unreadableSessions()`); new ones work, instead of every open failing for good.
  const read = async (tx) => {
    const stored = await request(() => tx.store.get(KEY_ID), what);
    return isCryptoKey(stored) ? stored : null;
  };
  const existing = await read(transaction(db, "keys", "readonly"));
  if (existing) return existing;
  // Generating needs WebCrypto, which cannot run inside a transaction: generate first, then
  // check again and store in one readwrite transaction. Those run one at a time on a store,
  // across tabs too, so when two tabs race, the second finds the first one's key and uses it.
  let fresh;
  try {
    fresh = await subtle.generateKey(AES, false, ["encrypt", "decrypt"]);
  } catch (e) {
    throw fail("crypto", "generating the storage key", e);
  }
  if (!isCryptoKey(fresh)) throw fail("crypto", "generateKey did not return a CryptoKey");
  const tx = transaction(db, "keys", "readwrite");
  const found = await read(tx);
  if (!found) await request(() => tx.store.put(fresh, KEY_ID), "storing the storage key");
  await tx.done;
  return found ?? fresh;
}

/** Seals `data` (a view into Wasm memory, copied at once) and stores it, with the DPoP `key`
 * (a CryptoKey, kept as itself: structured clone keeps it non-extractable) if there is one. */
export function storePut(store, table, id, data, key) {
  const bytes = data.slice();
  return answer("put", store.ms, async (begin) => {
    const handle = await store.open();
    let sealed;
    try {
      const iv = crypto.getRandomValues(new Uint8Array(IV_LEN));
      const params = { name: "AES-GCM", iv, additionalData: aad(table, id) };
      const ciphertext = new Uint8Array(await handle.subtle.encrypt(params, handle.key, bytes));
      sealed = new Uint8Array(IV_LEN + ciphertext.length);
      sealed.set(iv);
      sealed.set(ciphertext, IV_LEN);
    } catch (e) {
      throw fail("crypto", "encrypting a record", e);
    }
    const tx = begin(handle.db, table, "readwrite");
    await request(() => tx.store.put(key ? { sealed, key } : { sealed }, id), "put");
    await tx.done;
    return {};
  });
}

/** The record `id`, opened: { body, key? }, or {} when there is none. With `take`, it is also
 * deleted in the same transaction, which commits before the record is opened: once it has,
 * no other reader can have seen it. */
export function storeGet(store, table, id, take) {
  const what = take ? "take" : "get";
  return answer(what, store.ms, async (begin) => {
    const handle = await store.open();
    const tx = begin(handle.db, table, take ? "readwrite" : "readonly");
    const stored = await request(() => tx.store.get(id), what);
    if (stored === undefined) return {};
    if (take) {
      await request(() => tx.store.delete(id), what);
      await tx.done;
    }
    return unseal(handle, table, id, stored);
  });
}

/** A stored value is { sealed: Uint8Array, key?: CryptoKey }, or (as version 0.1 wrote every
 * record) the sealed bytes alone. */
async function unseal(handle, table, id, stored) {
  const notARecord = fail("storage", `${table}/${id}: stored value is not an encrypted record`);
  let sealed = stored;
  let key;
  if (!(stored instanceof Uint8Array)) {
    if (typeof stored !== "object" || stored === null) throw notARecord;
    ({ sealed, key } = stored);
    if ((key !== undefined && !isCryptoKey(key)) || !(sealed instanceof Uint8Array)) throw notARecord;
  }
  if (sealed.length < IV_LEN + TAG_LEN) throw fail("crypto", "stored record is too short to be encrypted data");
  try {
    const params = { name: "AES-GCM", iv: sealed.subarray(0, IV_LEN), additionalData: aad(table, id) };
    return { body: new Uint8Array(await handle.subtle.decrypt(params, handle.key, sealed.subarray(IV_LEN))), key };
  } catch (e) {
    throw fail("crypto", "decrypting a record", e);
  }
}

/** Deletes the record `id` (nothing there is fine). */
export function storeDelete(store, table, id) {
  return answer("delete", store.ms, async (begin) => {
    const tx = begin((await store.open()).db, table, "readwrite");
    await request(() => tx.store.delete(id), "delete");
    await tx.done;
    return {};
  });
}

/** The ids of a table's records, as { keys }. */
export function storeKeys(store, table) {
  return answer("keys", store.ms, async (begin) => {
    const tx = begin((await store.open()).db, table, "readonly");
    const keys = await request(() => tx.store.getAllKeys(), "keys");
    if (!Array.isArray(keys)) throw fail("storage", "getAllKeys did not return an array");
    return { keys: keys.filter((k) => typeof k === "string") };
  });
}

// ---- Tasks (src/browser/task.rs)
// The event loop's side of the package's futures: a task's poll runs in a microtask, and a
// promise's outcome is handed to Rust when it settles, both through the one callback Rust gives
// `taskInit`: (0, task) polls a task; (1, slot, value) and (2, slot, reason) settle a wait.
// Each pointer carries one reference Rust takes back when called with it, so each is passed
// back exactly once, even if a page script that replaced `queueMicrotask` or
// `Promise.prototype.then` calls the functions given to them again.

let wakeTask = null;
/** The promises `taskPromise` made and has not settled yet: id -> [resolve, reject]. */
const promised = new Map();
/** `f`, callable once: later calls do nothing. */
const once = (f) => {
  let done = false;
  return (...args) => done || ((done = true), f(...args));
};

export function taskInit(callback) {
  wakeTask = callback;
}

export function taskQueue(task) {
  queueMicrotask(once(() => wakeTask(0, task)));
}

export function taskWait(promise, slot) {
  const settle = once(wakeTask);
  const handlers = [(value) => settle(1, slot, value), (reason) => settle(2, slot, reason)];
  try {
    // The `then` taken at load: what the promise settles with goes to the task, and to no
    // replaced `Promise.prototype.then` on its way, nor to a `constructor` getter (`thenOwn`:
    // every promise waited for here is the package's own). It throws for what is not a
    // promise: then the wait fails, and the value is never handed to a `then` looked up now.
    thenOwn(promise, handlers);
  } catch (e) {
    handlers[1](e);
  }
}

export function taskPromise(id) {
  return new Promise((resolve, reject) => promised.set(id, [resolve, reject]));
}

export function taskSettle(id, ok, value) {
  const settle = promised.get(id);
  promised.delete(id);
  settle?.[ok ? 0 : 1](value);
}

// ---- Locks (src/browser/locks.rs)
// Locks for src/browser/locks.rs (which says why they are JS): Web Locks (`navigator.locks`),
// which exclude across every tab and worker of the origin, or an in-tab queue where they are
// missing, which still serialises refreshes within the tab.

/** In-tab locks: name -> the queue of waiters to hand the lock to, present while it is held. */
const queues = new Map();

/** Whether this global has Web Locks (windows and workers of secure contexts). */
export function hasWebLocks() {
  return (
    typeof navigator === "object" &&
    navigator !== null &&
    typeof navigator.locks === "object" &&
    navigator.locks !== null
  );
}

/** Asks for the lock `name`, across tabs when `crossTab`. Returns at once { release, granted }.
 * `granted` resolves, never rejects, to true, to false (with `ifAvailable`, the lock is held
 * elsewhere) or to the text of a failure, such as no grant within `waitMs` (another script of
 * the origin can take a lock of ours by its name and keep it; the wait is then given up, not
 * left hanging). `release()` gives the lock back; called before the lock is granted (the caller
 * gave up waiting), it gives it back as soon as it is granted, so an abandoned request never
 * strands the lock. */
export function lockRequest(name, ifAvailable, crossTab, waitMs) {
  let release;
  const released = new Promise((resolve) => (release = resolve));
  const granted = new Promise((resolve) => {
    let timer;
    // Called when the wait is over: the request is withdrawn, and `granted` says why.
    const waitFor = (withdraw) =>
      (timer = setTimeout(() => {
        withdraw();
        resolve(`not granted within ${waitMs} ms`);
      }, waitMs));
    const grant = (v) => {
      clearTimeout(timer);
      resolve(v);
    };
    if (!crossTab) {
      const take = () => {
        grant(true);
        released.then(() => {
          const queue = queues.get(name);
          const next = queue.shift();
          if (next) next();
          else queues.delete(name);
        });
      };
      const queue = queues.get(name);
      if (!queue) {
        queues.set(name, []);
        take();
      } else if (ifAvailable) resolve(false);
      else {
        queue.push(take);
        // Still queued, so still the same queue: it is removed only once empty.
        waitFor(() => {
          const i = queue.indexOf(take);
          if (i >= 0) queue.splice(i, 1);
        });
      }
      return;
    }
    try {
      // Web Locks refuse a signal together with `ifAvailable`, which does not wait anyway.
      const abort = ifAvailable ? null : new AbortController();
      if (abort) waitFor(() => abort.abort());
      navigator.locks
        .request(name, abort ? { signal: abort.signal } : { ifAvailable: true }, (lock) => {
          // null: not granted (`ifAvailable`, held elsewhere).
          grant(lock !== null);
          return lock === null ? undefined : released;
        })
        // Settles after release, or early when the request fails (an opaque origin, a name
        // the spec reserves, the wait given up): watched so a failed request is an error, not
        // a hang.
        .then(
          () => resolve("request ended before the lock was granted"),
          (e) => resolve(String(e)),
        );
    } catch (e) {
      resolve(String(e));
    }
  });
  return { release, granted };
}

// ---- The sign-in popup (src/wasm/popup.rs)
// Sign-in in a popup window, for src/wasm/popup.rs (which says how it works, and why it is JS).

const POLL_MS = 250; // how often the opener looks at the popup
const CLOSE_GRACE_POLLS = 2; // after the popup is seen closed, how long a result may still arrive

const text = (v) => (typeof v === "string" ? v : "");

/** Opens an empty sign-in popup: the window, null when the browser blocked it, undefined where
 * there is no window (a worker). Must run in the click handler's own turn. */
export function popupOpen() {
  if (typeof window !== "object" || window === null) return undefined;
  try {
    return window.open("about:blank", "_blank", "popup,width=600,height=720") ?? null;
  } catch {
    return null;
  }
}

/** Closes a popup this page opened (a login that failed before it could use it). */
export function popupClose(popup) {
  try {
    popup.close();
  } catch {}
}

/** Sends `popup` to `url` and waits for the login with `state` to report on the BroadcastChannel
 * `name`. Resolves, never rejects, to { result } or to { error }: the popup's error as
 * `popupReport` sent it, or { code, message } of a failure here. When `timeoutMs` runs out, the
 * error comes with `more(ms)`: the channel stays open (a report arriving meanwhile is kept), and
 * `more` waits up to `ms` longer for the report, then closes it (`more(0)`: at once); it
 * resolves to the report, a timeout error, or null (`more(0)` and no report). */
export function popupRun(popup, name, state, url, timeoutMs) {
  const closed = { error: { code: "popup_closed", message: "the sign-in popup was closed" } };
  const isClosed = () => {
    try {
      return popup.closed;
    } catch {
      return true;
    }
  };
  if (isClosed()) return Promise.resolve(closed);
  let channel;
  try {
    channel = new BroadcastChannel(name);
  } catch {
    return Promise.resolve({ error: { code: "unsupported", message: "no BroadcastChannel for the popup" } });
  }
  const lapsed = (ms) => ({ error: { code: "timeout", message: `the sign-in popup did not finish within ${ms} ms` } });
  return new Promise((resolve) => {
    let timer, late;
    const done = () => {
      clearInterval(timer);
      channel.onmessage = null;
      channel.close();
    };
    const settle = (outcome) => {
      done();
      resolve(outcome);
    };
    const listen = (then) =>
      (channel.onmessage = ({ data }) => {
        if (data?.state === state) then(data.ok === true ? { result: data.result } : { error: Object(data.error) });
      });
    listen(settle);
    // Believe `closed` only once the popup was seen open on the authorization page (see popup.rs).
    let seenOpenElsewhere = false;
    let closedPolls = 0;
    // Elapsed time, not a count of ticks (timers of a tab in the background run late), and
    // monotonic: a wall clock set back by an hour would hold the wait an hour longer.
    const started = monotonicMs();
    timer = setInterval(() => {
      if (monotonicMs() - started >= timeoutMs) {
        clearInterval(timer);
        listen((outcome) => (late ??= outcome));
        const more = (ms) =>
          new Promise((answer) => {
            if (late || !ms) {
              done();
              return answer(late ?? null);
            }
            const end = setTimeout(() => {
              done();
              answer(lapsed(timeoutMs + ms));
            }, ms);
            listen((outcome) => {
              clearTimeout(end);
              done();
              answer(outcome);
            });
          });
        return resolve({ ...lapsed(timeoutMs), more });
      }
      if (!isClosed()) {
        try {
          void popup.location.href;
        } catch {
          seenOpenElsewhere = true; // a cross-origin document makes the location unreadable
        }
        return;
      }
      if (seenOpenElsewhere && ++closedPolls > CLOSE_GRACE_POLLS) settle(closed);
    }, POLL_MS);
    try {
      popup.location.href = url;
    } catch {
      settle(closed);
    }
  });
}

/** In the popup, after `handleCallback`: hands the result, or the `OAuthError` (`failed`), to the
 * opener on the BroadcastChannel `name`, and closes this window. The message is on its way once
 * posted; the close waits a moment all the same. */
export function popupReport(name, state, result, failed) {
  try {
    new BroadcastChannel(name).postMessage(
      failed ? { state, ok: false, error: errorFields(result) } : { state, ok: true, result },
    );
  } catch {}
  if (typeof window !== "undefined") setTimeout(() => window.close(), 200);
}

/** An `OAuthError`'s fields, its causes' too, as plain data: a channel's structured clone of an
 * `Error` keeps only its name and message. */
function errorFields(e) {
  return (
    e && {
      code: e.code,
      message: e.message,
      serverError: e.serverError,
      status: e.status,
      missingScope: e.missingScope,
      cause: errorFields(e.cause),
    }
  );
}

/** Milliseconds since the page started (`performance.now()`, taken at load): a clock that is
 * never set back. */
const monotonicMs = globalThis.performance?.now?.bind(globalThis.performance) ?? Date.now;
/** The same in whole seconds, for the Rust code (`Clock::monotonic`). */
export const monotonicSecs = () => Math.floor(monotonicMs() / 1000);

// ---- The session's fetchHandler (src/wasm/fetch.rs)

/** The session's `fetchHandler` as SDKs expect it of fetch:
 * - it honours `init.signal`: once the signal aborts, the call rejects with its reason; already
 *   aborted, before anything is sent (as with fetch, a request already sent may still reach
 *   the server);
 * - a session that has ended (`ENDED`) rejects with `statusCode` 401 as well, which
 *   `@atproto/xrpc`'s `XRPCError.from` reads before `status` (the token endpoint's, for an
 *   expired session): the app sees 401 `AuthenticationRequired`, as a PDS refusing the token
 *   would answer. */
// The codes of a call that found its session ended (a refresh answered for another account
// deletes it too).
const ENDED = ["session_expired", "session_not_found", "subject_mismatch"];

// The largest request body an app may send (256 MiB, far above any PDS's blob limit). Its
// bytes stay here, in JS, on their way to fetch: never copied into Wasm memory, which never
// shrinks, and where running out is a trap.
const MAX_REQUEST_BODY = 1 << 28;
const TOO_LARGE = `the request body is larger than ${MAX_REQUEST_BODY} bytes`;
// The longest text built here for the Rust code from the app's values (a request's method and
// headers, an xrpc call's params and headers), in UTF-16 units: src/wasm/convert.rs's
// `MAX_TEXT`, which holds the strings it reads itself to the same limit, for the same reason.
const MAX_TEXT = 1 << 21;
const TIMED_OUT = {};
const TOO_LONG = `more than ${MAX_TEXT} characters`;

export function sdkHandler(handler) {
  // `signal` goes along: read once, here (a getter may answer differently the second time,
  // and the call must stop on the signal this promise rejects on).
  const run = (path, init, signal) =>
    handler(path, init, signal).catch((e) => {
      if (ENDED.includes(e?.code)) e.statusCode = 401;
      throw e;
    });
  return (path, init) => {
    let signal;
    try {
      signal = init?.signal ?? undefined;
      if (signalFired(signal)) return Promise.reject(signal.reason);
      if (signal === undefined) return run(path, init, undefined);
    } catch (e) {
      // A `signal` that throws when read, or is not an AbortSignal: `readInit` refuses it, with
      // a code (never a synchronous throw).
      return run(path, init, failed("invalid", `fetchHandler: signal: ${thrownMessage(e)}`));
    }
    return new Promise((resolve, reject) => {
      const abort = () => reject(signal.reason);
      apply(addListener, signal, ["abort", abort]);
      // The call itself stops before its next send (`signalFired`, asked by the Rust side).
      run(path, init, signal)
        .then(resolve, reject)
        .finally(() => apply(removeListener, signal, ["abort", abort]));
    });
  };
}

// AbortSignal's `aborted` getter and EventTarget's listener methods, taken at load. Calling
// the getter is the brand check fetch makes: a signal from another realm passes, an object that
// only looks like one throws.
const signalAborted = Object.getOwnPropertyDescriptor(globalThis.AbortSignal?.prototype ?? {}, "aborted")?.get;
const addListener = globalThis.EventTarget?.prototype.addEventListener;
const removeListener = globalThis.EventTarget?.prototype.removeEventListener;

/** Whether `signal` (`undefined` or `null`: none) fired; throws for what is not an AbortSignal. */
export function signalFired(signal) {
  return signal !== undefined && signal !== null && apply(signalAborted, signal, []);
}

/** The `init` an SDK hands `fetchHandler`, read the way fetch reads it: headers in any
 * HeadersInit form, any BodyInit (string, bytes, Blob, ReadableStream, FormData,
 * URLSearchParams). `new Response(body)` reads every BodyInit in every browser (a stream as a
 * `Request` body does not work in Firefox) and names the content type fetch would send. The body
 * is read whole, within `timeoutMs`: a retry after a refresh sends it again. `signal` is the
 * `init.signal` `sdkHandler` read and checked (or its failure). Resolves, never rejects, to
 * { method, headers: "name\nvalue\n"…, body?, signal } or to { failure: "invalid" or "timeout",
 * detail }. */
export async function readInit(init, signal, timeoutMs) {
  if (signal?.failure) return signal;
  if (init === undefined || init === null) init = {};
  else if (typeof init !== "object") return failed("invalid", "fetchHandler(init) must be an object");
  const bad = (what, e) => failed("invalid", `fetchHandler: ${what}: ${thrownMessage(e)}`);
  let method, headers, wrapped;
  try {
    method = init.method ?? "GET";
    if (typeof method !== "string") return failed("invalid", "method must be a string");
    headers = new Headers(init.headers ?? undefined);
  } catch (e) {
    return bad("headers", e);
  }
  let body;
  try {
    if (init.body !== undefined && init.body !== null) {
      wrapped = new Response(init.body);
      if (!headers.has("content-type")) {
        const type = wrapped.headers.get("content-type");
        if (type !== null) headers.set("content-type", type);
      }
    }
  } catch (e) {
    return bad("body", e);
  }
  if (wrapped) {
    // Within the call's deadline: a stream of the app's that stalls would hold the call forever.
    // Given up on (late, too large, not bytes), it is cancelled, as fetch cancels a body it
    // stops reading.
    let timer, reader;
    const late = new Promise((_, reject) => (timer = setTimeout(reject, timeoutMs, TIMED_OUT)));
    late.catch(() => {});
    try {
      reader = wrapped.body?.getReader();
      body = reader ? await readAll(reader, late, MAX_REQUEST_BODY) : new Uint8Array(0);
    } catch (e) {
      reader?.cancel().catch(() => {});
      if (e === TIMED_OUT) return failed("timeout", `fetchHandler: the body was not read within ${timeoutMs} ms`);
      return bad("could not read the body", e);
    } finally {
      clearTimeout(timer);
    }
    if (body.failure)
      return failed("invalid", body.failure === "too_large" ? TOO_LARGE : `fetchHandler: ${body.detail}`);
  }
  let head = "";
  for (const [name, value] of headers) head += `${name}\n${value}\n`; // names lower-cased
  if (method.length + head.length > MAX_TEXT) return failed("invalid", `fetchHandler: method and headers: ${TOO_LONG}`);
  return { method, headers: head, body, signal };
}

/** `fetchHandler`'s answer as a Response, whatever its status (SDKs read error answers
 * themselves); `head` is "name\nvalue\n"…, `body` a view into Wasm memory (copied). Returns the
 * Response, or { failure: "invalid", detail }. */
export function makeResponse(status, head, body, sink) {
  try {
    const headers = new Headers();
    const parts = head.split("\n");
    for (let i = 0; i + 1 < parts.length; i += 2) {
      try {
        headers.append(parts[i], parts[i + 1]);
      } catch {}
    }
    // These statuses must not have a body (the constructor throws otherwise).
    const empty = [101, 103, 204, 205, 304].includes(status);
    return new Response(empty ? null : (sink?.kept ?? body.slice()), { status, headers });
  } catch (e) {
    return failed("invalid", `HTTP ${status}: ${thrownMessage(e)}`);
  }
}

// ---- The app's objects and arrays (src/wasm/convert.rs)

/** The most values read from one array of the app's (a length can be any number up to 2^32). */
const MAX_VALUES = 10000;

/** What src/wasm/convert.rs reads of an object or array the app passed, read here, where a
 * throw is caught: a Proxy's traps, a getter or a revoked Proxy may throw, and a throw that
 * crossed the Wasm frames unannounced would leave the module's stack pointer behind (after a few
 * hundred, every call of every client in the page traps). `kind` 0: the object's own enumerable
 * keys; 1: its [key, value] entries; 2: the array's values, copied (null when it is not an
 * array). A string: what was thrown, or that the array is too long. */
export function readApp(value, kind) {
  try {
    if (kind === 0) return Object.keys(value);
    if (kind === 1) return Object.entries(value);
    if (!Array.isArray(value)) return null;
    const n = value.length;
    // A Proxy's `length` may be anything: `new Array("x")` would make a value up.
    if (typeof n !== "number" || !(n >= 0) || n % 1 !== 0) return "a length that is not a count";
    if (n > MAX_VALUES) return `more than ${MAX_VALUES} values`;
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = value[i];
    return out;
  } catch (e) {
    return thrownMessage(e);
  }
}

// ---- xrpc(): the call read, and the answer built (src/wasm/convert.rs)
// From Rust, each property, array element, type test and conversion was a crossing of its own
// and an import in the .wasm.

/** The failures thrown here, told from what the app's getters throw by identity: asking the
 * thrown value itself (`"failure" in e`) would run a Proxy's trap, which may throw again. */
const ours = new WeakSet();
const invalidCall = (detail) => {
  const e = failed("invalid", detail);
  ours.add(e);
  return e;
};

/** A query or header value: a string, number or boolean, or an array of them (the name repeated). */
function pushParam(out, name, value) {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    if (value.length > MAX_VALUES) throw invalidCall(`param ${name}: more than ${MAX_VALUES} values`);
    for (let i = 0; i < value.length; i++) pushParam(out, name, value[i]);
    return;
  }
  const type = typeof value;
  if (type !== "string" && type !== "number" && type !== "boolean")
    throw invalidCall(`param ${name} must be a string, number or boolean`);
  out.push(name, String(value));
}

/** `call.params` or `call.headers`: [name, value, …] of an object of such values. */
function paramList(value, what) {
  const out = [];
  if (value === undefined || value === null) return out;
  if (typeof value !== "object" || Array.isArray(value)) throw invalidCall(`${what} must be an object`);
  for (const [name, v] of Object.entries(value)) pushParam(out, name, v);
  return out;
}

/** `xrpc(did, call)`'s call, its keys already checked: `headers` is the JSON text of [method,
 * nsid, proxy, encoding, params, headers] (null for an absent proxy or encoding; the lists flat:
 * [name, value, …]) and `body` the bytes to send; or { failure: "invalid", detail }. Bytes (a
 * Uint8Array or ArrayBuffer, from any realm: the toString tag, not `instanceof`) are sent as they
 * are, with `encoding` or application/octet-stream; any other body as JSON. */
export function xrpcCall(call) {
  try {
    const string = (key) => {
      const v = call[key];
      if (v === undefined || v === null) return null;
      if (typeof v !== "string") throw invalidCall(`${key} must be a string`);
      return v;
    };
    const nsid = string("nsid");
    if (nsid === null) return failed("invalid", "xrpc: nsid is required");
    let body = call.body;
    let type = null;
    if (body !== undefined) {
      const tag = typeof body === "object" && body !== null ? body[Symbol.toStringTag] : undefined;
      // Bytes: an (Shared)ArrayBuffer or any view of one (JSON would send a view as an object of
      // indices).
      const buffer = tag === "ArrayBuffer" || tag === "SharedArrayBuffer";
      if (buffer || ArrayBuffer.isView(body)) {
        body = buffer ? new Uint8Array(body) : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
        // A copy (the call sends the bytes as they were when it was made), of a size allowed.
        if (body.length > MAX_REQUEST_BODY) return failed("invalid", TOO_LARGE);
        body = body.slice();
        type = string("encoding") ?? "application/octet-stream";
      } else if (tag !== undefined) {
        // A Blob, a Map, FormData, a stream…: JSON would send `{}`. (Reading a Blob would make
        // this call asynchronous.) Plain objects, arrays and dates have no tag.
        return failed("invalid", `xrpc: body is a ${String(tag)}: pass JSON data, or bytes (await blob.arrayBuffer())`);
      } else {
        let json;
        try {
          json = JSON.stringify(body);
        } catch {}
        if (typeof json !== "string") return failed("invalid", "xrpc: body is not JSON-serializable");
        body = encoder.encode(json);
        type = "application/json";
      }
      if (body.length > MAX_REQUEST_BODY) return failed("invalid", TOO_LARGE);
    }
    // ASCII letters only, as HTTP methods are (toUpperCase makes "poſt" POST).
    const method = string("method")?.replace(/[a-z]/g, (c) => c.toUpperCase()) ?? (body ? "POST" : "GET");
    if (method !== "GET" && method !== "POST") return failed("invalid", "xrpc: method must be GET or POST");
    const params = paramList(call.params, "params");
    const headers = paramList(call.headers, "headers");
    const text = JSON.stringify([method, nsid, string("proxy"), type, params, headers]);
    if (text.length > MAX_TEXT) return failed("invalid", `xrpc: nsid, proxy, params and headers: ${TOO_LONG}`);
    return { headers: text, body };
  } catch (e) {
    return ours.has(e) ? e : failed("invalid", `xrpc: ${thrownMessage(e)}`);
  }
}

// Made once: every xrpc() and fetchRecords() answer goes through it.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A response body for the app: JSON parsed when the type says JSON and it parses (strict UTF-8,
 * a byte order mark kept, so refused), else the bytes (copied out of Wasm memory), else
 * undefined when empty. */
// `kept`: the body as `send` kept it (this module's own bytes), else `body`, a view into Wasm
// memory, copied.
function responseData(type, body, kept) {
  body = kept ?? body;
  if (type.includes("json")) {
    try {
      return JSON.parse(strictUtf8.decode(body));
    } catch {}
  }
  return body.length ? (kept ?? body.slice()) : undefined;
}

/** `xrpc()`'s answer: { status, headers, data }; `head` is "name\nvalue\n"…. */
export function xrpcResult(status, head, body, sink) {
  const headers = {};
  const parts = head.split("\n");
  for (let i = 0; i + 1 < parts.length; i += 2) headers[parts[i]] = parts[i + 1];
  return { status, headers, data: responseData(headers["content-type"] ?? "", body, sink?.kept) };
}

// ---- Session events (src/browser/broadcast.rs)
// One client's session events: its listeners in this page, and a BroadcastChannel (where the
// platform has one) to its instances in other tabs and workers. A message from elsewhere is
// checked, handed to `hook` (Rust's: the client drops its copy of that session) when it says a
// session was updated or deleted, and given to the listeners with `remote: true`.

const EVENT_TYPES = ["updated", "deleted", "unsaved"];

/** An event as it came off the channel, or undefined when it is not one. */
function eventOf(data) {
  if (typeof data !== "object" || data === null) return undefined;
  const { type, did, reason } = data;
  // A DID is at most 2 KiB: a longer one (another app of the origin can post anything here)
  // would be copied into Wasm memory for nothing.
  if (typeof did !== "string" || did.length > 2048 || !EVENT_TYPES.includes(type)) return undefined;
  return type === "updated" ? { type, did } : { type, did, reason: text(reason) };
}

/** `name` null: listeners in this page only. */
export function eventsOpen(name) {
  let listeners = [];
  let hook = null;
  // Every listener runs, whatever another one throws.
  const notify = (event) => {
    for (const listener of listeners.slice()) {
      try {
        listener(event);
      } catch {}
    }
  };
  let channel = null;
  if (name !== null && typeof BroadcastChannel === "function") {
    try {
      channel = new BroadcastChannel(name);
    } catch {}
  }
  if (channel) {
    channel.onmessage = ({ data }) => {
      const event = eventOf(data);
      if (!event) return;
      if (hook && event.type !== "unsaved") hook(event.did);
      notify({ ...event, remote: true });
    };
  }
  return {
    broadcasting: channel !== null,
    setHook(f) {
      hook = f;
    },
    emit(type, did, reason) {
      const event = reason === undefined ? { type, did } : { type, did, reason };
      try {
        channel?.postMessage(event);
      } catch {}
      notify(event);
    },
    /** Adds a listener; returns the function that removes it (idempotent). */
    listen(listener) {
      listeners.push(listener);
      return () => {
        listeners = listeners.filter((f) => f !== listener);
      };
    },
    close() {
      if (channel) {
        channel.onmessage = null;
        channel.close();
      }
    },
  };
}

// ---- The last active account (src/wasm/last_active.rs)
// The DID in localStorage under `key`, as a JSON string (the format earlier versions wrote).
// `lastActive(key)` reads it (a string, or null when none or unreadable; undefined when there
// is no localStorage: a worker); `lastActive(key, did, true)` stores it; `lastActive(key, did,
// false)` removes it if it is that DID. Storage that is full or blocked only loses the pointer.
export function lastActive(key, did, set) {
  let storage;
  try {
    storage = globalThis.localStorage;
  } catch {}
  if (!storage) return undefined;
  let stored = null;
  try {
    const value = JSON.parse(storage.getItem(key));
    if (typeof value === "string") stored = value;
  } catch {}
  try {
    if (set === true) storage.setItem(key, JSON.stringify(did));
    else if (set === false && stored === did) storage.removeItem(key);
  } catch {}
  return stored;
}

// ---- The page's address (src/wasm/page.rs)
// Only a window has one to read or change; in a worker these answer undefined or false.

const hasWindow = () => typeof window === "object" && window !== null;

/** The page's URL, or undefined without a window. */
export function pageUrl() {
  return hasWindow() ? String(window.location.href) : undefined;
}

/** Navigates to `url`; false without a window or when the browser refused. */
export function pageAssign(url) {
  if (!hasWindow()) return false;
  try {
    window.location.assign(url);
    return true;
  } catch {
    return false;
  }
}

/** Replaces the page's URL in place (no navigation, no history entry); best effort. */
export function pageReplace(url) {
  try {
    if (hasWindow()) window.history.replaceState(null, "", url);
  } catch {}
}
