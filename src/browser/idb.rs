//! `Store` on IndexedDB, every value sealed with AES-GCM under a non-extractable WebCrypto key
//! that lives in the same database.
//!
//! IndexedDB requests are wrapped in Promises whose handlers are the Promise's own resolve and
//! reject functions, so no Rust closure is ever left registered on a request or transaction that
//! outlives its future. Awaiting such a Promise resumes in a microtask, which keeps the
//! transaction active; awaiting WebCrypto does not, so crypto always happens outside
//! transactions.

use js_sys::{Array, Function, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CryptoKey, IdbDatabase, IdbFactory, IdbObjectStore, IdbOpenDbRequest, IdbRequest,
    IdbTransaction, IdbTransactionMode, SubtleCrypto,
};

use super::{crypto, js};
use crate::error::{Error, ErrorCode, Result};
use crate::platform::{Entry, KeyType, Store, Table};

/// Bump only together with an upgrade path in `create_stores`.
const DB_VERSION: u32 = 1;
const KEY_STORE: &str = "keys";
const KEY_ID: &str = "storage-key";
const TABLES: [Table; 3] = [Table::Pending, Table::Sessions, Table::Nonces];

fn storage_error(context: &str, e: &JsValue) -> Error {
    js::error(ErrorCode::StorageError, context, e)
}

/// One open IndexedDB connection plus the storage key. Dropping it closes the connection.
pub struct IdbStore {
    db: IdbDatabase,
    subtle: SubtleCrypto,
    key: CryptoKey,
}

impl IdbStore {
    /// Opens (creating on first use) the database `db_name` and loads its storage key, generating
    /// it if this is the first open anywhere in the origin.
    pub async fn open(db_name: &str) -> Result<IdbStore> {
        let subtle = crypto::subtle()?;
        let db = open_database(db_name).await?;
        // A future version of this library in another tab may need to upgrade the schema; an open
        // connection would block it forever, so give way. This store then fails with
        // StorageError until the page reloads, which is what an upgrade needs anyway.
        if let Ok(close) = js_sys::Reflect::get(&db, &JsValue::from_str("close")) {
            if let Some(close) = close.dyn_ref::<Function>() {
                db.set_onversionchange(Some(&close.bind0(&db)));
            }
        }
        let key = match load_or_create_key(&db, &subtle).await {
            Ok(key) => key,
            Err(e) => {
                db.close();
                return Err(e);
            }
        };
        Ok(IdbStore { db, subtle, key })
    }

    /// The database's name.
    pub fn name(&self) -> String {
        self.db.name()
    }

    fn transaction(&self, table: Table, mode: IdbTransactionMode) -> Result<Tx> {
        Tx::new(&self.db, table.name(), mode)
    }

    /// The value stored for a record: its sealed bytes and, if it has one, its DPoP key, kept
    /// as the `CryptoKey` itself (IndexedDB's structured clone keeps it non-extractable).
    async fn seal(
        &self,
        table: Table,
        id: &str,
        data: &[u8],
        key: Option<&CryptoKey>,
    ) -> Result<JsValue> {
        let sealed = crypto::encrypt(&self.subtle, &self.key, &aad(table, id), data).await?;
        let value = js_sys::Object::new();
        let set =
            |name: &str, v: &JsValue| js_sys::Reflect::set(&value, &JsValue::from_str(name), v);
        set("sealed", &Uint8Array::from(sealed.as_slice()).into())
            .and_then(|_| match key {
                Some(key) => set("key", key),
                None => Ok(true),
            })
            .map_err(|e| storage_error("building a record", &e))?;
        Ok(value.into())
    }

    /// A stored value: `{ sealed: Uint8Array, key?: CryptoKey }`, or (as version 0.1 wrote
    /// every record) the sealed bytes alone.
    async fn open_entry(
        &self,
        table: Table,
        id: &str,
        stored: JsValue,
    ) -> Result<Entry<CryptoKey>> {
        let not_a_record = || {
            Error::new(
                ErrorCode::StorageError,
                format!(
                    "{}/{id}: stored value is not an encrypted record",
                    table.name()
                ),
            )
        };
        let (sealed, key) = if stored.is_instance_of::<Uint8Array>() {
            (stored, None)
        } else if stored.is_object() {
            let field = |name: &str| {
                js_sys::Reflect::get(&stored, &JsValue::from_str(name))
                    .unwrap_or(JsValue::UNDEFINED)
            };
            let key = field("key");
            let key = if key.is_undefined() {
                None
            } else {
                Some(key.dyn_into::<CryptoKey>().map_err(|_| not_a_record())?)
            };
            (field("sealed"), key)
        } else {
            return Err(not_a_record());
        };
        let bytes = sealed
            .dyn_into::<Uint8Array>()
            .map_err(|_| not_a_record())?;
        let data =
            crypto::decrypt(&self.subtle, &self.key, &aad(table, id), &bytes.to_vec()).await?;
        Ok(Entry { data, key })
    }
}

