//! The browser platform, tested in real browsers (`wasm-pack test --headless --chrome` /
//! `--firefox`). No network is available, so HTTP is exercised with data: URLs, a refused
//! port, and a stand-in global `fetch`.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::task::Poll;

use atproto_oauth_wasm::browser::{
    js_error, replace_fetch, BroadcastEvents, BrowserClock, BrowserPlatform, FetchHttp, IdbStore,
    WebLocks,
};
use atproto_oauth_wasm::error::{Error, ErrorCode};
use atproto_oauth_wasm::platform::{
    Cancel, Clock, Events, Http, HttpRequest, KeyMaterial, Keys, Locks, SessionEvent, Store, Table,
};
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use wasm_bindgen_test::*;
use web_sys::{IdbDatabase, IdbFactory, IdbRequest, IdbTransactionMode};

wasm_bindgen_test_configure!(run_in_browser);

// ---- helpers -------------------------------------------------------------------------------

fn global(key: &str) -> JsValue {
    Reflect::get(&js_sys::global(), &key.into()).unwrap()
}

fn prop(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap()
}

async fn sleep(ms: i32) {
    let done = Promise::new(&mut |resolve, _| {
        let set_timeout: Function = global("setTimeout").unchecked_into();
        set_timeout
            .call2(&JsValue::UNDEFINED, &resolve, &ms.into())
            .unwrap();
    });
    JsFuture::from(done).await.unwrap();
}

/// Polls `cond` until it holds or about two seconds pass.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if cond() {
            return true;
        }
        sleep(20).await;
    }
    cond()
}

fn fresh_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        js_sys::Date::now() as u64,
        (js_sys::Math::random() * 1e9) as u64
    )
}

/// Polls a future exactly once, then drops it: a caller that gave up waiting.
async fn poll_once_then_drop<F: Future>(fut: F) {
    let mut fut = Box::pin(fut);
    std::future::poll_fn(|cx| {
        let _ = fut.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
}

// Raw IndexedDB access, to look at what the store really wrote.

async fn idb_result(req: IdbRequest) -> JsValue {
    let settled = Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    });
    JsFuture::from(settled).await.unwrap();
    req.result().unwrap()
}

async fn raw_open(name: &str) -> IdbDatabase {
    let factory: IdbFactory = global("indexedDB").unchecked_into();
    let req = factory.open(name).unwrap();
    idb_result(req.unchecked_into()).await.unchecked_into()
}

async fn raw_get(db: &IdbDatabase, store: &str, key: &str) -> JsValue {
    let tx = db.transaction_with_str(store).unwrap();
    idb_result(tx.object_store(store).unwrap().get(&key.into()).unwrap()).await
}

async fn raw_put(db: &IdbDatabase, store: &str, key: &str, value: &JsValue) {
    let tx = db
        .transaction_with_str_and_mode(store, IdbTransactionMode::Readwrite)
        .unwrap();
    idb_result(
        tx.object_store(store)
            .unwrap()
            .put_with_key(value, &key.into())
            .unwrap(),
    )
    .await;
}

async fn raw_count(db: &IdbDatabase, store: &str) -> u32 {
    let tx = db.transaction_with_str(store).unwrap();
    idb_result(tx.object_store(store).unwrap().count().unwrap())
        .await
        .as_f64()
        .unwrap() as u32
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---- http ----------------------------------------------------------------------------------

/// The store's bytes-only view, for records without a DPoP key.
trait Bytes {
    async fn get_bytes(&self, table: Table, id: &str) -> Result<Option<Vec<u8>>, Error>;
    async fn take_bytes(&self, table: Table, id: &str) -> Result<Option<Vec<u8>>, Error>;
}

impl Bytes for IdbStore {
    async fn get_bytes(&self, table: Table, id: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .get(table, id)
            .await?
            .map(|mut e| std::mem::take(&mut e.data)))
    }
    async fn take_bytes(&self, table: Table, id: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .take(table, id)
            .await?
            .map(|mut e| std::mem::take(&mut e.data)))
    }
}

#[wasm_bindgen_test]
async fn fetch_data_url_gives_status_headers_and_body() {
    let resp = FetchHttp::default()
        .send(HttpRequest::get(r#"data:application/json,{"ok":true}"#))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, br#"{"ok":true}"#);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert!(resp
        .headers
        .iter()
        .all(|(k, _)| *k == k.to_ascii_lowercase()));
}

#[wasm_bindgen_test]
async fn fetch_blob_url_returns_binary_body() {
    let bytes: Vec<u8> = (0..=255).collect();
    let parts = Array::of1(&Uint8Array::from(bytes.as_slice()));
    let blob_ctor: Function = global("Blob").unchecked_into();
    let blob = Reflect::construct(&blob_ctor, &Array::of1(&parts)).unwrap();
    let url_ctor = global("URL");
    let create: Function = prop(&url_ctor, "createObjectURL").unchecked_into();
    let url = create.call1(&url_ctor, &blob).unwrap().as_string().unwrap();
    let resp = FetchHttp::default()
        .send(HttpRequest::get(url))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, bytes);
}

#[wasm_bindgen_test]
async fn refused_connection_is_network_error() {
    let e = FetchHttp::default()
        .send(HttpRequest::get("http://127.0.0.1:9/"))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError, "{e}");
}

#[wasm_bindgen_test]
async fn unbuildable_request_is_invalid_input() {
    let e = FetchHttp::default()
        .send(HttpRequest::get("data:text/plain,x").header("bad header", "x"))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput, "{e}");
}

/// The request's method, URL and headers cross to JS as one string, a line per part: a line
/// break in any of them must be refused, not turned into another header.
#[wasm_bindgen_test]
async fn a_line_break_in_a_header_is_refused_not_split() {
    for value in ["v\nx-forged\nyes", "v\n", "\n"] {
        let e = FetchHttp::default()
            .send(HttpRequest::get("data:text/plain,x").header("x-a", value))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput, "{value:?}: {e}");
    }
    // The method and the URL cross in the same string.
    let mut request = HttpRequest::get("data:text/plain,x\nx-forged\nyes");
    let e = FetchHttp::default()
        .send(request.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput, "{e}");
    request.url = "data:text/plain,x".into();
    request.method = "GET\nx".into();
    let e = FetchHttp::default().send(request).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput, "{e}");
}

