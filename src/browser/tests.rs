//! The client on the real browser platform (IndexedDB + AES-GCM, Web Locks, BroadcastChannel)
//! against the scripted server of the native tests. Runs in headless Chromium and Firefox, so the
//! session, lock and storage behaviour is proven in both engines.

use std::rc::Rc;

use wasm_bindgen_test::*;

use crate::browser::{BroadcastEvents, BrowserPlatform, IdbStore, WebLocks};
use crate::client::tests::{callback_url, config, fixture, list_request, Fixture};
use crate::client::{Client, LoginOptions};
use crate::error::ErrorCode;
use crate::testing::{MockHttp, ALICE_DID};

/// The scripted server signs the way every non-`fetch` layer does: WebCrypto, then `send`.
impl crate::browser::SendSigned for MockHttp {}

wasm_bindgen_test_configure!(run_in_browser);

fn unique_db() -> String {
    format!(
        "wasm-tests-{}",
        crate::util::random_token::<8>().unwrap_or_default()
    )
}

/// One "tab": its own IndexedDB connection, lock manager handle and channel, sharing the
/// database (by name) and the scripted server with the other tabs.
fn tab(f: &Fixture, db: &str, locks: WebLocks) -> Client<BrowserPlatform<MockHttp>> {
    let platform = BrowserPlatform {
        http: f.platform.http.clone(),
        store: Rc::new(IdbStore::new(db)),
        locks: Rc::new(locks),
        events: Rc::new(BroadcastEvents::new(&format!("{db}:events"))),
    };
    let mut cfg = config();
    cfg.db_name = db.to_string();
    match Client::new(cfg, platform) {
        Ok(c) => c,
        Err(e) => panic!("client: {e}"),
    }
}

async fn sign_in(f: &Fixture, c: &Client<BrowserPlatform<MockHttp>>) {
    let start = c
        .start_login("alice.example.com", LoginOptions::default())
        .await
        .expect("start");
    c.handle_callback(&callback_url(f, &start.state))
        .await
        .expect("callback");
}

async fn two_tabs_refresh_once(locks: fn() -> WebLocks) {
    let f = fixture();
    let db = unique_db();
    let a = tab(&f, &db, locks());
    sign_in(&f, &a).await;
    let b = tab(&f, &db, locks());
    b.restore(ALICE_DID)
        .await
        .expect("tab b restores from IndexedDB");
    for round in 1..=5 {
        let (ra, rb) = futures::join!(a.refresh(ALICE_DID), b.refresh(ALICE_DID));
        ra.expect("tab a refresh");
        rb.expect("tab b refresh");
        assert_eq!(
            f.server.borrow().refresh_requests,
            round,
            "one refresh request in round {round}"
        );
        a.xrpc(ALICE_DID, &list_request())
            .await
            .expect("tab a works");
        b.xrpc(ALICE_DID, &list_request())
            .await
            .expect("tab b works");
    }
}

#[wasm_bindgen_test]
async fn two_tabs_refreshing_together_make_one_request_with_web_locks() {
    two_tabs_refresh_once(WebLocks::new).await;
}

#[wasm_bindgen_test]
async fn two_tabs_refreshing_together_make_one_request_with_the_in_tab_lock() {
    two_tabs_refresh_once(WebLocks::in_tab).await;
}

#[wasm_bindgen_test]
async fn sessions_persist_encrypted_and_restore_in_a_new_tab() {
    let f = fixture();
    let db = unique_db();
    let a = tab(&f, &db, WebLocks::new());
    sign_in(&f, &a).await;
    let requests = f.platform.http.count();
    let b = tab(&f, &db, WebLocks::new());
    let restored = b.restore(ALICE_DID).await.expect("restore");
    assert_eq!(restored.did, ALICE_DID);
    assert_eq!(b.list_sessions().await.expect("list").len(), 1);
    assert_eq!(
        f.platform.http.count(),
        requests,
        "restore makes no request"
    );

    b.sign_out(ALICE_DID).await.expect("sign out");
    assert!(a.list_sessions().await.expect("list").is_empty());
    let e = b
        .xrpc(ALICE_DID, &list_request())
        .await
        .expect_err("signed out");
    assert_eq!(e.code, ErrorCode::SessionNotFound);
}

#[wasm_bindgen_test]
async fn a_replayed_callback_is_refused_across_tabs() {
    let f = fixture();
    let db = unique_db();
    let a = tab(&f, &db, WebLocks::new());
    let b = tab(&f, &db, WebLocks::new());
    let start = a
        .start_login("alice.example.com", LoginOptions::default())
        .await
        .expect("start");
    let url = callback_url(&f, &start.state);
    // The same callback handled by two tabs at once: exactly one wins.
    let (ra, rb) = futures::join!(a.handle_callback(&url), b.handle_callback(&url));
    assert!(
        ra.is_ok() != rb.is_ok(),
        "exactly one tab completes the login"
    );
    let loser = ra.err().or(rb.err()).map(|e| e.code);
    assert_eq!(loser, Some(ErrorCode::InvalidState));
}

/// What JS throws becomes a message without `Debug` (which prints nothing in the shipped build):
/// an `Error` or `DOMException` by name and message, a string as it is, anything else as
/// `String(value)` shows it.
#[wasm_bindgen_test]
fn a_thrown_value_becomes_a_readable_message() {
    use crate::browser::js::message;
    use wasm_bindgen::{JsCast, JsValue};
    let error: JsValue = js_sys::TypeError::new("bad thing").into();
    assert_eq!(message(&error), "TypeError: bad thing");
    assert_eq!(message(&"plain".into()), "plain");
    assert_eq!(message(&JsValue::from_f64(42.5)), "42.5");
    assert_eq!(message(&JsValue::NULL), "null");
    let named: js_sys::Object = js_sys::Object::new();
    js_sys::Reflect::set(&named, &"name".into(), &"AbortError".into()).unwrap();
    assert_eq!(message(&named), "AbortError");
    // An object whose conversion throws still gives a message.
    let hostile: js_sys::Object = js_sys::Object::create(JsValue::NULL.unchecked_ref());
    assert_eq!(message(&hostile), "an unprintable value");
}
