//! The "last active account": the DID that `restore()` without one picks up, as the official
//! client's `init()` does. Set when an account signs in or is restored, cleared when it signs
//! out or its session is gone. A DID is not secret, so it lives in localStorage, under a key
//! per database and client id like everything else of a client, as a JSON string (the format
//! gloo-storage wrote, which earlier versions used). Workers have no localStorage: there
//! `restore()` needs the DID.

use wasm_bindgen::prelude::*;

use crate::error::{Error, ErrorCode, Result};

#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    /// Reads the pointer (a string, null for none, undefined without localStorage), and with
    /// `set` Some(true) stores `did`, with Some(false) removes it if it is `did`. (In JS: from
    /// Rust each localStorage call and the JSON string took a conversion in the `.wasm`.)
    #[wasm_bindgen(js_name = lastActive)]
    fn last_active(key: &str, did: Option<&str>, set: Option<bool>) -> JsValue;
}

pub(super) struct LastActive {
    key: String,
}

impl LastActive {
    pub(super) fn new(db: &str, client_id: &str) -> Self {
        LastActive {
            key: msg!(db, ":last-active:", client_id),
        }
    }

    /// The stored DID; none when nothing (or something unreadable) is stored.
    pub(super) fn get(&self) -> Result<Option<String>> {
        let stored = last_active(&self.key, None, None);
        if stored.is_undefined() {
            return Err(Error::new(
                ErrorCode::Unsupported,
                "no localStorage here (a worker?): restore(did) needs the DID",
            ));
        }
        Ok(stored.as_string())
    }

    /// Storage full or blocked: restore() then needs the DID, nothing is lost.
    pub(super) fn set(&self, did: &str) {
        last_active(&self.key, Some(did), Some(true));
    }

    /// Forgets the pointer if it is `did` (another account may have signed in since).
    pub(super) fn clear(&self, did: &str) {
        last_active(&self.key, Some(did), Some(false));
    }
}