/// Swaps the global `fetch` for one that records its Request and answers a 401 with the
/// headers a DPoP server sends, the way a cross-origin server exposes them.
#[wasm_bindgen_test]
async fn request_is_sent_as_given_and_all_response_headers_come_back() {
    let seen: Rc<RefCell<Option<JsValue>>> = Rc::default();
    let seen_in = seen.clone();
    let fake = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |request: JsValue| {
        *seen_in.borrow_mut() = Some(request);
        let headers = Object::new();
        Reflect::set(&headers, &"DPoP-Nonce".into(), &"n-123".into()).unwrap();
        Reflect::set(
            &headers,
            &"WWW-Authenticate".into(),
            &r#"DPoP error="use_dpop_nonce""#.into(),
        )
        .unwrap();
        let init = Object::new();
        Reflect::set(&init, &"status".into(), &401.into()).unwrap();
        Reflect::set(&init, &"headers".into(), &headers).unwrap();
        let response_ctor: Function = global("Response").unchecked_into();
        let response =
            Reflect::construct(&response_ctor, &Array::of2(&"{}".into(), &init)).unwrap();
        Promise::resolve(&response).into()
    });
    let original = replace_fetch(fake.as_ref());
    let result = FetchHttp::default()
        .send(HttpRequest {
            method: "POST".into(),
            url: "https://pds.example/xrpc/com.atproto.repo.createRecord".into(),
            headers: vec![
                ("DPoP".into(), "proof".into()),
                ("Content-Type".into(), "application/octet-stream".into()),
            ],
            body: Some(vec![0, 1, 2, 255].into()),
            max_body: 1 << 20,
            keep_body: None,
            cancel: None,
        })
        .await;
    replace_fetch(&original);

    let resp = result.unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header("dpop-nonce"), Some("n-123"));
    assert_eq!(
        resp.header("www-authenticate"),
        Some(r#"DPoP error="use_dpop_nonce""#)
    );
    assert_eq!(resp.body, b"{}");

    let request = seen.borrow().clone().unwrap();
    assert_eq!(prop(&request, "method").as_string().unwrap(), "POST");
    // The default cache mode: "no-store" (and "no-cache") make Chromium skip its CORS preflight
    // cache, a preflight before every authenticated call.
    assert_eq!(prop(&request, "cache").as_string().unwrap(), "default");
    assert!(
        prop(&request, "signal").is_object(),
        "every request carries a deadline"
    );
    let headers: web_sys::Headers = prop(&request, "headers").unchecked_into();
    assert_eq!(headers.get("dpop").unwrap().as_deref(), Some("proof"));
    let array_buffer: Function = prop(&request, "arrayBuffer").unchecked_into();
    let body = array_buffer.call0(&request).unwrap();
    let body = JsFuture::from(body.unchecked_into::<Promise>())
        .await
        .unwrap();
    assert_eq!(Uint8Array::new(&body).to_vec(), vec![0, 1, 2, 255]);
}

// ---- IndexedDB store -----------------------------------------------------------------------

#[wasm_bindgen_test]
async fn store_round_trip() {
    let store = IdbStore::open(&fresh_name("roundtrip")).await.unwrap();
    assert_eq!(
        store.get_bytes(Table::Sessions, "did:plc:a").await.unwrap(),
        None
    );
    store
        .put(Table::Sessions, "did:plc:a", b"one", None)
        .await
        .unwrap();
    store
        .put(Table::Sessions, "did:plc:b", b"two", None)
        .await
        .unwrap();
    store
        .put(Table::Nonces, "https://pds.example", b"n", None)
        .await
        .unwrap();
    assert_eq!(
        store.get_bytes(Table::Sessions, "did:plc:a").await.unwrap(),
        Some(b"one".to_vec())
    );
    store
        .put(Table::Sessions, "did:plc:a", b"uno", None)
        .await
        .unwrap();
    assert_eq!(
        store.get_bytes(Table::Sessions, "did:plc:a").await.unwrap(),
        Some(b"uno".to_vec())
    );
    let mut keys = store.keys(Table::Sessions).await.unwrap();
    keys.sort();
    assert_eq!(keys, vec!["did:plc:a", "did:plc:b"]);
    assert_eq!(
        store.keys(Table::Pending).await.unwrap(),
        Vec::<String>::new()
    );
    store.delete(Table::Sessions, "did:plc:a").await.unwrap();
    assert_eq!(
        store.get_bytes(Table::Sessions, "did:plc:a").await.unwrap(),
        None
    );
    assert_eq!(
        store.keys(Table::Sessions).await.unwrap(),
        vec!["did:plc:b"]
    );
    // Deleting what is not there is fine.
    store.delete(Table::Sessions, "did:plc:a").await.unwrap();
    // Empty values survive too.
    store.put(Table::Pending, "s", b"", None).await.unwrap();
    assert_eq!(
        store.get_bytes(Table::Pending, "s").await.unwrap(),
        Some(Vec::new())
    );
}

#[wasm_bindgen_test]
async fn take_is_single_use() {
    let store = IdbStore::open(&fresh_name("take")).await.unwrap();
    store
        .put(Table::Pending, "state-1", b"verifier", None)
        .await
        .unwrap();
    assert_eq!(
        store.take_bytes(Table::Pending, "state-1").await.unwrap(),
        Some(b"verifier".to_vec())
    );
    assert_eq!(
        store.take_bytes(Table::Pending, "state-1").await.unwrap(),
        None
    );
    assert_eq!(
        store.get_bytes(Table::Pending, "state-1").await.unwrap(),
        None
    );
}

#[wasm_bindgen_test]
async fn concurrent_takes_through_two_connections_yield_one_value() {
    let name = fresh_name("take-race");
    let a = IdbStore::open(&name).await.unwrap();
    let b = IdbStore::open(&name).await.unwrap();
    a.put(Table::Pending, "state", b"once", None).await.unwrap();
    let (ra, rb) = futures::future::join(
        a.take_bytes(Table::Pending, "state"),
        b.take_bytes(Table::Pending, "state"),
    )
    .await;
    let got: Vec<_> = [ra.unwrap(), rb.unwrap()].into_iter().flatten().collect();
    assert_eq!(got, vec![b"once".to_vec()]);
}

#[wasm_bindgen_test]
async fn stored_bytes_are_encrypted_under_a_non_extractable_key() {
    let name = fresh_name("raw");
    let secret = b"refresh-token-plaintext-that-must-not-hit-disk";
    let store = IdbStore::open(&name).await.unwrap();
    store
        .put(Table::Sessions, "did:plc:raw", secret, None)
        .await
        .unwrap();

    let db = raw_open(&name).await;
    let stored = prop(&raw_get(&db, "sessions", "did:plc:raw").await, "sealed");
    let stored = stored.dyn_into::<Uint8Array>().unwrap().to_vec();
    // iv (12) || ciphertext || GCM tag (16)
    assert_eq!(stored.len(), 12 + secret.len() + 16);
    assert!(!contains(&stored, secret));
    assert!(!contains(&stored, b"refresh-token"));

    let key = raw_get(&db, "keys", "storage-key").await;
    let key: web_sys::CryptoKey = key.dyn_into().unwrap();
    assert_eq!(prop(&key, "extractable"), JsValue::FALSE);
    assert_eq!(
        prop(&prop(&key, "algorithm"), "name").as_string().unwrap(),
        "AES-GCM"
    );
    assert_eq!(
        prop(&prop(&key, "algorithm"), "length").as_f64().unwrap(),
        256.0
    );
    let subtle: web_sys::SubtleCrypto = prop(&global("crypto"), "subtle").unchecked_into();
    for format in ["raw", "jwk"] {
        let exported = subtle.export_key(format, &key).unwrap();
        assert!(
            JsFuture::from(exported).await.is_err(),
            "exportKey({format}) must reject"
        );
    }
    db.close();
}

#[wasm_bindgen_test]
async fn a_record_moved_to_another_key_does_not_decrypt() {
    let name = fresh_name("moved");
    let store = IdbStore::open(&name).await.unwrap();
    store
        .put(Table::Sessions, "did:plc:alice", b"alice's tokens", None)
        .await
        .unwrap();
    let db = raw_open(&name).await;
    let sealed = raw_get(&db, "sessions", "did:plc:alice").await;
    raw_put(&db, "sessions", "did:plc:mallory", &sealed).await;
    raw_put(&db, "nonces", "did:plc:alice", &sealed).await;
    db.close();
    let e = store
        .get_bytes(Table::Sessions, "did:plc:mallory")
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::CryptoError, "{e}");
    let e = store
        .get_bytes(Table::Nonces, "did:plc:alice")
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::CryptoError, "{e}");
    // The original is untouched.
    assert_eq!(
        store
            .get_bytes(Table::Sessions, "did:plc:alice")
            .await
            .unwrap(),
        Some(b"alice's tokens".to_vec())
    );
}

