//! The "last active account": the DID that `restore()` without one picks up, as the official
//! client's `init()` does. Set when an account signs in or is restored, cleared when it signs
//! out or its session is gone. A DID is not secret, so it lives in localStorage, under a key
//! per database and client id like everything else of a client, as a JSON string (the format
//! gloo-storage wrote, which earlier versions used). Workers have no localStorage: there
//! `restore()` needs the DID.

use crate::error::{Error, ErrorCode, Result};

pub(super) struct LastActive {
    key: String,
}

/// This context's localStorage, if it has a usable one (not a worker, not blocked by the
/// browser's settings).
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

impl LastActive {
    pub(super) fn new(db: &str, client_id: &str) -> Self {
        LastActive {
            key: format!("{db}:last-active:{client_id}"),
        }
    }

    /// The last active DID, if one was recorded.
    pub(super) fn get(&self) -> Result<Option<String>> {
        let storage = storage().ok_or_else(|| {
            Error::new(
                ErrorCode::Unsupported,
                "no localStorage here (a worker?): restore(did) needs the DID",
            )
        })?;
        Ok(self.stored(&storage))
    }

    /// The recorded DID (a JSON string).
    fn stored(&self, storage: &web_sys::Storage) -> Option<String> {
        let text = storage.get_item(&self.key).ok()??;
        let mut r = crate::json::Reader::new(text.as_bytes()).ok()?;
        let did = r.string().ok()?;
        r.finish().ok().map(|()| did)
    }

    pub(super) fn set(&self, did: &str) {
        if let Some(storage) = storage() {
            // Storage full or blocked: restore() then needs the DID, nothing is lost.
            let _ = storage.set_item(&self.key, &crate::json::string(did));
        }
    }

    /// Forgets `did` if it is the last active account.
    pub(super) fn clear(&self, did: &str) {
        if let Some(storage) = storage() {
            if self.stored(&storage).as_deref() == Some(did) {
                let _ = storage.remove_item(&self.key);
            }
        }
    }
}