impl std::fmt::Debug for IdbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdbStore")
            .field("name", &self.name())
            .finish()
    }
}

impl Drop for IdbStore {
    fn drop(&mut self) {
        // close() waits for running transactions, so in-flight writes still land.
        self.db.close();
    }
}

/// Additional authenticated data: where the record lives.
fn aad(table: Table, key: &str) -> Vec<u8> {
    format!("atproto-oauth-wasm/{}/{key}", table.name()).into_bytes()
}

impl KeyType for IdbStore {
    type Key = CryptoKey;
}

impl Store for IdbStore {
    async fn get(&self, table: Table, key: &str) -> Result<Option<Entry<CryptoKey>>> {
        let tx = self.transaction(table, IdbTransactionMode::Readonly)?;
        let store = tx.store()?;
        let stored = request(store.get(&JsValue::from_str(key)), "get").await?;
        if stored.is_undefined() {
            return Ok(None);
        }
        self.open_entry(table, key, stored).await.map(Some)
    }

    async fn put(
        &self,
        table: Table,
        key: &str,
        value: &[u8],
        dpop: Option<&CryptoKey>,
    ) -> Result<()> {
        let sealed = self.seal(table, key, value, dpop).await?;
        let tx = self.transaction(table, IdbTransactionMode::Readwrite)?;
        let store = tx.store()?;
        request(store.put_with_key(&sealed, &JsValue::from_str(key)), "put").await?;
        tx.committed().await
    }

    async fn delete(&self, table: Table, key: &str) -> Result<()> {
        let tx = self.transaction(table, IdbTransactionMode::Readwrite)?;
        let store = tx.store()?;
        request(store.delete(&JsValue::from_str(key)), "delete").await?;
        tx.committed().await
    }

    async fn take(&self, table: Table, key: &str) -> Result<Option<Entry<CryptoKey>>> {
        let tx = self.transaction(table, IdbTransactionMode::Readwrite)?;
        let store = tx.store()?;
        let id = JsValue::from_str(key);
        let stored = request(store.get(&id), "take").await?;
        if stored.is_undefined() {
            return Ok(None);
        }
        request(store.delete(&id), "take").await?;
        // Readwrite transactions on one store run one at a time, across tabs too: once this
        // commits, no other reader can have seen the value.
        tx.committed().await?;
        self.open_entry(table, key, stored).await.map(Some)
    }

    async fn keys(&self, table: Table) -> Result<Vec<String>> {
        let tx = self.transaction(table, IdbTransactionMode::Readonly)?;
        let store = tx.store()?;
        let keys = request(store.get_all_keys(), "keys").await?;
        let keys: Array = keys.dyn_into().map_err(|_| {
            Error::new(
                ErrorCode::StorageError,
                "getAllKeys did not return an array",
            )
        })?;
        Ok(keys.iter().filter_map(|k| k.as_string()).collect())
    }
}

// ---- IndexedDB plumbing --------------------------------------------------------------------

fn factory() -> Result<IdbFactory> {
    js::global_property("indexedDB")
        .and_then(|f| f.dyn_into::<IdbFactory>().ok())
        .ok_or_else(|| {
            Error::new(
                ErrorCode::Unsupported,
                "IndexedDB is not available (private mode in some browsers, or a sandboxed frame)",
            )
        })
}

/// Settles when the request does: resolves with its result, or fails with its error.
async fn request(req: std::result::Result<IdbRequest, JsValue>, what: &str) -> Result<JsValue> {
    let req = req.map_err(|e| storage_error(what, &e))?;
    let settled = Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    });
    match JsFuture::from(settled).await {
        Ok(_) => req.result().map_err(|e| storage_error(what, &e)),
        Err(event) => Err(match req.error() {
            Ok(Some(dom)) => storage_error(what, &dom),
            _ => storage_error(what, &event),
        }),
    }
}

/// A transaction whose outcome is watched from the moment it is created, so `committed` can
/// never miss a `complete` that fired before it was awaited.
struct Tx {
    tx: IdbTransaction,
    name: &'static str,
    outcome: JsFuture,
}

