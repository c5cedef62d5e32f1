//! Awaiting a future without compiling code to destroy it, in the npm package's build.
//!
//! When an `async fn` awaits another, the caller's state machine holds the callee's future and
//! destroys it after the await. The destructor handles every state the callee can be suspended
//! in, so it is as large as the callee's drop code, and it is compiled for every future type
//! awaited. But a future that has finished (`Ready`) holds nothing: an `async fn` or block
//! drops its locals before it returns. The destructor only ever does work when a future is
//! dropped before it finishes, and in the package nothing does that:
//! - a task (`browser::task`) keeps its future until it finishes, and each method's future is
//!   a task's (`wasm::convert::promise`);
//! - `join2` polls both of its futures to the end;
//! - no `select`, timeout or early drop exists in the crate: deadlines are JS's, and they make
//!   the futures finish with an error.
//!
//! So in the package (`--cfg atproto_oauth_npm`, set by `wasm-pack.toml`'s `rustflags`) the
//! awaited futures of the protocol code are wrapped in [`Undropped`], and that code is left
//! out: −2.3 KB gzip, measured in the fourteenth session. Everywhere else (native tests, the
//! browser tests, a Rust user's own build, where a caller may drop a future early: a dropped
//! future would then keep a session lock held forever) `settled()` returns the future itself.
//!
//! Only for futures of `async fn`s and blocks, which hold nothing once finished. A leaf future
//! that keeps resources after it finished (a `browser::task::Wait` and its slot, a `Box`) must be
//! awaited as it is, or each call would leak them.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future whose destructor is never run. (Unused in native builds outside the tests: the
/// exported methods and the package's awaits are wasm32's.)
#[cfg_attr(not(any(target_arch = "wasm32", test)), allow(dead_code))]
pub(crate) struct Undropped<F>(ManuallyDrop<F>);

#[cfg_attr(not(any(target_arch = "wasm32", test)), allow(dead_code))]
impl<F> Undropped<F> {
    pub(crate) fn new(future: F) -> Self {
        Undropped(ManuallyDrop::new(future))
    }
}

impl<F: Future> Future for Undropped<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: a pin projection: the inner future is never moved out of the pinned wrapper
        // (`ManuallyDrop` is a transparent wrapper, and nothing here moves it), nor dropped.
        unsafe { self.map_unchecked_mut(|s| &mut *s.0) }.poll(cx)
    }
}

/// `future.settled().await`: see the module's documentation.
pub(crate) trait Settled: Future + Sized {
    /// The future, which is not destroyed after it finished (in the package's build).
    #[cfg(atproto_oauth_npm)]
    fn settled(self) -> Undropped<Self> {
        Undropped::new(self)
    }

    /// The future itself (outside the package's build).
    #[cfg(not(atproto_oauth_npm))]
    fn settled(self) -> Self {
        self
    }
}

impl<F: Future> Settled for F {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Counts its drops.
    struct Counted(Rc<Cell<u32>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    /// An `async` block drops its locals before it finishes, so a finished one that is never
    /// destroyed leaks nothing: every drop still happens, once.
    #[test]
    fn a_finished_async_block_has_dropped_its_locals() {
        let drops = Rc::new(Cell::new(0));
        let d = drops.clone();
        let inner = async move {
            let held = Counted(d);
            futures::future::ready(()).await;
            let _ = &held;
            7
        };
        let out = futures::executor::block_on(async { Undropped::new(inner).await });
        assert_eq!(out, 7);
        assert_eq!(drops.get(), 1);
    }

    /// What the wrapper gives up: an unfinished future dropped early keeps what it holds
    /// (which is why `settled()` wraps only in the package, where nothing drops one early).
    #[test]
    fn an_unfinished_one_keeps_what_it_holds() {
        let drops = Rc::new(Cell::new(0));
        let d = drops.clone();
        let mut inner = Box::pin(Undropped::new(async move {
            let held = Counted(d);
            futures::future::pending::<()>().await;
            let _ = &held;
        }));
        let waker = futures::task::noop_waker();
        assert!(inner
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        drop(inner);
        assert_eq!(drops.get(), 0);
    }
}
