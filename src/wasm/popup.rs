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
use crate::error::{Error, ErrorCode, Result};

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

    /// What `popupRun` resolves to: `{ result }` or `{ error }`.
    type Outcome;
    #[wasm_bindgen(method, getter)]
    fn result(this: &Outcome) -> JsValue;
    #[wasm_bindgen(method, getter)]
    fn error(this: &Outcome) -> JsValue;
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
/// `{ session, state }` the popup's `handleCallback` produced, or its error.
pub(super) async fn run(
    popup: &JsValue,
    channel: &str,
    state: &str,
    url: &str,
    timeout_ms: u32,
) -> Result<JsValue> {
    // `popupRun` never rejects; a rejection would be a bug in it.
    let outcome: Outcome =
        crate::browser::task::wait(&js_run(popup, channel, state, url, timeout_ms))
            .await
            .map_err(|e| js::error(ErrorCode::Internal, "popup", &e))?
            .unchecked_into();
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