impl Tx {
    fn new(db: &IdbDatabase, name: &'static str, mode: IdbTransactionMode) -> Result<Tx> {
        let tx = db
            .transaction_with_str_and_mode(name, mode)
            .map_err(|e| storage_error(&format!("transaction on {name}"), &e))?;
        let outcome = Promise::new(&mut |resolve, reject| {
            tx.set_oncomplete(Some(&resolve));
            tx.set_onabort(Some(&reject));
        });
        Ok(Tx {
            tx,
            name,
            outcome: JsFuture::from(outcome),
        })
    }

    fn store(&self) -> Result<IdbObjectStore> {
        self.tx
            .object_store(self.name)
            .map_err(|e| storage_error(&format!("object store {}", self.name), &e))
    }

    async fn committed(self) -> Result<()> {
        match self.outcome.await {
            Ok(_) => Ok(()),
            Err(event) => Err(match self.tx.error() {
                Some(dom) => storage_error(&format!("transaction on {}", self.name), &dom),
                None => storage_error(&format!("transaction on {} aborted", self.name), &event),
            }),
        }
    }
}

/// Clears `onupgradeneeded` before the Rust closure behind it is freed, so an open that is
/// dropped half-way never leaves JS calling a dead closure.
struct UpgradeHandler {
    request: IdbOpenDbRequest,
    _closure: Closure<dyn FnMut(JsValue)>,
}

impl Drop for UpgradeHandler {
    fn drop(&mut self) {
        self.request.set_onupgradeneeded(None);
    }
}

async fn open_database(name: &str) -> Result<IdbDatabase> {
    let req = factory()?
        .open_with_u32(name, DB_VERSION)
        .map_err(|e| storage_error(&format!("opening database {name}"), &e))?;
    let upgrading = req.clone();
    let closure = Closure::<dyn FnMut(JsValue)>::new(move |_event: JsValue| {
        if create_stores(&upgrading).is_err() {
            // Aborting the upgrade makes the open request fail, which reports the error.
            if let Some(tx) = upgrading.transaction() {
                let _ = tx.abort();
            }
        }
    });
    req.set_onupgradeneeded(Some(closure.as_ref().unchecked_ref()));
    let _handler = UpgradeHandler {
        request: req.clone(),
        _closure: closure,
    };
    let db = request(
        Ok(req.unchecked_into()),
        &format!("opening database {name}"),
    )
    .await?;
    db.dyn_into::<IdbDatabase>()
        .map_err(|_| Error::new(ErrorCode::StorageError, "open did not return a database"))
}

fn create_stores(req: &IdbOpenDbRequest) -> std::result::Result<(), JsValue> {
    let db: IdbDatabase = req.result()?.dyn_into()?;
    let existing = db.object_store_names();
    let names = TABLES.iter().map(|t| t.name()).chain([KEY_STORE]);
    for name in names {
        if !existing.contains(name) {
            db.create_object_store(name)?;
        }
    }
    Ok(())
}

async fn read_key(db: &IdbDatabase) -> Result<Option<CryptoKey>> {
    let tx = Tx::new(db, KEY_STORE, IdbTransactionMode::Readonly)?;
    let stored = request(
        tx.store()?.get(&JsValue::from_str(KEY_ID)),
        "reading the storage key",
    )
    .await?;
    as_key(stored)
}

fn as_key(stored: JsValue) -> Result<Option<CryptoKey>> {
    if stored.is_undefined() {
        return Ok(None);
    }
    stored.dyn_into::<CryptoKey>().map(Some).map_err(|_| {
        Error::new(
            ErrorCode::CryptoError,
            "the stored storage key is not a CryptoKey",
        )
    })
}

async fn load_or_create_key(db: &IdbDatabase, subtle: &SubtleCrypto) -> Result<CryptoKey> {
    if let Some(key) = read_key(db).await? {
        return Ok(key);
    }
    // Generating needs WebCrypto, which cannot run inside a transaction; so generate first, then
    // check again and add in one readwrite transaction. Such transactions on one store run one
    // at a time across tabs, so when two tabs race, the second finds the first one's key and
    // uses it instead of its own.
    let fresh = crypto::generate_key(subtle).await?;
    let tx = Tx::new(db, KEY_STORE, IdbTransactionMode::Readwrite)?;
    let store = tx.store()?;
    let id = JsValue::from_str(KEY_ID);
    let existing = as_key(request(store.get(&id), "reading the storage key").await?)?;
    let key = match existing {
        Some(key) => key,
        None => {
            request(store.add_with_key(&fresh, &id), "storing the storage key").await?;
            fresh
        }
    };
    tx.committed().await?;
    Ok(key)
}