/// Safari keeps a stored CryptoKey wrapped under a key in the Keychain, and a value it cannot
/// unwrap reads back as `null`. A storage key that reads back as anything but a CryptoKey is
/// replaced by a new one: the records sealed under the lost key stay, and read as crypto errors
/// (`unreadableSessions`), while new records work, instead of every open failing for good.
#[wasm_bindgen_test]
async fn a_storage_key_that_reads_back_as_null_is_replaced() {
    let name = fresh_name("lostkey");
    let store = IdbStore::open(&name).await.unwrap();
    store
        .put(Table::Sessions, "did:plc:old", b"old", None)
        .await
        .unwrap();
    let db = raw_open(&name).await;
    raw_put(&db, "keys", "storage-key", &JsValue::NULL).await;
    db.close();

    // A new connection, as a reloaded page.
    let again = IdbStore::open(&name).await.unwrap();
    let e = again
        .get_bytes(Table::Sessions, "did:plc:old")
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::CryptoError, "{e}");
    again
        .put(Table::Sessions, "did:plc:new", b"new", None)
        .await
        .unwrap();
    // The new key was stored: a third connection reads the new record with it.
    let third = IdbStore::open(&name).await.unwrap();
    assert_eq!(
        third
            .get_bytes(Table::Sessions, "did:plc:new")
            .await
            .unwrap(),
        Some(b"new".to_vec())
    );
    let db = raw_open(&name).await;
    assert!(raw_get(&db, "keys", "storage-key")
        .await
        .is_instance_of::<web_sys::CryptoKey>());
    db.close();
}

#[wasm_bindgen_test]
async fn a_plaintext_value_in_the_db_is_an_error_not_a_panic() {
    let name = fresh_name("garbage");
    let store = IdbStore::open(&name).await.unwrap();
    let db = raw_open(&name).await;
    raw_put(&db, "sessions", "a", &"plain string".into()).await;
    raw_put(&db, "sessions", "b", &Uint8Array::from(&[1u8, 2, 3][..])).await;
    db.close();
    let e = store.get_bytes(Table::Sessions, "a").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::StorageError, "{e}");
    let e = store.get_bytes(Table::Sessions, "b").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::CryptoError, "{e}");
}

#[wasm_bindgen_test]
async fn later_opens_reuse_the_stored_key() {
    let name = fresh_name("reuse");
    let (first, generated) = counting_key_generation(1, IdbStore::open(&name)).await;
    assert_eq!(generated, 1);
    let (second, generated) = counting_key_generation(1, IdbStore::open(&name)).await;
    assert_eq!(generated, 0);
    drop((first.unwrap(), second.unwrap()));
}

#[wasm_bindgen_test]
async fn an_open_store_gives_way_to_a_schema_upgrade_elsewhere() {
    let name = fresh_name("upgrade");
    let store = IdbStore::open(&name).await.unwrap();
    store.put(Table::Sessions, "k", b"v", None).await.unwrap();
    // Another tab running a newer schema: it must not be blocked by our connection.
    let factory: IdbFactory = global("indexedDB").unchecked_into();
    let newer = factory.open_with_u32(&name, 2).unwrap();
    let newer: IdbDatabase = idb_result(newer.unchecked_into()).await.unchecked_into();
    assert_eq!(newer.version(), 2.0);
    newer.close();
    let e = store.get_bytes(Table::Sessions, "k").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::StorageError, "{e}");
}

/// A database deleted under an open store (site data cleared, another script's
/// `deleteDatabase`) is given way to, and the next operation opens a new, empty one: before,
/// every operation failed with `storage_error` until the page was reloaded.
#[wasm_bindgen_test]
async fn a_store_whose_database_was_deleted_opens_a_new_one() {
    let name = fresh_name("deleted");
    let store = IdbStore::open(&name).await.unwrap();
    store.put(Table::Sessions, "k", b"v", None).await.unwrap();
    let factory: IdbFactory = global("indexedDB").unchecked_into();
    let deleting = factory.delete_database(&name).unwrap();
    idb_result(deleting.unchecked_into()).await;
    assert_eq!(store.get_bytes(Table::Sessions, "k").await.unwrap(), None);
    store.put(Table::Sessions, "k", b"w", None).await.unwrap();
    assert_eq!(
        store.get_bytes(Table::Sessions, "k").await.unwrap(),
        Some(b"w".to_vec())
    );
}

#[wasm_bindgen_test]
async fn reopened_store_decrypts_old_values() {
    let name = fresh_name("reopen");
    let first = IdbStore::open(&name).await.unwrap();
    first
        .put(Table::Sessions, "did:plc:x", b"persisted", None)
        .await
        .unwrap();
    drop(first);
    let second = IdbStore::open(&name).await.unwrap();
    assert_eq!(
        second
            .get_bytes(Table::Sessions, "did:plc:x")
            .await
            .unwrap(),
        Some(b"persisted".to_vec())
    );
    assert_eq!(second.name(), name);
}

/// Stores "one" under `did:plc:a` in the database `name`, then plays another script of the
/// origin that keeps a readwrite transaction on its sessions table busy (a request chained to each success) until the function returned
/// is called. With `abort_throws`, `IDBTransaction.prototype.abort` throws meanwhile, as it
/// does once a transaction commits.
async fn hog_sessions_table(name: &str, abort_throws: bool) -> Function {
    IdbStore::open(name)
        .await
        .unwrap()
        .put(Table::Sessions, "did:plc:a", b"one", None)
        .await
        .unwrap();
    let hog = Function::new_with_args(
        "name, abortThrows",
        "return new Promise((ready) => {
           const open = indexedDB.open(name);
           open.onsuccess = () => {
             const db = open.result;
             const store = db.transaction('sessions', 'readwrite').objectStore('sessions');
             let stop = false;
             const spin = () => { if (!stop) store.get('spin').onsuccess = spin; };
             spin();
             const abort = IDBTransaction.prototype.abort;
             if (abortThrows) IDBTransaction.prototype.abort = function () {
               throw new DOMException('committing', 'InvalidStateError');
             };
             ready(() => { IDBTransaction.prototype.abort = abort; stop = true; db.close(); });
           };
         })",
    );
    JsFuture::from(Promise::from(
        hog.call2(&JsValue::UNDEFINED, &name.into(), &abort_throws.into())
            .unwrap(),
    ))
    .await
    .unwrap()
    .unchecked_into()
}

/// Another script of the origin keeps a readwrite transaction on the sessions table busy for
/// ever (a request chained to each success): every later transaction on it waits behind it, so
/// a store operation would never settle. It fails with `storage_error` at the store's deadline.
#[wasm_bindgen_test]
async fn a_store_blocked_by_another_transaction_fails_at_its_deadline() {
    let name = fresh_name("blocked");
    let stop = hog_sessions_table(&name, false).await;
    let store = IdbStore::with_deadline(&name, 300);
    let started = js_sys::Date::now();
    let e = store
        .get_bytes(Table::Sessions, "did:plc:a")
        .await
        .unwrap_err();
    let took = js_sys::Date::now() - started;
    assert_eq!(e.code, ErrorCode::StorageError, "{}", e.message);
    assert!(e.message.contains("300 ms"), "{}", e.message);
    assert!((250.0..3000.0).contains(&took), "{took} ms");
    // A write reported as failed never lands later, when the way is clear (the caller may have
    // let go of the session's lock meanwhile, and another tab written newer tokens).
    let e = store
        .put(Table::Sessions, "did:plc:a", b"late", None)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::StorageError, "{}", e.message);
    stop.call0(&JsValue::UNDEFINED).unwrap();
    // Once the other transaction is gone, the same store works.
    sleep(200).await;
    assert_eq!(
        store.get_bytes(Table::Sessions, "did:plc:a").await.unwrap(),
        Some(b"one".to_vec())
    );
}

