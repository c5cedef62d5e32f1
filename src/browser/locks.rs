//! `Locks` on the Web Locks API (`navigator.locks`), which excludes across every tab and worker
//! of the origin. Where it is missing, an in-tab queue per lock name stands in: it still
//! serialises refreshes within the tab, which is all a single tab can guarantee.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_channel::oneshot;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::js;
use crate::error::{Error, ErrorCode, Result};
use crate::platform::Locks;
use crate::strmap::StrMap;

#[wasm_bindgen]
extern "C" {
    // Declared here because web-sys only exposes LockManager behind `web_sys_unstable_apis`.
    type JsLockManager;

    #[wasm_bindgen(method, catch, js_name = request)]
    fn request(
        this: &JsLockManager,
        name: &str,
        options: &JsValue,
        callback: &JsValue,
    ) -> std::result::Result<Promise, JsValue>;
}

/// Cross-tab locks when the browser has Web Locks, in-tab locks otherwise.
pub struct WebLocks {
    manager: Option<JsLockManager>,
}

impl WebLocks {
    /// Uses `navigator.locks` when present (windows and workers), the in-tab fallback otherwise.
    pub fn new() -> Self {
        let manager = js::global_property("navigator")
            .and_then(|nav| js_sys::Reflect::get(&nav, &JsValue::from_str("locks")).ok())
            .filter(|locks| locks.is_object())
            .map(JsCast::unchecked_into::<JsLockManager>);
        WebLocks { manager }
    }

    /// Always the in-tab fallback, even where Web Locks exist.
    pub fn in_tab() -> Self {
        WebLocks { manager: None }
    }

    /// Whether locks exclude across tabs (Web Locks) or only within this tab.
    pub fn is_cross_tab(&self) -> bool {
        self.manager.is_some()
    }
}

impl std::fmt::Debug for WebLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebLocks")
            .field("cross_tab", &self.is_cross_tab())
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
        match &self.manager {
            Some(manager) => web_lock(manager, name, false).await?.ok_or_else(|| {
                Error::new(ErrorCode::LockFailed, format!("lock {name}: not granted"))
            }),
            None => local_lock(name).await,
        }
    }

    async fn try_lock(&self, name: &str) -> Result<Option<LockGuard>> {
        match &self.manager {
            Some(manager) => web_lock(manager, name, true).await,
            None => Ok(try_local_lock(name)),
        }
    }
}

/// Holds a lock; dropping it releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    inner: Held,
}

enum Held {
    /// Resolving this releases the Web Lock: it resolves the promise the lock callback returned.
    Web(Function),
    Local(String),
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Held::Web(_) => f.write_str("LockGuard(web lock)"),
            Held::Local(name) => write!(f, "LockGuard(in-tab {name})"),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        match &self.inner {
            Held::Web(release) => {
                let _ = release.call0(&JsValue::UNDEFINED);
            }
            Held::Local(name) => release_local(name),
        }
    }
}

