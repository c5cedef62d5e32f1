//! `Locks` on the Web Locks API (`navigator.locks`), which excludes across every tab and worker
//! of the origin. Where it is missing, an in-tab queue per lock name stands in: it still
//! serialises refreshes within the tab, which is all a single tab can guarantee.
//!
//! Both are `glue.js`: a lock request is a callback, a promise held until release and a
//! promise watched for failure, which from Rust took a closure, a channel and a hand-written
//! future each (and the in-tab queue a channel per waiter). Here one call returns the release
//! function at once and a promise of the grant.

use std::future::Future;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use crate::error::{Error, ErrorCode, Result};
use crate::platform::Locks;
use crate::settled::Settled;

#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = lockRequest)]
    fn js_request(name: &str, if_available: bool, cross_tab: bool, wait_ms: u32) -> Request;
    // `catch` (it never throws): an import with no conversion at all would be bound as a
    // namespace import, which scripts/inline-snippets.mjs cannot inline.
    #[wasm_bindgen(js_name = hasWebLocks, catch)]
    fn has_web_locks() -> std::result::Result<bool, JsValue>;

    /// A lock request: `release` and `granted`.
    type Request;
    #[wasm_bindgen(method, getter)]
    fn release(this: &Request) -> Function;
    #[wasm_bindgen(method, getter)]
    fn granted(this: &Request) -> Promise;
}

/// How long a lock is waited for by default: for the default `requestTimeoutMs`.
const DEFAULT_WAIT_MS: u32 = wait_for(crate::config::DEFAULT_REQUEST_TIMEOUT_MS);

/// How long a lock is waited for when requests may take `request_timeout_ms`. The package's
/// longest hold is a refresh: the account's identity checked again (its DID document, its
/// handle, the PDS's and the authorization server's metadata: a few requests), then a token
/// exchange, whose attempts start within `requestTimeoutMs` and each last at most that, with
/// the one retry with a fresh nonce, and around them the session's storage operations (at most
/// 20 s each, see `IdbStore`). Eight times `requestTimeoutMs` plus a minute (five minutes by
/// default) covers that unless nearly every server involved stalls at once, and then the
/// waiter only fails (`lock_failed`; nothing stored is touched). What it ends is a lock kept
/// for ever: another script of the origin can take one of ours, as it can know the name.
pub const fn wait_for(request_timeout_ms: u32) -> u32 {
    request_timeout_ms.saturating_mul(8).saturating_add(60_000)
}

/// Cross-tab locks when the browser has Web Locks, in-tab locks otherwise.
pub struct WebLocks {
    cross_tab: bool,
    wait_ms: u32,
}

impl WebLocks {
    /// Uses `navigator.locks` when present (windows and workers), the in-tab fallback otherwise.
    pub fn new() -> Self {
        WebLocks {
            cross_tab: has_web_locks().unwrap_or(false),
            wait_ms: DEFAULT_WAIT_MS,
        }
    }

    /// Always the in-tab fallback, even where Web Locks exist.
    pub fn in_tab() -> Self {
        WebLocks {
            cross_tab: false,
            wait_ms: DEFAULT_WAIT_MS,
        }
    }

    /// The same locks, waited for at most `wait_ms` (then `lock_failed`), capped at 2^31 − 1
    /// ms, the longest a browser timer waits (a longer delay fires at once).
    pub fn with_wait(self, wait_ms: u32) -> Self {
        WebLocks {
            wait_ms: wait_ms.min(i32::MAX as u32),
            ..self
        }
    }

    /// Whether locks exclude across tabs (Web Locks) or only within this tab.
    pub fn is_cross_tab(&self) -> bool {
        self.cross_tab
    }

    /// Waits for the lock `name`; with `if_available`, takes it only if it is free (`None`
    /// otherwise).
    async fn request(&self, name: &str, if_available: bool) -> Result<Option<LockGuard>> {
        let request = js_request(name, if_available, self.cross_tab, self.wait_ms);
        // Made before the lock is granted: if this future is dropped while waiting, the guard's
        // drop releases the lock as soon as it is granted instead of holding it forever.
        let guard = LockGuard {
            release: request.release(),
        };
        // `granted` never rejects; a rejection would be a bug in glue.js.
        let granted = super::task::wait(&request.granted())
            .await
            .unwrap_or_else(|e| e);
        match granted.as_bool() {
            Some(true) => Ok(Some(guard)),
            Some(false) => Ok(None),
            None => Err(Error::new(
                ErrorCode::LockFailed,
                msg!("lock ", name, ": ", granted.as_string().unwrap_or_default()),
            )),
        }
    }
}

impl std::fmt::Debug for WebLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebLocks")
            .field("cross_tab", &self.cross_tab)
            .field("wait_ms", &self.wait_ms)
            .finish()
    }
}

impl Default for WebLocks {
    fn default() -> Self {
        Self::new()
    }
}

impl Locks for WebLocks {
    type Guard = LockGuard;

    async fn lock(&self, name: &str) -> Result<LockGuard> {
        self.request(name, false)
            .settled()
            .await?
            .ok_or_else(|| Error::new(ErrorCode::LockFailed, msg!("lock ", name, ": not granted")))
    }

    fn try_lock(&self, name: &str) -> impl Future<Output = Result<Option<LockGuard>>> {
        self.request(name, true)
    }
}

/// Holds a lock; dropping it releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    release: Function,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LockGuard")
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::UNDEFINED);
    }
}