/// At the deadline, a transaction that can no longer be aborted (it is committing; here `abort`
/// is made to throw, as it then does, while another script's transaction still holds the table)
/// is not reported as failed, since its write may still land: its own outcome is the answer.
/// What is reported and what is stored agree.
#[wasm_bindgen_test]
async fn a_write_that_cannot_be_aborted_at_its_deadline_reports_its_own_outcome() {
    let name = fresh_name("committing");
    let release = hog_sessions_table(&name, true).await;
    let store = IdbStore::with_deadline(&name, 300);
    spawn_local(async move {
        sleep(450).await;
        release.call0(&JsValue::UNDEFINED).unwrap();
    });
    let result = store.put(Table::Sessions, "did:plc:a", b"two", None).await;
    sleep(300).await;
    let stored = store.get_bytes(Table::Sessions, "did:plc:a").await.unwrap();
    assert_eq!(
        (result.is_ok(), stored.as_deref()),
        (true, Some(&b"two"[..])),
        "reported {result:?}"
    );
}

/// Counts `crypto.subtle.generateKey` calls while `f` runs. No generated key is handed back
/// before `hold_until` calls have been made (or three seconds pass), so concurrent opens really
/// race instead of depending on how a browser happens to schedule IndexedDB transactions.
async fn counting_key_generation<T>(hold_until: u32, f: impl Future<Output = T>) -> (T, u32) {
    let subtle = prop(&global("crypto"), "subtle");
    let original: Function = prop(&subtle, "generateKey").unchecked_into();
    let bound = original.bind0(&subtle);
    let mut release = None;
    let gate = Promise::new(&mut |resolve, _| {
        let set_timeout: Function = global("setTimeout").unchecked_into();
        set_timeout
            .call2(&JsValue::UNDEFINED, &resolve, &3000.into())
            .unwrap();
        release = Some(resolve);
    });
    let release = release.unwrap();
    let hold = Function::new_with_args(
        "key, gate",
        "return Promise.all([key, gate]).then(v => v[0])",
    );
    let calls = Rc::new(RefCell::new(0u32));
    let counter = calls.clone();
    let wrapper = Closure::<dyn FnMut(JsValue, JsValue, JsValue) -> JsValue>::new(
        move |alg: JsValue, extractable: JsValue, usages: JsValue| {
            *counter.borrow_mut() += 1;
            if *counter.borrow() >= hold_until {
                release.call0(&JsValue::UNDEFINED).unwrap();
            }
            let key = bound
                .call3(&JsValue::UNDEFINED, &alg, &extractable, &usages)
                .unwrap();
            hold.call2(&JsValue::UNDEFINED, &key, &gate).unwrap()
        },
    );
    Reflect::set(&subtle, &"generateKey".into(), wrapper.as_ref()).unwrap();
    let out = f.await;
    Reflect::delete_property(subtle.unchecked_ref::<Object>(), &"generateKey".into()).unwrap();
    let n = *calls.borrow();
    (out, n)
}

#[wasm_bindgen_test]
async fn concurrent_first_opens_agree_on_one_key() {
    let name = fresh_name("race");
    let ((a, b), generated) = counting_key_generation(
        2,
        futures::future::join(IdbStore::open(&name), IdbStore::open(&name)),
    )
    .await;
    // Both saw no key and generated one: the race really happened, and one key still won.
    assert_eq!(generated, 2);
    let (a, b) = (a.unwrap(), b.unwrap());
    a.put(Table::Sessions, "from-a", b"written by a", None)
        .await
        .unwrap();
    b.put(Table::Sessions, "from-b", b"written by b", None)
        .await
        .unwrap();
    assert_eq!(
        b.get_bytes(Table::Sessions, "from-a").await.unwrap(),
        Some(b"written by a".to_vec())
    );
    assert_eq!(
        a.get_bytes(Table::Sessions, "from-b").await.unwrap(),
        Some(b"written by b".to_vec())
    );
    let db = raw_open(&name).await;
    assert_eq!(raw_count(&db, "keys").await, 1);
    db.close();
}

#[wasm_bindgen_test]
async fn several_concurrent_first_opens_agree_on_one_key() {
    let name = fresh_name("race4");
    let opens = [
        IdbStore::open(&name),
        IdbStore::open(&name),
        IdbStore::open(&name),
        IdbStore::open(&name),
    ];
    let stores: Vec<IdbStore> = futures::future::join_all(opens)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (i, s) in stores.iter().enumerate() {
        s.put(Table::Nonces, &i.to_string(), &[i as u8], None)
            .await
            .unwrap();
    }
    for s in &stores {
        for i in 0..stores.len() {
            assert_eq!(
                s.get_bytes(Table::Nonces, &i.to_string()).await.unwrap(),
                Some(vec![i as u8])
            );
        }
    }
}

// ---- locks ---------------------------------------------------------------------------------

async fn second_waits_for_first(make: fn() -> WebLocks) {
    let name = fresh_name("lock");
    let log: Rc<RefCell<Vec<&'static str>>> = Rc::default();
    let first = make().lock(&name).await.unwrap();
    log.borrow_mut().push("first acquired");

    let (done_tx, done_rx) = futures_channel_oneshot();
    let (log2, name2) = (log.clone(), name.clone());
    spawn_local(async move {
        let guard = make().lock(&name2).await.unwrap();
        log2.borrow_mut().push("second acquired");
        drop(guard);
        let _ = done_tx.send(());
    });

    sleep(100).await;
    assert_eq!(*log.borrow(), vec!["first acquired"]);
    log.borrow_mut().push("first released");
    drop(first);
    done_rx.await.unwrap();
    assert_eq!(
        *log.borrow(),
        vec!["first acquired", "first released", "second acquired"]
    );
    // Free again afterwards.
    drop(make().lock(&name).await.unwrap());
}

async fn cancelled_waiter_does_not_strand_the_lock(make: fn() -> WebLocks) {
    let name = fresh_name("cancel");
    let locks = make();
    let first = locks.lock(&name).await.unwrap();
    poll_once_then_drop(locks.lock(&name)).await;
    drop(first);
    let (done_tx, done_rx) = futures_channel_oneshot();
    let name2 = name.clone();
    spawn_local(async move {
        drop(make().lock(&name2).await.unwrap());
        let _ = done_tx.send(());
    });
    let acquired = Rc::new(RefCell::new(false));
    let flag = acquired.clone();
    spawn_local(async move {
        let _ = done_rx.await;
        *flag.borrow_mut() = true;
    });
    assert!(eventually(|| *acquired.borrow()).await, "lock stayed held");
}

fn futures_channel_oneshot() -> (
    futures::channel::oneshot::Sender<()>,
    futures::channel::oneshot::Receiver<()>,
) {
    futures::channel::oneshot::channel()
}

#[wasm_bindgen_test]
fn web_locks_are_detected() {
    assert!(WebLocks::new().is_cross_tab());
    assert!(!WebLocks::in_tab().is_cross_tab());
}

#[wasm_bindgen_test]
async fn web_lock_excludes() {
    second_waits_for_first(WebLocks::new).await;
}

#[wasm_bindgen_test]
async fn in_tab_lock_excludes() {
    second_waits_for_first(WebLocks::in_tab).await;
}

