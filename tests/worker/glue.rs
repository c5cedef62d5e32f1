//! The browser platform inside a worker: every piece must find its API on the worker's global
//! (`self`, not `window`) and pick the variant that reaches the other contexts of the origin
//! (Web Locks, not the in-tab queue; a BroadcastChannel, not local-only events). Shared by
//! `tests/worker.rs` (a dedicated worker) and `tests/service_worker.rs`; the whole glue suite
//! runs in a page (`tests/browser.rs`), and the client itself in both kinds of worker against
//! the real PDS (`tests/e2e/workers.test.mjs`).

use std::cell::RefCell;
use std::rc::Rc;

use atproto_oauth_wasm::browser::{BroadcastEvents, BrowserPlatform, FetchHttp, WebLocks};
use atproto_oauth_wasm::platform::{
    Events, Http, HttpRequest, KeyMaterial, Keys, Locks, SessionEvent, Store, Table,
};
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

fn fresh_name(prefix: &str) -> String {
    format!("{prefix}-{}", (js_sys::Math::random() * 1e12) as u64)
}

async fn sleep(ms: i32) {
    let done = Promise::new(&mut |resolve, _| {
        let set_timeout: Function = Reflect::get(&js_sys::global(), &"setTimeout".into())
            .unwrap()
            .unchecked_into();
        set_timeout
            .call2(&JsValue::UNDEFINED, &resolve, &ms.into())
            .unwrap();
    });
    JsFuture::from(done).await.unwrap();
}

#[wasm_bindgen_test]
fn runs_in_a_worker() {
    // What the suite is for: no window here, so nothing may depend on one.
    assert!(web_sys::window().is_none());
    assert!(
        WebLocks::new().is_cross_tab(),
        "navigator.locks in a worker"
    );
    assert!(BroadcastEvents::new(&fresh_name("events")).is_broadcasting());
}

#[wasm_bindgen_test]
async fn fetch_with_its_deadline_works() {
    // fetch, AbortController and setTimeout from the worker's global.
    let resp = FetchHttp::new(5_000)
        .send(HttpRequest::get("data:text/plain,hello"))
        .await
        .unwrap();
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"hello"[..]));
}

#[wasm_bindgen_test]
async fn keys_and_encrypted_records_work() {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let p = BrowserPlatform::new(
        &fresh_name("db"),
        30_000,
        Rc::new(BroadcastEvents::local_only()),
    );
    let mut scalar = atproto_oauth_wasm::platform::blank_scalar();
    getrandom::fill(scalar.as_mut_slice()).unwrap();
    let secret = p256::SecretKey::from_slice(scalar.as_slice()).unwrap();
    let mut public = [0u8; 65];
    public.copy_from_slice(secret.public_key().to_encoded_point(false).as_bytes());
    let key = p
        .import_key(KeyMaterial::new(scalar, public))
        .await
        .unwrap();
    assert_eq!(p.sign(&key, b"m").await.unwrap().len(), 64);
    p.put(Table::Sessions, "did:plc:w", b"record", Some(&key))
        .await
        .unwrap();
    let entry = p.get(Table::Sessions, "did:plc:w").await.unwrap().unwrap();
    assert_eq!(entry.data, b"record");
    assert!(
        entry.key.is_some(),
        "the CryptoKey comes back from IndexedDB"
    );
}

#[wasm_bindgen_test]
async fn locks_exclude_and_events_cross_instances() {
    let name = fresh_name("lock");
    let first = WebLocks::new().lock(&name).await.unwrap();
    let second = WebLocks::new();
    let second = second.lock(&name);
    let mut second = std::pin::pin!(second);
    let waited = futures::future::select(second.as_mut(), Box::pin(sleep(100))).await;
    assert!(
        matches!(waited, futures::future::Either::Right(_)),
        "held elsewhere"
    );
    drop(first);
    drop(second.await.unwrap());

    let channel = fresh_name("events");
    let (here, there) = (
        BroadcastEvents::new(&channel),
        BroadcastEvents::new(&channel),
    );
    let heard: Rc<RefCell<Vec<String>>> = Rc::default();
    let sink = heard.clone();
    there.set_remote_hook(Box::new(move |did: String| sink.borrow_mut().push(did)));
    here.emit(SessionEvent::Updated {
        did: "did:plc:w".into(),
    });
    for _ in 0..100 {
        if !heard.borrow().is_empty() {
            break;
        }
        sleep(20).await;
    }
    assert_eq!(*heard.borrow(), vec!["did:plc:w".to_string()]);
}
