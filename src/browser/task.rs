//! Futures on the browser's event loop: spawning a task, a task as a `Promise`, and awaiting a
//! `Promise`. What wasm-bindgen-futures' `spawn_local`, `future_to_promise` and `JsFuture` do,
//! in the little this package needs.
//!
//! Why not wasm-bindgen-futures: its executor (a task queue behind a lazily found global, a JSPI
//! path, a closure pair per awaited promise, a closure per promise made) was about 5 KB of the
//! .wasm and one closure shim per callback type. Here a task is polled from a microtask that
//! `glue.js` queues, and a promise settles into a slot that `glue.js` reports to: one callback
//! into Wasm for both, made once (see the fifteenth session in README, "Where the bytes are").
//!
//! Ownership across the boundary: each pointer handed to `glue.js` carries one strong count of
//! its `Rc`, and the callback takes that count back exactly once (a microtask runs once; a
//! promise settles once). A promise that never settles keeps its slot alive, as a `JsFuture`
//! keeps its callbacks.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::error::Result;
use crate::settled::Undropped;

#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    /// Gives `glue.js` the one function it calls back with (`wake`).
    #[wasm_bindgen(js_name = taskInit)]
    fn js_init(callback: &JsValue);
    /// Calls back `(POLL, task, undefined)` from a microtask.
    #[wasm_bindgen(js_name = taskQueue)]
    fn js_queue(task: u32);
    /// Calls back `(FULFILLED or REJECTED, slot, value)` when `promise` settles.
    #[wasm_bindgen(js_name = taskWait)]
    fn js_wait(promise: &Promise, slot: u32);
    /// A new promise and the id `taskSettle` settles it by.
    #[wasm_bindgen(js_name = taskPromise)]
    fn js_promise(id: u32) -> Promise;
    /// Settles (and forgets) the promise `taskPromise` made with `id`.
    #[wasm_bindgen(js_name = taskSettle)]
    fn js_settle(id: u32, ok: bool, value: JsValue);
}

const POLL: u32 = 0;
const FULFILLED: u32 = 1;

/// The callback `glue.js` holds, made on first use: the package's module is single-threaded.
fn init() {
    thread_local! {
        static READY: Cell<bool> = const { Cell::new(false) };
    }
    if !READY.with(|r| r.replace(true)) {
        let callback = Closure::<dyn Fn(u32, u32, JsValue)>::new(wake);
        js_init(&callback.into_js_value());
    }
}

/// A spawned future, polled until it finishes, then dropped (it holds nothing by then).
struct Task {
    future: RefCell<Option<Pin<Box<dyn Future<Output = ()>>>>>,
    /// A poll is queued (it polls whatever woke it meanwhile: one microtask for many wakes).
    queued: Cell<bool>,
}

/// Runs `future` to its end on the event loop, starting in a microtask (never within the call).
pub(crate) fn spawn(future: Pin<Box<dyn Future<Output = ()>>>) {
    queue(Rc::new(Task {
        future: RefCell::new(Some(future)),
        queued: Cell::new(false),
    }));
}

fn queue(task: Rc<Task>) {
    if !task.queued.replace(true) {
        init();
        js_queue(Rc::into_raw(task) as u32);
    }
}

/// A promise of what `future` gives: fulfilled with its value, or rejected with its error as an
/// `OAuthError` (`super::js_error`).
pub(crate) fn promise(future: Pin<Box<dyn Future<Output = Result<JsValue>>>>) -> Promise {
    thread_local! {
        static NEXT: Cell<u32> = const { Cell::new(0) };
    }
    let id = NEXT.with(|n| n.replace(n.get().wrapping_add(1)));
    let promise = js_promise(id);
    // Never destroyed before it finished (the task drops a future only then), when it holds
    // nothing: its drop code would never run (`crate::settled`).
    spawn(Box::pin(Undropped::new(async move {
        let (ok, value) = match future.await {
            Ok(value) => (true, value),
            Err(error) => (false, super::js_error(&error)),
        };
        js_settle(id, ok, value);
    })));
    promise
}

/// Where a promise's outcome arrives, and the waker of whoever awaits it.
#[derive(Default)]
struct Slot {
    outcome: RefCell<Option<std::result::Result<JsValue, JsValue>>>,
    waker: RefCell<Option<Waker>>,
}

/// Awaiting a JS promise: its value, or what it rejected with.
pub(crate) struct Wait(Rc<Slot>);

pub(crate) fn wait(promise: &Promise) -> Wait {
    let slot = Rc::new(Slot::default());
    init();
    js_wait(promise, Rc::into_raw(slot.clone()) as u32);
    Wait(slot)
}

