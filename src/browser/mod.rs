//! The platform traits implemented on browser APIs: fetch, IndexedDB + WebCrypto, Web Locks,
//! BroadcastChannel. Each wrapper is thin and keeps `JsValue` inside this module; only
//! `js_error` hands a JS value out, for the `#[wasm_bindgen]` surface.

mod broadcast;
mod clock;
pub(crate) mod crypto;
mod http;
mod idb;
pub(crate) mod js;
mod locks;
mod platform;
pub(crate) mod task;

use js_sys::Reflect;
use wasm_bindgen::JsValue;

pub use self::broadcast::{BroadcastEvents, RemoteHook};
pub use self::clock::BrowserClock;
pub use self::http::{replace_fetch, FetchHttp, SendSigned};
pub use self::idb::IdbStore;
pub use self::locks::{LockGuard, WebLocks};
pub use self::platform::BrowserPlatform;

use crate::error::Error;

/// A real JS `Error` (so it has a stack and passes `instanceof Error`) named `OAuthError`, with
/// `code`, `serverError` / `status` when a server supplied them, `missingScope` for
/// `insufficient_scope`, and `cause` (another `OAuthError`) when it wraps one.
pub fn js_error(e: &Error) -> JsValue {
    let error = js_sys::Error::new(&e.message);
    error.set_name("OAuthError");
    let set = |key: &str, value: JsValue| {
        let _ = Reflect::set(&error, &JsValue::from_str(key), &value);
    };
    set("code", JsValue::from_str(e.code.as_str()));
    if let Some(server_error) = &e.server_error {
        set("serverError", JsValue::from_str(server_error));
    }
    if let Some(status) = e.status {
        set("status", JsValue::from(status));
    }
    if let Some(scope) = &e.missing_scope {
        set("missingScope", JsValue::from_str(scope));
    }
    if let Some(cause) = &e.cause {
        set("cause", js_error(cause));
    }
    error.into()
}

#[cfg(test)]
mod tests;