/// Waits for the Web Lock `name`; with `if_available`, takes it only if it is free (`None`
/// otherwise: the browser calls back with no lock).
async fn web_lock(
    manager: &JsLockManager,
    name: &str,
    if_available: bool,
) -> Result<Option<LockGuard>> {
    let mut release = None;
    let held = Promise::new(&mut |resolve, _reject| release = Some(resolve));
    let release = release.ok_or_else(|| {
        Error::new(
            ErrorCode::LockFailed,
            "Promise executor did not run synchronously",
        )
    })?;
    // Made before the lock is granted: if this future is dropped while waiting, the guard's drop
    // resolves `held` early, so the callback, when it finally runs, releases the lock at once
    // instead of holding it forever.
    let guard = LockGuard {
        inner: Held::Web(release),
    };
    // Not granted (`ifAvailable` and held elsewhere): the callback gets `null`, and the sender
    // is dropped unsent.
    let (granted_tx, mut granted) = oneshot::channel::<()>();
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        if lock.is_null() {
            return JsValue::UNDEFINED;
        }
        let _ = granted_tx.send(());
        held.into()
    });
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"ifAvailable".into(), &if_available.into());
    let requested = manager
        .request(name, &options, &callback)
        .map_err(|e| js::error(ErrorCode::LockFailed, &format!("lock {name}"), &e))?;
    // The request's own promise settles only after release, or early when the request fails
    // (e.g. an opaque origin); watch both so a failed request is an error, not a hang.
    let mut requested = JsFuture::from(requested);
    let got = poll_fn(|cx| {
        if let Poll::Ready(result) = Pin::new(&mut granted).poll(cx) {
            return Poll::Ready(match result {
                Ok(()) => Ok(true),
                Err(_) if if_available => Ok(false),
                Err(_) => Err(Error::new(
                    ErrorCode::LockFailed,
                    format!("lock {name}: request dropped"),
                )),
            });
        }
        if let Poll::Ready(result) = Pin::new(&mut requested).poll(cx) {
            return Poll::Ready(Err(match result {
                Err(e) => js::error(ErrorCode::LockFailed, &format!("lock {name}"), &e),
                Ok(_) => Error::new(
                    ErrorCode::LockFailed,
                    format!("lock {name}: request ended before the lock was granted"),
                ),
            }));
        }
        Poll::Pending
    })
    .await?;
    Ok(got.then_some(guard))
}

// ---- in-tab fallback -----------------------------------------------------------------------

thread_local! {
    /// Names currently held, each with its queue of waiters. Per thread, i.e. per tab or
    /// worker, so every `WebLocks::in_tab` in the page shares it.
    static LOCAL: RefCell<StrMap<VecDeque<oneshot::Sender<()>>>> =
        RefCell::new(StrMap::default());
}

async fn local_lock(name: &str) -> Result<LockGuard> {
    let waiting = LOCAL.with(|held| {
        let mut held = held.borrow_mut();
        match held.get_mut(name) {
            None => {
                held.insert(name.to_string(), VecDeque::new());
                None
            }
            Some(queue) => {
                let (tx, rx) = oneshot::channel();
                queue.push_back(tx);
                Some(rx)
            }
        }
    });
    if let Some(rx) = waiting {
        Waiter {
            rx,
            name: name.to_string(),
            granted: false,
        }
        .await
        .map_err(|_| Error::new(ErrorCode::LockFailed, format!("lock {name}: queue dropped")))?;
    }
    Ok(LockGuard {
        inner: Held::Local(name.to_string()),
    })
}

/// The in-tab lock `name` if nobody in the tab holds it.
fn try_local_lock(name: &str) -> Option<LockGuard> {
    LOCAL.with(|held| {
        let mut held = held.borrow_mut();
        if held.contains_key(name) {
            return None;
        }
        held.insert(name.to_string(), VecDeque::new());
        Some(LockGuard {
            inner: Held::Local(name.to_string()),
        })
    })
}

/// Hands the lock to the next live waiter, or frees the name.
fn release_local(name: &str) {
    LOCAL.with(|held| {
        let mut held = held.borrow_mut();
        let Some(queue) = held.get_mut(name) else {
            return;
        };
        while let Some(next) = queue.pop_front() {
            // A waiter whose future was dropped refuses the hand-over; try the next one.
            if next.send(()).is_ok() {
                return;
            }
        }
        held.remove(name);
    });
}

/// Waits for the hand-over. Dropped after the hand-over but before being polled, it passes the
/// lock on, so a cancelled `lock()` never strands it.
struct Waiter {
    rx: oneshot::Receiver<()>,
    name: String,
    granted: bool,
}

impl Future for Waiter {
    type Output = std::result::Result<(), oneshot::Canceled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = Pin::new(&mut self.rx).poll(cx);
        if let Poll::Ready(Ok(())) = result {
            self.granted = true;
        }
        result
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if !self.granted {
            if let Ok(Some(())) = self.rx.try_recv() {
                release_local(&self.name);
            }
        }
    }
}