impl Future for Wait {
    type Output = std::result::Result<JsValue, JsValue>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.0.outcome.borrow_mut().take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                *self.0.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// `glue.js`'s callback: a queued poll, or a settled promise.
fn wake(kind: u32, ptr: u32, value: JsValue) {
    if kind == POLL {
        // SAFETY: `ptr` is the count `queue` gave away with `Rc::into_raw`, returned once.
        let task = unsafe { Rc::from_raw(ptr as *const Task) };
        task.queued.set(false);
        let waker = waker(&task);
        let mut future = task.future.borrow_mut();
        if let Some(f) = future.as_mut() {
            if f.as_mut().poll(&mut Context::from_waker(&waker)).is_ready() {
                *future = None;
            }
        }
    } else {
        // SAFETY: `ptr` is the count `wait` gave away with `Rc::into_raw`, returned once.
        let slot = unsafe { Rc::from_raw(ptr as *const Slot) };
        *slot.outcome.borrow_mut() = Some(if kind == FULFILLED {
            Ok(value)
        } else {
            Err(value)
        });
        let waker = slot.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A waker holding one count of `task`; waking queues a poll.
fn waker(task: &Rc<Task>) -> Waker {
    // SAFETY: the vtable below treats the data pointer as an `Rc<Task>` count, which this one is.
    unsafe { Waker::from_raw(raw(Rc::into_raw(task.clone()))) }
}

fn raw(task: *const Task) -> RawWaker {
    RawWaker::new(task.cast(), &VTABLE)
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake_owned, wake_by_ref, drop_waker);

// SAFETY (all four): `data` is a pointer from `Rc::into_raw` of an `Rc<Task>` (`waker`, `clone`),
// holding one count, which `wake_owned` and `drop_waker` consume and the others leave.
unsafe fn clone(data: *const ()) -> RawWaker {
    Rc::increment_strong_count(data.cast::<Task>());
    raw(data.cast())
}
unsafe fn wake_owned(data: *const ()) {
    queue(Rc::from_raw(data.cast::<Task>()));
}
unsafe fn wake_by_ref(data: *const ()) {
    Rc::increment_strong_count(data.cast::<Task>());
    queue(Rc::from_raw(data.cast::<Task>()));
}
unsafe fn drop_waker(data: *const ()) {
    drop(Rc::from_raw(data.cast::<Task>()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorCode};
    use js_sys::{Function, Reflect};
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::*;

    /// A macrotask later: every microtask queued before it has run.
    async fn later() {
        let timer = Function::new_with_args("resolve", "setTimeout(resolve, 0)");
        let p = Promise::new(&mut |resolve, _| {
            let _ = timer.call1(&JsValue::NULL, &resolve);
        });
        let _ = JsFuture::from(p).await;
    }

    /// Counts its polls; the first wakes its own task three times and waits, the second ends.
    struct WakesItself(Rc<Cell<u32>>);
    impl Future for WakesItself {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.0.set(self.0.get() + 1);
            if self.0.get() > 1 {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            // The owned `wake` path, which consumes its count (the others keep theirs).
            #[allow(clippy::waker_clone_wake)]
            cx.waker().clone().wake();
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[wasm_bindgen_test]
    async fn a_task_starts_in_a_later_microtask_and_runs_to_its_end() {
        let steps = Rc::new(Cell::new(0));
        let s = steps.clone();
        spawn(Box::pin(async move {
            s.set(1);
            let _ = wait(&Promise::resolve(&JsValue::NULL)).await;
            s.set(2);
        }));
        assert_eq!(steps.get(), 0, "polled within spawn");
        later().await;
        assert_eq!(steps.get(), 2);
    }

    #[wasm_bindgen_test]
    async fn wakes_while_a_poll_is_queued_make_one_poll() {
        let polls = Rc::new(Cell::new(0));
        spawn(Box::pin(WakesItself(polls.clone())));
        later().await;
        assert_eq!(polls.get(), 2);
    }

    #[wasm_bindgen_test]
    async fn a_waker_kept_after_the_task_finished_wakes_nothing() {
        let kept: Rc<RefCell<Option<Waker>>> = Rc::default();
        let runs = Rc::new(Cell::new(0));
        let (k, r) = (kept.clone(), runs.clone());
        spawn(Box::pin(std::future::poll_fn(move |cx| {
            r.set(r.get() + 1);
            *k.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(())
        })));
        later().await;
        assert_eq!(runs.get(), 1);
        let waker = kept.borrow_mut().take().expect("the task kept its waker");
        waker.wake_by_ref();
        waker.wake();
        later().await;
        assert_eq!(runs.get(), 1, "a finished task was polled again");
    }

    #[wasm_bindgen_test]
    async fn a_wait_gives_the_value_or_the_rejection() {
        let ok = wait(&Promise::resolve(&JsValue::from(5))).await;
        assert_eq!(ok.ok().and_then(|v| v.as_f64()), Some(5.0));
        let refused = wait(&Promise::reject(&JsValue::from_str("no"))).await;
        assert_eq!(
            refused.err().and_then(|v| v.as_string()).as_deref(),
            Some("no")
        );
        // Settled later, after the wait was first polled.
        let p = Promise::new(&mut |resolve, _| {
            let f = Function::new_with_args("resolve", "setTimeout(() => resolve('late'), 5)");
            let _ = f.call1(&JsValue::NULL, &resolve);
        });
        let late = wait(&p).await;
        assert_eq!(
            late.ok().and_then(|v| v.as_string()).as_deref(),
            Some("late")
        );
    }

    #[wasm_bindgen_test]
    async fn a_promise_is_fulfilled_with_the_value_or_rejected_with_an_oauth_error() {
        let ok = JsFuture::from(promise(Box::pin(async { Ok(JsValue::from(7)) }))).await;
        assert_eq!(ok.ok().and_then(|v| v.as_f64()), Some(7.0));
        let err = JsFuture::from(promise(Box::pin(async {
            Err(Error::new(ErrorCode::InvalidInput, "bad"))
        })))
        .await
        .expect_err("fulfilled");
        let code = Reflect::get(&err, &"code".into())
            .ok()
            .and_then(|c| c.as_string());
        assert_eq!(code.as_deref(), Some("invalid_input"));
        assert!(err.is_instance_of::<js_sys::Error>());
    }

    /// Counts its polls and never finishes (nor wakes itself).
    struct CountsPolls(Rc<Cell<u32>>);
    impl Future for CountsPolls {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            self.0.set(self.0.get() + 1);
            Poll::Pending
        }
    }

    /// A page script that replaced `queueMicrotask` and `then` and calls what it is given
    /// again: each reference still comes back once (one poll per queued poll, the first
    /// outcome of a wait), instead of a pointer freed twice. Only the task's own callback is
    /// replayed (the test runner's would trip its own checks).
    #[wasm_bindgen_test]
    async fn callbacks_called_again_by_a_page_script_count_once() {
        let held = js_sys::Array::new();
        let capture = Function::new_with_args(
            "held",
            "const o = globalThis.queueMicrotask; \
             globalThis.queueMicrotask = (g) => { held.push(g); o(g); }; return o",
        );
        let restore = Function::new_with_args("o", "globalThis.queueMicrotask = o");
        let original = capture.call1(&JsValue::NULL, &held).unwrap();
        let polls = Rc::new(Cell::new(0));
        spawn(Box::pin(CountsPolls(polls.clone())));
        let _ = restore.call1(&JsValue::NULL, &original);
        assert_eq!(held.length(), 1);
        let queued: Function = held.get(0).unchecked_into();
        let _ = queued.call0(&JsValue::NULL);
        let _ = queued.call0(&JsValue::NULL);
        later().await;
        assert_eq!(polls.get(), 1, "a queued poll ran more than once");

        // A thenable that would fulfil twice and then reject is not followed at all: waits go
        // through the `then` `glue.js` took at load, which takes promises only (a `then` of
        // an object's own is what a page script would put in the way). The wait fails, once.
        let thenable = Function::new_no_args(
            "return { then(ok, no) { ok('first'); ok('second'); no('third'); } }",
        )
        .call0(&JsValue::NULL)
        .unwrap();
        let got = wait(thenable.unchecked_ref()).await;
        assert!(got.is_err(), "a thenable was followed");
        later().await;
    }

    #[wasm_bindgen_test]
    async fn a_thousand_tasks_each_awaiting_promises_all_finish() {
        let done = Rc::new(Cell::new(0));
        let promises: Vec<Promise> = (0..1000)
            .map(|i| {
                let d = done.clone();
                promise(Box::pin(async move {
                    for _ in 0..3 {
                        let _ = wait(&Promise::resolve(&JsValue::from(i))).await;
                    }
                    d.set(d.get() + 1);
                    Ok(JsValue::from(i))
                }))
            })
            .collect();
        let all = js_sys::Promise::all(&promises.into_iter().collect::<js_sys::Array>());
        let values = JsFuture::from(all).await.expect("all fulfilled");
        assert_eq!(done.get(), 1000);
        assert_eq!(js_sys::Array::from(&values).get(999).as_f64(), Some(999.0));
    }
}