#[wasm_bindgen_test]
async fn web_lock_survives_a_cancelled_waiter() {
    cancelled_waiter_does_not_strand_the_lock(WebLocks::new).await;
}

#[wasm_bindgen_test]
async fn in_tab_lock_survives_a_cancelled_waiter() {
    cancelled_waiter_does_not_strand_the_lock(WebLocks::in_tab).await;
}

/// `try_lock` takes a free lock, reports a held one as `None` without waiting, and a lock it
/// took is held until dropped.
async fn try_lock_takes_only_a_free_lock(make: fn() -> WebLocks) {
    let name = fresh_name("try");
    let held = make().lock(&name).await.unwrap();
    assert!(make().try_lock(&name).await.unwrap().is_none(), "held");
    drop(held);
    sleep(50).await; // a Web Lock is released once its promise settles
    let taken = make().try_lock(&name).await.unwrap().expect("free");
    assert!(
        make().try_lock(&name).await.unwrap().is_none(),
        "held by try_lock"
    );
    drop(taken);
    sleep(50).await;
    drop(make().try_lock(&name).await.unwrap().expect("free again"));
    drop(make().lock(&name).await.unwrap());
}

#[wasm_bindgen_test]
async fn web_try_lock_takes_only_a_free_lock() {
    try_lock_takes_only_a_free_lock(WebLocks::new).await;
}

#[wasm_bindgen_test]
async fn in_tab_try_lock_takes_only_a_free_lock() {
    try_lock_takes_only_a_free_lock(WebLocks::in_tab).await;
}

/// Waits for `lock` for at most five seconds (a lock wait that hangs fails the test instead of
/// the whole test binary).
async fn within_5s<T>(lock: impl Future<Output = T>) -> T {
    use futures::future::{select, Either};
    match select(Box::pin(lock), Box::pin(sleep(5000))).await {
        Either::Left((done, _)) => done,
        Either::Right(_) => panic!("still waiting for the lock after 5 s"),
    }
}

/// Something else holds the lock for ever (another script of the origin can take one of ours
/// by its name; here a second `WebLocks`, or the page's own `navigator.locks` call): the wait
/// fails with `lock_failed` at its deadline, withdrawn, so the lock goes to the next waiter once
/// the holder lets go, and the abandoned request never takes it.
async fn a_lock_held_for_ever_fails_at_the_wait_deadline(make: fn() -> WebLocks, page: bool) {
    let name = fresh_name("hog");
    let mut stop: Option<Function> = None;
    let mut held = None;
    if page {
        let hog = Function::new_with_args(
            "name",
            "return new Promise((ready) => navigator.locks.request(name, () =>
               new Promise((stop) => ready(stop))))",
        );
        let hog = hog
            .call1(&JsValue::UNDEFINED, &name.as_str().into())
            .unwrap();
        stop = Some(
            JsFuture::from(Promise::from(hog))
                .await
                .unwrap()
                .unchecked_into(),
        );
    } else {
        held = Some(make().lock(&name).await.unwrap());
    }
    let locks = make().with_wait(300);
    let started = js_sys::Date::now();
    let e = within_5s(locks.lock(&name)).await.unwrap_err();
    let took = js_sys::Date::now() - started;
    assert_eq!(e.code, ErrorCode::LockFailed, "{}", e.message);
    assert!(e.message.contains("300 ms"), "{}", e.message);
    assert!((250.0..3000.0).contains(&took), "{took} ms");
    if page {
        // The withdrawn request is no longer queued.
        let query = prop(&global("navigator"), "locks");
        let query: Function = prop(&query, "query").unchecked_into();
        let state = JsFuture::from(Promise::from(
            query.call0(&prop(&global("navigator"), "locks")).unwrap(),
        ))
        .await
        .unwrap();
        let pending = Array::from(&prop(&state, "pending"));
        assert!(
            !pending
                .iter()
                .any(|p| prop(&p, "name").as_string() == Some(name.clone())),
            "the abandoned request is still queued"
        );
    }
    // Free for the next waiter once the holder lets go, and not taken by the abandoned one.
    if let Some(stop) = stop {
        stop.call0(&JsValue::UNDEFINED).unwrap();
    }
    drop(held);
    let next = within_5s(locks.lock(&name)).await.unwrap();
    assert!(
        locks.try_lock(&name).await.unwrap().is_none(),
        "held by the next"
    );
    drop(next);
}

#[wasm_bindgen_test]
async fn a_web_lock_held_by_the_page_fails_at_the_wait_deadline() {
    a_lock_held_for_ever_fails_at_the_wait_deadline(WebLocks::new, true).await;
}

#[wasm_bindgen_test]
async fn a_web_lock_held_elsewhere_fails_at_the_wait_deadline() {
    a_lock_held_for_ever_fails_at_the_wait_deadline(WebLocks::new, false).await;
}

#[wasm_bindgen_test]
async fn an_in_tab_lock_held_elsewhere_fails_at_the_wait_deadline() {
    a_lock_held_for_ever_fails_at_the_wait_deadline(WebLocks::in_tab, false).await;
}

#[wasm_bindgen_test]
async fn different_names_do_not_exclude() {
    for locks in [WebLocks::new(), WebLocks::in_tab()] {
        let a = locks.lock(&fresh_name("a")).await.unwrap();
        let b = locks.lock(&fresh_name("b")).await.unwrap();
        drop((a, b));
    }
}

#[wasm_bindgen_test]
async fn refused_web_lock_request_is_an_error_not_a_hang() {
    // Names starting with '-' are reserved by the Web Locks spec; the request rejects.
    let e = WebLocks::new().lock("-reserved").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::LockFailed, "{e}");
}

// ---- events --------------------------------------------------------------------------------

fn recorder() -> (Function, Rc<RefCell<Vec<JsValue>>>) {
    let seen: Rc<RefCell<Vec<JsValue>>> = Rc::default();
    let sink = seen.clone();
    let f = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        sink.borrow_mut().push(event);
    });
    (f.into_js_value().unchecked_into(), seen)
}

fn str_prop(obj: &JsValue, key: &str) -> Option<String> {
    prop(obj, key).as_string()
}

#[wasm_bindgen_test]
fn local_listeners_get_events() {
    let events = BroadcastEvents::new(&fresh_name("events"));
    assert!(events.is_broadcasting());
    let (listener, seen) = recorder();
    let remove = events.add_listener(&listener);
    events.emit(SessionEvent::Updated {
        did: "did:plc:a".into(),
    });
    events.emit(SessionEvent::Deleted {
        did: "did:plc:a".into(),
        reason: "signed_out".into(),
    });
    let seen_now = seen.borrow().clone();
    assert_eq!(seen_now.len(), 2);
    assert_eq!(str_prop(&seen_now[0], "type").as_deref(), Some("updated"));
    assert_eq!(str_prop(&seen_now[0], "did").as_deref(), Some("did:plc:a"));
    assert!(prop(&seen_now[0], "remote").is_undefined());
    assert!(prop(&seen_now[0], "reason").is_undefined());
    assert_eq!(str_prop(&seen_now[1], "type").as_deref(), Some("deleted"));
    assert_eq!(
        str_prop(&seen_now[1], "reason").as_deref(),
        Some("signed_out")
    );

    let remove: Function = remove.unchecked_into();
    remove.call0(&JsValue::UNDEFINED).unwrap();
    // Idempotent: a second call is harmless.
    remove.call0(&JsValue::UNDEFINED).unwrap();
    events.emit(SessionEvent::Updated {
        did: "did:plc:a".into(),
    });
    assert_eq!(seen.borrow().len(), 2);
}

