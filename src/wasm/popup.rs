//! Sign-in in a popup window. The opener opens the window synchronously (inside the click
//! handler, or browsers block it), sends it to the authorization page, and waits for the result
//! on a `BroadcastChannel`: the page the popup comes back to finishes the login
//! (`handleCallback`), posts the result, and closes. A BroadcastChannel still works when the
//! authorization page's Cross-Origin-Opener-Policy cuts the popup off from its opener
//! (`window.opener` is gone, `postMessage` cannot reach it).
//!
//! Closing: COOP also makes `popup.closed` read `true` as soon as the authorization page loads,
//! though the window is open. So `closed` is believed only when it cannot be that: before the
//! popup is sent anywhere, or after the popup was seen open on the authorization page (its
//! location unreadable, yet not closed: no COOP cut it off). Otherwise the timeout ends the
//! wait.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::convert::get;
use crate::browser::js;
use crate::browser::BrowserPlatform;
use crate::client::Client;
use crate::error::{Error, ErrorCode, Result};
use crate::settled::Settled;

// The waiting and the reporting are JS (`glue.js`): a BroadcastChannel, a timer and a window's
// properties, which from Rust took a closure, a channel and a boundary crossing each.
#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = popupRun)]
    fn js_run(popup: &JsValue, channel: &str, state: &str, url: &str, timeout_ms: u32) -> Promise;
    #[wasm_bindgen(js_name = popupClose)]
    pub(super) fn close(popup: &JsValue);
    #[wasm_bindgen(js_name = popupReport)]
    fn js_report(channel: &str, state: &str, result: &JsValue, failed: bool);

    /// What `popupRun` resolves to: `{ result }` or `{ error }`, and `more` when its time ran
    /// out.
    type Outcome;
    #[wasm_bindgen(method, getter)]
    fn result(this: &Outcome) -> JsValue;
    #[wasm_bindgen(method, getter)]
    fn error(this: &Outcome) -> JsValue;
    #[wasm_bindgen(method, getter, js_name = more)]
    fn lapsed(this: &Outcome) -> JsValue;
    /// Waits up to `ms` more for the report (0: none): the report, a timeout, or `null`.
    #[wasm_bindgen(method)]
    fn more(this: &Outcome, ms: u32) -> Promise;
}

/// The popup's error as its `handleCallback` had it: code, message, what the server said, and
/// its causes (at most `depth` deep: the fields come off a channel).
fn error_from(fields: &JsValue, depth: u8) -> Error {
    // A structured clone off the channel: plain data, no getters to throw.
    let get = |fields: &JsValue, key| get(fields, key).unwrap_or(JsValue::UNDEFINED);
    let text = |key| get(fields, key).as_string();
    let mut e = Error::new(
        ErrorCode::from_code(&text("code").unwrap_or_default()),
        text("message").unwrap_or_default(),
    )
    .with_server_error(
        text("serverError"),
        get(fields, "status").as_f64().map(|s| s as u16),
    );
    e.missing_scope = text("missingScope");
    let cause = get(fields, "cause");
    if depth > 0 && cause.is_object() {
        e = e.with_cause(error_from(&cause, depth - 1));
    }
    e
}

/// The channel a client's popups report on: per database and client id, like session events.
pub(super) fn channel_name(db: &str, client_id: &str) -> String {
    msg!(db, ":popup:", client_id)
}

