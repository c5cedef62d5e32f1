//! The "last active account": the DID that `restore()` without one picks up, as the official
//! client's `init()` does. Set when an account signs in or is restored, cleared when it signs
//! out or its session is gone. A DID is not secret, so it lives in localStorage (through
//! gloo-storage), under a key per database and client id like everything else of a client.
//! Workers have no localStorage: there `restore()` needs the DID.

use gloo_storage::{LocalStorage, Storage};

use crate::error::{Error, ErrorCode, Result};

pub(super) struct LastActive {
    key: String,
}

/// Whether this context has a usable localStorage (not a worker, not blocked by the browser's
/// settings). gloo-storage throws where there is none, so it is asked first.
fn available() -> bool {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .is_some()
}

impl LastActive {
    pub(super) fn new(db: &str, client_id: &str) -> Self {
        LastActive {
            key: format!("{db}:last-active:{client_id}"),
        }
    }

    /// The last active DID, if one was recorded.
    pub(super) fn get(&self) -> Result<Option<String>> {
        if !available() {
            return Err(Error::new(
                ErrorCode::Unsupported,
                "no localStorage here (a worker?): restore(did) needs the DID",
            ));
        }
        Ok(self.stored())
    }

    /// The recorded DID. Read as gloo-storage writes it (a JSON string), but parsed from bytes:
    /// `LocalStorage::get` parses from a `&str`, which instantiates a second copy of
    /// serde_json's parser next to the one every other document uses (2.2 KB of .wasm).
    fn stored(&self) -> Option<String> {
        let text = LocalStorage::raw().get_item(&self.key).ok()??;
        serde_json::from_slice(text.as_bytes()).ok()
    }

    pub(super) fn set(&self, did: &str) {
        if available() {
            let _ = LocalStorage::set(&self.key, did);
        }
    }

    /// Forgets `did` if it is the last active account.
    pub(super) fn clear(&self, did: &str) {
        if available() && self.stored().as_deref() == Some(did) {
            LocalStorage::delete(&self.key);
        }
    }
}