#[wasm_bindgen_test]
fn a_throwing_listener_does_not_stop_the_others() {
    let events = BroadcastEvents::local_only();
    let thrower = Closure::<dyn FnMut(JsValue) -> Result<(), JsValue>>::new(|_| {
        Err(js_sys::Error::new("listener bug").into())
    });
    events.add_listener(&thrower.into_js_value().unchecked_into());
    let (listener, seen) = recorder();
    events.add_listener(&listener);
    events.emit(SessionEvent::Updated {
        did: "did:plc:a".into(),
    });
    assert_eq!(seen.borrow().len(), 1);
}

#[wasm_bindgen_test]
async fn other_instances_hear_events_as_remote_and_run_the_hook() {
    let channel = fresh_name("events");
    let here = BroadcastEvents::new(&channel);
    let there = BroadcastEvents::new(&channel);
    let (here_listener, here_seen) = recorder();
    let (there_listener, there_seen) = recorder();
    here.add_listener(&here_listener);
    there.add_listener(&there_listener);
    let hooked: Rc<RefCell<Vec<String>>> = Rc::default();
    let hook_sink = hooked.clone();
    there.set_remote_hook(Box::new(move |did: String| {
        hook_sink.borrow_mut().push(did)
    }));

    here.emit(SessionEvent::Deleted {
        did: "did:plc:b".into(),
        reason: "refresh_failed".into(),
    });
    assert!(eventually(|| there_seen.borrow().len() == 1).await);
    let got = there_seen.borrow()[0].clone();
    assert_eq!(str_prop(&got, "type").as_deref(), Some("deleted"));
    assert_eq!(str_prop(&got, "did").as_deref(), Some("did:plc:b"));
    assert_eq!(str_prop(&got, "reason").as_deref(), Some("refresh_failed"));
    assert_eq!(prop(&got, "remote"), JsValue::TRUE);
    assert_eq!(*hooked.borrow(), vec!["did:plc:b".to_string()]);
    // An unsaved session changed nothing in storage: the listeners hear it, the hook does not.
    here.emit(SessionEvent::Unsaved {
        did: "did:plc:b".into(),
        reason: "QuotaExceededError".into(),
    });
    assert!(eventually(|| there_seen.borrow().len() == 2).await);
    let got = there_seen.borrow()[1].clone();
    assert_eq!(str_prop(&got, "type").as_deref(), Some("unsaved"));
    assert_eq!(
        str_prop(&got, "reason").as_deref(),
        Some("QuotaExceededError")
    );
    assert_eq!(hooked.borrow().len(), 1);
    // The sender hears its own events once, locally, and not back from the channel.
    sleep(50).await;
    assert_eq!(here_seen.borrow().len(), 2);
    assert!(prop(&here_seen.borrow()[0], "remote").is_undefined());
}

#[wasm_bindgen_test]
async fn malformed_channel_messages_are_ignored() {
    let channel = fresh_name("events");
    let events = BroadcastEvents::new(&channel);
    let (listener, seen) = recorder();
    events.add_listener(&listener);
    let raw = web_sys::BroadcastChannel::new(&channel).unwrap();
    raw.post_message(&"not an object".into()).unwrap();
    let bad = Object::new();
    Reflect::set(&bad, &"type".into(), &"exploded".into()).unwrap();
    Reflect::set(&bad, &"did".into(), &"did:plc:x".into()).unwrap();
    raw.post_message(&bad).unwrap();
    // A DID longer than any (2 KiB): not copied into Wasm memory.
    let long = Object::new();
    Reflect::set(&long, &"type".into(), &"updated".into()).unwrap();
    let did = format!("did:plc:{}", "x".repeat(2041));
    Reflect::set(&long, &"did".into(), &did.as_str().into()).unwrap();
    raw.post_message(&long).unwrap();
    let good = Object::new();
    Reflect::set(&good, &"type".into(), &"updated".into()).unwrap();
    Reflect::set(&good, &"did".into(), &"did:plc:x".into()).unwrap();
    raw.post_message(&good).unwrap();
    assert!(eventually(|| !seen.borrow().is_empty()).await);
    sleep(50).await;
    assert_eq!(seen.borrow().len(), 1);
    assert_eq!(
        str_prop(&seen.borrow()[0], "type").as_deref(),
        Some("updated")
    );
    raw.close();
}

// ---- clock and errors ----------------------------------------------------------------------

#[wasm_bindgen_test]
fn clock_is_unix_seconds() {
    let now = BrowserClock.now();
    // 2024-01-01 .. 2100-01-01
    assert!((1_704_067_200..4_102_444_800).contains(&now), "{now}");
}

#[wasm_bindgen_test]
fn js_error_is_a_real_error_with_code() {
    let e = Error::new(ErrorCode::TokenFailed, "token endpoint said no")
        .with_server_error(Some("invalid_grant".into()), Some(400));
    let js = js_error(&e);
    assert!(js.is_instance_of::<js_sys::Error>());
    assert_eq!(str_prop(&js, "name").as_deref(), Some("OAuthError"));
    assert_eq!(
        str_prop(&js, "message").as_deref(),
        Some("token endpoint said no")
    );
    assert_eq!(str_prop(&js, "code").as_deref(), Some("token_failed"));
    assert_eq!(
        str_prop(&js, "serverError").as_deref(),
        Some("invalid_grant")
    );
    assert_eq!(prop(&js, "status").as_f64(), Some(400.0));

    let plain = js_error(&Error::new(ErrorCode::SessionNotFound, "no session"));
    assert_eq!(
        str_prop(&plain, "code").as_deref(),
        Some("session_not_found")
    );
    assert!(!Reflect::has(&plain, &"serverError".into()).unwrap());
    assert!(!Reflect::has(&plain, &"status".into()).unwrap());
}

// ---- DPoP keys: WebCrypto, non-extractable, stored as CryptoKeys ----------------------------

fn key_material() -> (KeyMaterial, p256::ecdsa::VerifyingKey) {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let mut scalar = atproto_oauth_wasm::platform::blank_scalar();
    getrandom::fill(scalar.as_mut_slice()).unwrap();
    let secret = p256::SecretKey::from_slice(scalar.as_slice()).unwrap();
    let point = secret.public_key().to_encoded_point(false);
    let mut public = [0u8; 65];
    public.copy_from_slice(point.as_bytes());
    let verifying = p256::ecdsa::VerifyingKey::from_sec1_bytes(&public).unwrap();
    (KeyMaterial::new(scalar, public), verifying)
}

fn platform(name: &str) -> BrowserPlatform {
    BrowserPlatform::new(name, 30_000, Rc::new(BroadcastEvents::local_only()))
}

async fn assert_unexportable(key: &web_sys::CryptoKey) {
    assert_eq!(prop(key, "extractable"), JsValue::FALSE);
    let subtle: web_sys::SubtleCrypto = prop(&global("crypto"), "subtle").unchecked_into();
    for format in ["pkcs8", "jwk", "raw"] {
        let rejected = match subtle.export_key(format, key) {
            Ok(promise) => JsFuture::from(promise).await.is_err(),
            Err(_) => true,
        };
        assert!(rejected, "exportKey({format}) must fail");
    }
}

