//! Small helpers shared by the browser wrappers: turning thrown JS values into messages, and
//! reading globals that exist in both windows and workers.

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};

use crate::error::{Error, ErrorCode};

/// A human-readable message for whatever JS threw or rejected with (an `Error`, a
/// `DOMException`, a string, or anything else).
pub(crate) fn message(value: &JsValue) -> String {
    if let Some(e) = value.dyn_ref::<js_sys::Error>() {
        return msg!(String::from(e.name()), ": ", String::from(e.message()));
    }
    if let Some(s) = value.as_string() {
        return s;
    }
    // DOMException is not `instanceof Error` in every engine; it still has name and message.
    let name = property_string(value, "name");
    let msg = property_string(value, "message");
    match (name, msg) {
        (Some(n), Some(m)) => msg!(n, ": ", m),
        (None, Some(m)) => m,
        (Some(n), None) => n,
        // A thrown number, `null`, a plain object…: as `String(value)` shows it.
        (None, None) => js_string(value).unwrap_or_else(|_| "an unprintable value".into()),
    }
}

/// Headers as `glue.js` passes them: a line per name and per value.
pub(crate) fn header_pairs(text: &str) -> Vec<(String, String)> {
    let mut parts = text.split('\n');
    let mut headers = Vec::new();
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        headers.push((name.to_string(), value.to_string()));
    }
    headers
}

/// What a `glue.js` function resolved to, or its `{ failure, detail }` as an error: "crypto" is
/// a `crypto_error`, "unsupported" `unsupported`, anything else a `storage_error`.
pub(crate) async fn settle<T: JsCast>(promise: js_sys::Promise) -> Result<T, Error> {
    // The functions never reject; a rejection would be a bug in them.
    let answer: Outcome = wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|e| error(ErrorCode::StorageError, "glue.js", &e))?
        .unchecked_into();
    match answer.failure() {
        None => Ok(answer.unchecked_into()),
        Some(failure) => {
            let code = match failure.as_str() {
                "crypto" => ErrorCode::CryptoError,
                "unsupported" => ErrorCode::Unsupported,
                _ => ErrorCode::StorageError,
            };
            Err(Error::new(code, answer.detail()))
        }
    }
}

pub(crate) fn error(code: ErrorCode, context: &str, value: &JsValue) -> Error {
    Error::new(code, msg!(context, ": ", message(value)))
}

fn property_string(value: &JsValue, key: &str) -> Option<String> {
    if !value.is_object() {
        return None;
    }
    Reflect::get(value, &JsValue::from_str(key))
        .ok()
        .and_then(|v| v.as_string())
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// What the functions of `glue.js` resolve to: on failure, a `failure` kind
    /// and its `detail`; each answer type extends this one.
    pub(crate) type Outcome;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn failure(this: &Outcome) -> Option<String>;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn detail(this: &Outcome) -> String;

    // `String(value)`, which throws only for an object whose conversion throws.
    #[wasm_bindgen(catch, js_name = String)]
    fn js_string(value: &JsValue) -> Result<String, JsValue>;
}
