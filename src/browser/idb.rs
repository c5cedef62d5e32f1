//! `Store` on IndexedDB, every value sealed with AES-GCM under a non-extractable WebCrypto key
//! that lives in the same database.
//!
//! The work is done in `glue.js`, one JS function per operation (open, get or take, put,
//! delete, keys), which this file calls and whose answer it reads. Driving IndexedDB from Rust
//! took a boundary crossing, a closure or a promise per request, per event handler and per
//! WebCrypto call, each compiled into the `.wasm` with its conversions: the same work as one JS
//! function per operation is 3.7 KB smaller (gzip, the whole package, measured in the ninth
//! session; see the README's "Where the bytes are").

use std::future::Future;

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use web_sys::CryptoKey;

use super::js;
use crate::error::Result;
use crate::platform::{Entry, KeyType, Store, Table};
use crate::settled::Settled;

#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = storeHandle)]
    fn js_handle(name: &str, deadline_ms: u32) -> Handle;
    #[wasm_bindgen(js_name = storeReady)]
    fn js_ready(handle: &Handle) -> Promise;
    #[wasm_bindgen(js_name = storeGet)]
    fn js_get(handle: &Handle, table: &str, id: &str, take: bool) -> Promise;
    #[wasm_bindgen(js_name = storePut)]
    fn js_put(
        handle: &Handle,
        table: &str,
        id: &str,
        data: &[u8],
        key: Option<&CryptoKey>,
    ) -> Promise;
    #[wasm_bindgen(js_name = storeDelete)]
    fn js_delete(handle: &Handle, table: &str, id: &str) -> Promise;
    #[wasm_bindgen(js_name = storeKeys)]
    fn js_keys(handle: &Handle, table: &str) -> Promise;

    /// A store, opened (the connection, `crypto.subtle` and the storage key) on first use.
    /// Its `close()` closes the connection, once it is open.
    #[wasm_bindgen(extends = js::Closable)]
    type Handle;

    /// What the functions above resolve to: their result, or a failure and its detail.
    #[wasm_bindgen(extends = super::js::Outcome)]
    type Answer;
    #[wasm_bindgen(method, getter)]
    fn keys(this: &Answer) -> Array;
}

/// How long any store operation may take: IndexedDB has no deadline of its own, and a
/// transaction waits behind any other on its table (another script of the origin can keep one
/// busy for ever). Its operations take milliseconds; a first open on a slow device, well under
/// a second.
const DEADLINE_MS: u32 = 10_000;

/// Awaits one of `glue.js`'s answers, its failure as an `Error`.
pub struct IdbStore {
    handle: Handle,
    name: String,
}

impl IdbStore {
    /// The store of the database `db_name`. Nothing is opened yet: the first operation opens
    /// the database (creating it on first use) and loads its storage key, generating it if this
    /// is the first open anywhere in the origin. A failed open is tried again by the next one.
    pub fn new(db_name: &str) -> IdbStore {
        Self::with_deadline(db_name, DEADLINE_MS)
    }

    /// The store of `db_name`, each of whose operations fails with `storage_error` when
    /// IndexedDB has not answered within `deadline_ms`.
    pub fn with_deadline(db_name: &str, deadline_ms: u32) -> IdbStore {
        IdbStore {
            handle: js_handle(db_name, deadline_ms),
            name: db_name.to_string(),
        }
    }

    /// The store of `db_name`, opened now.
    pub async fn open(db_name: &str) -> Result<IdbStore> {
        let store = IdbStore::new(db_name);
        js::settle::<Answer>(js_ready(&store.handle))
            .settled()
            .await?;
        Ok(store)
    }

    /// The database's name.
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// The record `key`, read (and with `take`, deleted in the same transaction).
    async fn read(&self, table: Table, key: &str, take: bool) -> Result<Option<Entry<CryptoKey>>> {
        let answer = js::settle::<Answer>(js_get(&self.handle, table.name(), key, take))
            .settled()
            .await?;
        Ok(answer.body().map(|data| Entry {
            data,
            key: answer.key(),
        }))
    }
}

impl std::fmt::Debug for IdbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdbStore")
            .field("name", &self.name)
            .finish()
    }
}

impl Drop for IdbStore {
    fn drop(&mut self) {
        // close() waits for running transactions, so in-flight writes still land.
        self.handle.close();
    }
}

impl KeyType for IdbStore {
    type Key = CryptoKey;
}

/// A write's answer (`put`, `delete`): the glue has made its request when the promise exists,
/// so both wait in this one function (one state machine in the .wasm, not one each).
async fn done(promise: Promise) -> Result<()> {
    js::settle::<Answer>(promise).settled().await?;
    Ok(())
}

impl Store for IdbStore {
    fn get(
        &self,
        table: Table,
        key: &str,
    ) -> impl Future<Output = Result<Option<Entry<CryptoKey>>>> {
        self.read(table, key, false)
    }

    fn put(
        &self,
        table: Table,
        key: &str,
        value: &[u8],
        dpop: Option<&CryptoKey>,
    ) -> impl Future<Output = Result<()>> {
        done(js_put(&self.handle, table.name(), key, value, dpop))
    }

    fn delete(&self, table: Table, key: &str) -> impl Future<Output = Result<()>> {
        done(js_delete(&self.handle, table.name(), key))
    }

    fn take(
        &self,
        table: Table,
        key: &str,
    ) -> impl Future<Output = Result<Option<Entry<CryptoKey>>>> {
        self.read(table, key, true)
    }

    async fn keys(&self, table: Table) -> Result<Vec<String>> {
        let answer = js::settle::<Answer>(js_keys(&self.handle, table.name()))
            .settled()
            .await?;
        let mut keys = Vec::new();
        for key in answer.keys().iter() {
            if let Some(key) = key.as_string() {
                keys.push(key);
            }
        }
        Ok(keys)
    }
}