#[wasm_bindgen_test]
async fn dpop_key_is_imported_sign_only_and_unexportable_and_signs_es256() {
    use p256::ecdsa::signature::Verifier;
    let p = platform(&fresh_name("keys"));
    let (material, verifying) = key_material();
    let key = p.import_key(material).await.unwrap();
    assert_unexportable(&key).await;
    let usages: Array = prop(&key, "usages").unchecked_into();
    assert_eq!(usages.to_vec(), vec![JsValue::from_str("sign")]);
    let algorithm = prop(&key, "algorithm");
    assert_eq!(prop(&algorithm, "name").as_string().unwrap(), "ECDSA");
    assert_eq!(prop(&algorithm, "namedCurve").as_string().unwrap(), "P-256");
    let message = b"header.claims";
    let signature = p.sign(&key, message).await.unwrap();
    assert_eq!(signature.len(), 64, "raw r||s");
    let signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
    verifying.verify(message, &signature).unwrap();
}

/// `FetchHttp` signs a DPoP proof in the same call into JS that sends the request: the proof
/// that leaves is the input, a dot and the key's ES256 signature over the input. A key that
/// cannot sign is a `CryptoError`, and nothing is sent.
#[wasm_bindgen_test]
async fn fetch_signs_the_proof_on_the_way_out() {
    use atproto_oauth_wasm::browser::SendSigned;
    use p256::ecdsa::signature::Verifier;
    let seen: Rc<RefCell<Vec<JsValue>>> = Rc::default();
    let seen_in = seen.clone();
    let fake = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |request: JsValue| {
        seen_in.borrow_mut().push(request);
        let response_ctor: Function = global("Response").unchecked_into();
        let response = Reflect::construct(&response_ctor, &Array::of1(&"{}".into())).unwrap();
        Promise::resolve(&response).into()
    });
    let p = platform(&fresh_name("signed"));
    let (material, verifying) = key_material();
    let key = p.import_key(material).await.unwrap();
    let subtle: web_sys::SubtleCrypto = prop(&global("crypto"), "subtle").unchecked_into();
    let hmac = Object::new();
    Reflect::set(&hmac, &"name".into(), &"HMAC".into()).unwrap();
    Reflect::set(&hmac, &"hash".into(), &"SHA-256".into()).unwrap();
    let usages = Array::of1(&"sign".into());
    let not_ecdsa: web_sys::CryptoKey = JsFuture::from(
        subtle
            .generate_key_with_object(&hmac, false, &usages)
            .unwrap(),
    )
    .await
    .unwrap()
    .unchecked_into();
    let request =
        || HttpRequest::get("https://pds.example/xrpc/a.b.c?x=1").header("Authorization", "DPoP t");
    let input = "eyJoZWFkZXIiOjF9.eyJjbGFpbXMiOjF9";

    let original = replace_fetch(fake.as_ref());
    let http = FetchHttp::default();
    let signed = http.send_signed(request(), &key, input.into()).await;
    let refused = http.send_signed(request(), &not_ecdsa, input.into()).await;
    replace_fetch(&original);

    assert_eq!(signed.unwrap().status, 200);
    let e = refused.unwrap_err();
    assert_eq!(e.code, ErrorCode::CryptoError, "{e}");
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "the refused proof sent nothing");
    let headers: web_sys::Headers = prop(&seen[0], "headers").unchecked_into();
    assert_eq!(
        headers.get("authorization").unwrap().as_deref(),
        Some("DPoP t")
    );
    let proof = headers.get("dpop").unwrap().unwrap();
    let (signed_part, signature) = proof.rsplit_once('.').unwrap();
    assert_eq!(signed_part, input);
    assert!(
        signature
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "base64url without padding: {signature}"
    );
    use base64::Engine;
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .unwrap();
    let signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
    verifying.verify(input.as_bytes(), &signature).unwrap();
}

#[wasm_bindgen_test]
async fn a_record_keeps_its_cryptokey_through_indexeddb() {
    use p256::ecdsa::signature::Verifier;
    let name = fresh_name("keyed");
    let p = platform(&name);
    let (material, verifying) = key_material();
    let key = p.import_key(material).await.unwrap();
    p.put(Table::Sessions, "did:plc:k", b"record", Some(&key))
        .await
        .unwrap();

    // A new connection (as a reloaded page) gets the key back, still unexportable, still signing.
    let again = IdbStore::open(&name).await.unwrap();
    let entry = again
        .get(Table::Sessions, "did:plc:k")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.data, b"record");
    let stored = entry.key.clone().expect("the key comes back");
    assert_unexportable(&stored).await;
    let signature = p.sign(&stored, b"m").await.unwrap();
    verifying
        .verify(
            b"m",
            &p256::ecdsa::Signature::from_slice(&signature).unwrap(),
        )
        .unwrap();
    let taken = again
        .take(Table::Sessions, "did:plc:k")
        .await
        .unwrap()
        .unwrap();
    assert!(taken.key.is_some());

    // What a page script finds in the database is the CryptoKey itself, unexportable.
    p.put(Table::Pending, "state", b"p", Some(&key))
        .await
        .unwrap();
    let db = raw_open(&name).await;
    let raw = raw_get(&db, "pending", "state").await;
    let raw_key: web_sys::CryptoKey = prop(&raw, "key").dyn_into().unwrap();
    assert_unexportable(&raw_key).await;
    db.close();
}

#[wasm_bindgen_test]
async fn records_written_by_version_0_1_are_still_read() {
    let name = fresh_name("v1");
    let store = IdbStore::open(&name).await.unwrap();
    store
        .put(Table::Sessions, "did:plc:old", b"old record", None)
        .await
        .unwrap();
    // Version 0.1 stored the sealed bytes alone, not in an object.
    let db = raw_open(&name).await;
    let sealed = prop(&raw_get(&db, "sessions", "did:plc:old").await, "sealed");
    raw_put(&db, "sessions", "did:plc:old", &sealed).await;
    db.close();
    let entry = store
        .get(Table::Sessions, "did:plc:old")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.data, b"old record");
    assert!(entry.key.is_none());
}

// ---- bounded requests: timeouts and body caps, against a scripted global fetch --------------

/// Sends requests with `body` (a function of the Request) for the duration of `f`.
async fn with_fetch<T>(body: &str, f: impl Future<Output = T>) -> T {
    let fake = Function::new_with_args("request", body);
    let original = replace_fetch(&fake);
    let out = f.await;
    replace_fetch(&original);
    out
}

/// A stream of 64 KiB chunks that never ends; counts its pulls in `globalThis.pulls`.
const ENDLESS: &str = "globalThis.pulls = 0; return Promise.resolve(new Response(new ReadableStream({ pull(c) { globalThis.pulls++; c.enqueue(new Uint8Array(65536)); } })));";

#[wasm_bindgen_test]
async fn a_server_that_never_answers_times_out() {
    let started = js_sys::Date::now();
    let e = with_fetch(
        "return new Promise(() => {});",
        FetchHttp::new(300).send(HttpRequest::get("https://hang.example/")),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout, "{e}");
    let took = js_sys::Date::now() - started;
    assert!((250.0..5_000.0).contains(&took), "settled after {took} ms");
}

/// The caller's `AbortSignal` (an SDK's `init.signal`, see `wasm/fetch.rs`) aborts a request
/// already on its way, as fetch does: before, it ran on to its deadline (here 10 s).
#[wasm_bindgen_test]
async fn a_request_on_its_way_is_aborted_when_its_signal_fires() {
    let signal = Function::new_no_args(
        "const c = new AbortController(); setTimeout(() => c.abort(), 100); return c.signal;",
    )
    .call0(&JsValue::NULL)
    .unwrap();
    let mut request = HttpRequest::get("https://hang.example/");
    let fired = signal.clone();
    request.cancel = Some(Cancel(
        Rc::new(move || Reflect::get(&fired, &"aborted".into()).ok() == Some(JsValue::TRUE)),
        Some(signal),
    ));
    let started = js_sys::Date::now();
    let e = with_fetch(
        "return new Promise(() => {});",
        FetchHttp::new(10_000).send(request),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError, "{e}");
    assert!(e.message.contains("cancelled"), "{e}");
    let took = js_sys::Date::now() - started;
    assert!(took < 5_000.0, "settled after {took} ms");
}