/// Sends the popup to `url` and waits for the result of the login with `state`: the
/// `{ session, state }` the popup's `handleCallback` produced, or its error. A login that ends
/// otherwise (closed, failed, timed out) is abandoned: behind COOP the popup may still be open
/// (closing it does nothing there), and a sign-in finished in it must not store a session the
/// app was told did not happen. Unless, when the time ran out, the popup's callback had taken
/// the login first (and before it expired: an expired one is dropped by any tab's next
/// sign-in, gone as well): then that sign-in is under way, and its outcome is waited for; the
/// channel stays open meanwhile, so its report is not lost.
pub(super) async fn run(
    client: &Client<BrowserPlatform>,
    popup: &JsValue,
    channel: &str,
    state: &str,
    url: &str,
    timeout_ms: u32,
) -> Result<JsValue> {
    // `popupRun` and `more` never reject; a rejection would be a bug in them.
    let bug = |e| js::error(ErrorCode::Internal, "popup", &e);
    let wait = crate::browser::task::wait;
    let mut outcome: Outcome = wait(&js_run(popup, channel, state, url, timeout_ms))
        .await
        .map_err(bug)?
        .unchecked_into();
    let lapsed = !outcome.lapsed().is_undefined();
    if lapsed || outcome.error().is_object() {
        let lapsed_after = lapsed.then_some(timeout_ms);
        let ms = client.end_popup_wait(state, lapsed_after).settled().await;
        if lapsed {
            let later = wait(&outcome.more(ms)).await.map_err(bug)?;
            if !later.is_null() {
                outcome = later.unchecked_into();
            }
        }
    }
    let error = outcome.error();
    if error.is_object() {
        Err(error_from(&error, 8))
    } else {
        Ok(outcome.result())
    }
}

/// In the popup, after `handleCallback`: hands the result (or the error) to the opener and
/// closes this window.
pub(super) fn report(channel: &str, state: &str, result: &Result<JsValue>) {
    match result {
        Ok(value) => js_report(channel, state, value, false),
        Err(e) => js_report(channel, state, &crate::browser::js_error(e), true),
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::*;

    use super::*;

    /// A report that arrives after the wait's time ran out, while the opener decides whether
    /// the login is under way (an IndexedDB operation), is kept for `more`: a BroadcastChannel
    /// does not buffer, and a channel closed at the timeout lost it.
    #[wasm_bindgen_test]
    async fn a_report_in_the_gap_after_the_timeout_is_kept() {
        let popup = js_sys::Function::new_no_args("return { closed: false, location: {} };")
            .call0(&JsValue::NULL)
            .unwrap();
        let wait = crate::browser::task::wait;
        let first: Outcome = wait(&js_run(&popup, "test:gap", "s1", "https://x.example", 50))
            .await
            .unwrap()
            .unchecked_into();
        assert_eq!(error_from(&first.error(), 0).code, ErrorCode::Timeout);
        assert!(!first.lapsed().is_undefined(), "no way to wait more");
        // The popup's report, posted now; another state's first, which is not ours.
        let post = js_sys::Function::new_no_args(
            "const c = new BroadcastChannel('test:gap'); \
             c.postMessage({ state: 'other', ok: true, result: 1 }); \
             c.postMessage({ state: 's1', ok: true, result: { session: { did: 'did:x:y' } } }); \
             return new Promise((r) => setTimeout(r, 100));",
        );
        wait(&post.call0(&JsValue::NULL).unwrap().unchecked_into())
            .await
            .unwrap();
        let later: Outcome = wait(&first.more(0)).await.unwrap().unchecked_into();
        assert!(later.error().is_undefined());
        let did = js_sys::Reflect::get(&later.result(), &"session".into())
            .and_then(|s| js_sys::Reflect::get(&s, &"did".into()))
            .unwrap();
        assert_eq!(did.as_string().as_deref(), Some("did:x:y"));
        // With nothing reported, `more(0)` is null at once and `more(ms)` a timeout after `ms`.
        let quiet: Outcome = wait(&js_run(&popup, "test:gap", "s2", "https://x.example", 50))
            .await
            .unwrap()
            .unchecked_into();
        assert!(wait(&quiet.more(0)).await.unwrap().is_null());
        let quiet: Outcome = wait(&js_run(&popup, "test:gap", "s3", "https://x.example", 50))
            .await
            .unwrap()
            .unchecked_into();
        let late: Outcome = wait(&quiet.more(50)).await.unwrap().unchecked_into();
        assert_eq!(error_from(&late.error(), 0).code, ErrorCode::Timeout);
    }
}
