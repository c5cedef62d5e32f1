//! Small helpers shared by the browser wrappers: turning thrown JS values into messages, and
//! reading globals that exist in both windows and workers.

use wasm_bindgen::{JsCast, JsValue};

use crate::error::{Error, ErrorCode};
use crate::util::AsciiSplit;

/// Headers as `glue.js` takes them (`header_pairs`' inverse): a line per name and per value.
pub(crate) fn header_lines(headers: &[(String, String)]) -> String {
    let mut text = String::new();
    for (name, value) in headers {
        text.push_str(name);
        text.push('\n');
        text.push_str(value);
        text.push('\n');
    }
    text
}

/// Headers as `glue.js` passes them: a line per name and per value.
pub(crate) fn header_pairs(text: &str) -> Vec<(String, String)> {
    let mut parts = text.pieces(b'\n');
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
    let answer: Outcome = super::task::wait(&promise)
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

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// What the functions of `glue.js` resolve to: on failure, a `failure` kind
    /// and its `detail`; each answer type extends this one.
    pub(crate) type Outcome;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn failure(this: &Outcome) -> Option<String>;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn detail(this: &Outcome) -> String;
    // The fields several answers have, read through this type: one import each, however many
    // answer types have them.
    /// An answer's headers, a line per name and per value.
    #[wasm_bindgen(method, getter)]
    pub(crate) fn headers(this: &Outcome) -> String;
    /// An answer's bytes (a response's or a request's body, a record's data).
    #[wasm_bindgen(method, getter)]
    pub(crate) fn body(this: &Outcome) -> Option<Vec<u8>>;
    /// An app's request body, read in `glue.js` (bytes of its own): left there, a JS value.
    #[wasm_bindgen(method, getter, js_name = body)]
    fn js_body(this: &Outcome) -> JsValue;
    /// An answer's `CryptoKey`.
    #[wasm_bindgen(method, getter)]
    pub(crate) fn key(this: &Outcome) -> Option<web_sys::CryptoKey>;

    /// A JS object with a `close()` method (a store, an events channel).
    pub(crate) type Closable;
    #[wasm_bindgen(method)]
    pub(crate) fn close(this: &Closable);
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    /// A human-readable message for whatever JS threw or rejected with (an `Error`, a
    /// `DOMException`, a string, or anything else): `glue.js`'s `thrownMessage`, which its own
    /// failures use too.
    #[wasm_bindgen(js_name = thrownMessage)]
    pub(crate) fn message(value: &JsValue) -> String;
}

impl Outcome {
    /// The app's request body `glue.js` read (`xrpcCall`, `readInit`), if any, where it is.
    pub(crate) fn app_body(&self) -> Option<crate::platform::Body> {
        let body = self.js_body();
        (!body.is_undefined()).then_some(crate::platform::Body::Js(body))
    }
}