#[wasm_bindgen_test]
async fn a_body_that_never_ends_times_out() {
    let e = with_fetch(
        "return Promise.resolve(new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([1, 2, 3])); } })));",
        FetchHttp::new(300).send(HttpRequest::get("https://slow.example/")),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout, "{e}");
}

#[wasm_bindgen_test]
async fn an_oversized_body_is_refused_while_it_is_read() {
    let e = with_fetch(
        ENDLESS,
        FetchHttp::default().send(HttpRequest::get("https://big.example/")),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::ResponseTooLarge, "{e}");
    let pulls = Reflect::get(&js_sys::global(), &"pulls".into())
        .unwrap()
        .as_f64()
        .unwrap();
    // 1 MiB is 16 chunks; the stream may pull a few ahead, never the whole thing.
    assert!(pulls < 40.0, "{pulls} chunks pulled");

    // A declared length over the cap is refused before reading anything.
    let mut small = HttpRequest::get("https://big.example/");
    small.max_body = 10;
    let e = with_fetch(
        "return Promise.resolve(new Response('x'.repeat(100), { headers: { 'content-length': '100' } }));",
        FetchHttp::default().send(small),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::ResponseTooLarge, "{e}");
}

/// The size of this module's Wasm memory, in bytes (it grows, never shrinks).
fn memory_bytes() -> u32 {
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length()
}

/// The allocator (src/heap.rs) uses freed blocks again: 300 rounds of allocations of many sizes,
/// each dropped before the next, leave the memory as large as the first round left it (a bump
/// allocator that never frees grows it by about 1 MB a round).
#[wasm_bindgen_test]
fn freed_memory_is_used_again() {
    let round = |n: usize| {
        let mut blocks: Vec<Vec<u8>> = (0..200)
            .map(|i| vec![(i + n) as u8; (i * 97 + n) % 5000 + 1])
            .collect();
        blocks.push(vec![1; 300_000]);
        let mut text = String::new();
        for i in 0..20_000 {
            text.push(char::from(b'a' + (i % 26) as u8));
        }
        blocks.iter().map(Vec::len).sum::<usize>() + text.len()
    };
    round(0);
    let after_first = memory_bytes();
    for n in 1..=300 {
        round(n);
    }
    assert!(
        memory_bytes() <= after_first + 65536,
        "the memory grew from {after_first} to {} bytes",
        memory_bytes()
    );
}

/// `IdbStore::new` opens nothing; the first operation opens the database once for every later
/// one; an open that failed is tried again by the next operation instead of failing for good.
#[wasm_bindgen_test]
async fn the_store_opens_on_first_use_once_and_retries_a_failed_open() {
    let factory = global("indexedDB");
    let real_open: Function = prop(&factory, "open").unchecked_into();
    let opens = Rc::new(RefCell::new(0u32));
    let counted = {
        let (opens, real_open, factory) = (opens.clone(), real_open.clone(), factory.clone());
        Closure::<dyn FnMut(JsValue, JsValue) -> JsValue>::new(move |name: JsValue, v: JsValue| {
            *opens.borrow_mut() += 1;
            real_open.call2(&factory, &name, &v).unwrap()
        })
    };
    Reflect::set(&factory, &"open".into(), counted.as_ref()).unwrap();

    let name = fresh_name("lazy");
    let store = IdbStore::new(&name);
    sleep(50).await;
    assert_eq!(*opens.borrow(), 0, "constructed: nothing opened");

    // No IndexedDB for the first operation: it fails, and so opens nothing.
    // (`indexedDB` is an accessor of the global object itself, or of its prototype: replaced by
    // a property holding `undefined`, then put back as it was.)
    let global_this: Object = js_sys::global();
    let own = Object::get_own_property_descriptor(&global_this, &"indexedDB".into());
    let hidden = Object::new();
    Reflect::set(&hidden, &"value".into(), &JsValue::UNDEFINED).unwrap();
    Reflect::set(&hidden, &"configurable".into(), &true.into()).unwrap();
    Object::define_property(&global_this, &"indexedDB".into(), &hidden);
    assert!(global("indexedDB").is_undefined());
    let e = store.get_bytes(Table::Sessions, "k").await.unwrap_err();
    if own.is_undefined() {
        Reflect::delete_property(&global_this, &"indexedDB".into()).unwrap();
    } else {
        Object::define_property(&global_this, &"indexedDB".into(), own.unchecked_ref());
    }
    assert!(!global("indexedDB").is_undefined());
    assert_eq!(e.code, ErrorCode::Unsupported, "{e}");
    assert_eq!(*opens.borrow(), 0);

    // IndexedDB is back: the next operations open it once between them.
    store
        .put(Table::Sessions, "k", b"value", None)
        .await
        .unwrap();
    assert_eq!(
        store.get_bytes(Table::Sessions, "k").await.unwrap(),
        Some(b"value".to_vec())
    );
    assert_eq!(
        store.keys(Table::Sessions).await.unwrap(),
        vec!["k".to_string()]
    );
    assert_eq!(*opens.borrow(), 1, "one open for every operation");
    Reflect::set(&factory, &"open".into(), &real_open).unwrap();
}

/// A 2xx answer to a request whose answer goes to the app as it is (`keep_body`: `xrpc()`,
/// `fetchHandler`) stays a JS value, in the request's sink: copied into Wasm memory, a large
/// download grew the memory by its size for good. Other answers (an error's body, which the
/// client reads; a request the client reads the answer of) come into Wasm as before, which the
/// same measure sees.
#[wasm_bindgen_test]
async fn an_answer_for_the_app_never_enters_wasm_memory() {
    let size = 40 << 20;
    let serve = "return Promise.resolve(new Response(new Uint8Array(41943040).fill(7), \
                 { status: request.url.endsWith('/err') ? 500 : 200 }));";
    let request = |path: &str, sink: Option<JsValue>| HttpRequest {
        keep_body: sink,
        max_body: 64 << 20,
        ..HttpRequest::get(format!("https://pds.example/{path}"))
    };
    let kept = |sink: &JsValue| Reflect::get(sink, &"kept".into()).unwrap();
    let sink: JsValue = Object::new().into();
    let before = memory_bytes();
    let resp = with_fetch(
        serve,
        FetchHttp::default().send(request("ok", Some(sink.clone()))),
    )
    .await
    .unwrap();
    let grown = memory_bytes() - before;
    assert!(grown < size / 4, "Wasm memory grew by {grown} bytes");
    assert!(resp.body.is_empty());
    let body: Uint8Array = kept(&sink).unchecked_into();
    assert_eq!((body.length(), body.get_index(size - 1)), (size, 7));
    // An error answer is the client's to read, and so is an answer it asked for itself.
    let before = memory_bytes();
    for (path, sink) in [("err", Some(Object::new().into())), ("ok", None)] {
        let resp = with_fetch(
            serve,
            FetchHttp::default().send(request(path, sink.clone())),
        )
        .await
        .unwrap();
        assert_eq!(resp.body.len(), size as usize);
        assert!(sink.is_none_or(|sink| kept(&sink).is_undefined()));
    }
    let grown = memory_bytes() - before;
    assert!(grown >= size / 2, "Wasm memory grew by only {grown} bytes");
}
