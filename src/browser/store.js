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
const encoder = new TextEncoder();

/** What JS threw or rejected with, as text (an Error, a DOMException, a string, anything). */
const describe = (e) => (e && typeof e === "object" && "message" in e ? `${e.name}: ${e.message}` : String(e));

/** A failure, thrown inside this module and resolved with at its edge. */
const fail = (failure, context, e) => ({ failure, detail: e === undefined ? context : `${context}: ${describe(e)}` });

/** Runs `body`, resolving with its result or with the failure it threw (any other throw is "storage"). */
async function answer(what, body) {
  try {
    return await body();
  } catch (e) {
    return e && typeof e === "object" && "failure" in e ? e : fail("storage", what, e);
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
  return { store, done };
}

/** Additional authenticated data: where the record lives, so a record copied elsewhere fails. */
const aad = (table, id) => encoder.encode(`atproto-oauth-wasm/${table}/${id}`);

/** Opens (creating on first use) the database `name` and loads its storage key, generating it
 * on the first open anywhere in the origin. Resolves to the handle the other functions take;
 * its `close()` closes the connection (running transactions still finish, so in-flight writes
 * land). */
export function storeOpen(name) {
  return answer(`opening database ${name}`, async () => {
    const subtle = globalThis.crypto?.subtle;
    if (!subtle) {
      throw fail(
        "unsupported",
        "WebCrypto (crypto.subtle) is not available; the page must be served over https or from localhost",
      );
    }
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
    // errors until the page reloads, which is what an upgrade needs anyway.
    db.onversionchange = () => db.close();
    try {
      return { db, subtle, key: await storageKey(db, subtle), close: () => db.close() };
    } catch (e) {
      db.close();
      throw e;
    }
  });
}

async function storageKey(db, subtle) {
  const what = "reading the storage key";
  const read = async (tx) => asKey(await request(() => tx.store.get(KEY_ID), what));
  const existing = await read(transaction(db, "keys", "readonly"));
  if (existing) return existing;
  // Generating needs WebCrypto, which cannot run inside a transaction: generate first, then
  // check again and add in one readwrite transaction. Those run one at a time on a store, across
  // tabs too, so when two tabs race, the second finds the first one's key and uses it.
  let fresh;
  try {
    fresh = await subtle.generateKey(AES, false, ["encrypt", "decrypt"]);
  } catch (e) {
    throw fail("crypto", "generating the storage key", e);
  }
  if (!(fresh instanceof CryptoKey)) throw fail("crypto", "generateKey did not return a CryptoKey");
  const tx = transaction(db, "keys", "readwrite");
  const found = await read(tx);
  if (!found) await request(() => tx.store.add(fresh, KEY_ID), "storing the storage key");
  await tx.done;
  return found ?? fresh;
}

function asKey(stored) {
  if (stored === undefined) return null;
  if (!(stored instanceof CryptoKey)) throw fail("crypto", "the stored storage key is not a CryptoKey");
  return stored;
}

/** Seals `data` (a view into Wasm memory, copied at once) and stores it, with the DPoP `key`
 * (a CryptoKey, kept as itself: structured clone keeps it non-extractable) if there is one. */
export function storePut(handle, table, id, data, key) {
  const bytes = data.slice();
  return answer("put", async () => {
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
    const tx = transaction(handle.db, table, "readwrite");
    await request(() => tx.store.put(key ? { sealed, key } : { sealed }, id), "put");
    await tx.done;
    return {};
  });
}

/** The record `id`, opened: { data, key? }, or {} when there is none. With `take`, it is also
 * deleted in the same transaction, which commits before the record is opened: once it has,
 * no other reader can have seen it. */
export function storeGet(handle, table, id, take) {
  const what = take ? "take" : "get";
  return answer(what, async () => {
    const tx = transaction(handle.db, table, take ? "readwrite" : "readonly");
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
    if ((key !== undefined && !(key instanceof CryptoKey)) || !(sealed instanceof Uint8Array)) throw notARecord;
  }
  if (sealed.length < IV_LEN + TAG_LEN) throw fail("crypto", "stored record is too short to be encrypted data");
  try {
    const params = { name: "AES-GCM", iv: sealed.subarray(0, IV_LEN), additionalData: aad(table, id) };
    return { data: new Uint8Array(await handle.subtle.decrypt(params, handle.key, sealed.subarray(IV_LEN))), key };
  } catch (e) {
    throw fail("crypto", "decrypting a record", e);
  }
}

/** Deletes the record `id` (nothing there is fine). */
export function storeDelete(handle, table, id) {
  return answer("delete", async () => {
    const tx = transaction(handle.db, table, "readwrite");
    await request(() => tx.store.delete(id), "delete");
    await tx.done;
    return {};
  });
}

/** The ids of a table's records, as { keys }. */
export function storeKeys(handle, table) {
  return answer("keys", async () => {
    const tx = transaction(handle.db, table, "readonly");
    const keys = await request(() => tx.store.getAllKeys(), "keys");
    if (!Array.isArray(keys)) throw fail("storage", "getAllKeys did not return an array");
    return { keys: keys.filter((k) => typeof k === "string") };
  });
}
