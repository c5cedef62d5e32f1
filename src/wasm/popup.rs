//! Sign-in in a popup window. The opener opens the window synchronously (inside the click
//! handler, or browsers block it), sends it to the authorization page, and waits for the result
//! on a `BroadcastChannel`: the page the popup comes back to finishes the login
//! (`handleCallback`), posts the result, and closes. A BroadcastChannel still works when the
//! authorization page's Cross-Origin-Opener-Policy cuts the popup off from its opener
//! (`window.opener` is gone, `postMessage` cannot reach it).
//!
//! Closing: COOP also makes `popup.closed` read `true` as soon as the authorization page loads,
//! though the window is open. So `closed` is believed only when it cannot be that: before the
//! popup is sent anywhere, or after the popup was seen open on the authorization page (its
//! location unreadable, yet not closed: no COOP cut it off). Otherwise the timeout ends the
//! wait.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures_channel::oneshot;
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent, Window};

use crate::browser::js::{clear_interval, set_interval, set_timeout};
use crate::error::{Error, ErrorCode, Result};

/// How often the opener looks at the popup.
const POLL_MS: i32 = 250;
/// After the popup is seen closed, how long a result already on its way may still arrive.
const CLOSE_GRACE_POLLS: u32 = 2;

/// The channel a client's popups report on: per database and client id, like session events.
pub(super) fn channel_name(db: &str, client_id: &str) -> String {
    format!("{db}:popup:{client_id}")
}

/// Opens an empty popup. Must run before the first `await` of the click handler.
pub(super) fn open() -> Result<Window> {
    let window = web_sys::window()
        .ok_or_else(|| Error::new(ErrorCode::Unsupported, "a popup needs a window"))?;
    window
        .open_with_url_and_target_and_features("about:blank", "_blank", "popup,width=600,height=720")
        .ok()
        .flatten()
        .ok_or_else(|| {
            Error::new(
                ErrorCode::PopupBlocked,
                "the browser blocked the sign-in popup: call startLogin directly in the click handler",
            )
        })
}

fn closed_error() -> Error {
    Error::new(ErrorCode::PopupClosed, "the sign-in popup was closed")
}

/// Sends the popup to `url` and waits for the result of the login with `state`: the
/// `{ session, state }` the popup's `handleCallback` produced, or its error.
pub(super) async fn run(
    popup: &Window,
    channel: &str,
    state: &str,
    url: &str,
    timeout_ms: u32,
) -> Result<JsValue> {
    if popup.closed().unwrap_or(true) {
        return Err(closed_error());
    }
    let channel = BroadcastChannel::new(channel)
        .map_err(|_| Error::new(ErrorCode::Unsupported, "no BroadcastChannel for the popup"))?;
    let (tx, rx) = oneshot::channel::<Result<JsValue>>();
    let tx = Rc::new(RefCell::new(Some(tx)));
    let settle = {
        let tx = tx.clone();
        move |outcome: Result<JsValue>| {
            if let Some(tx) = tx.borrow_mut().take() {
                let _ = tx.send(outcome);
            }
        }
    };

    let expected = state.to_string();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
        let settle = settle.clone();
        move |message: MessageEvent| {
            let data = message.data();
            let get = |k: &str| Reflect::get(&data, &k.into()).unwrap_or(JsValue::UNDEFINED);
            if get("state").as_string().as_deref() != Some(expected.as_str()) {
                return;
            }
            settle(match get("ok").as_bool() {
                Some(true) => Ok(get("result")),
                _ => {
                    let error = get("error");
                    let field = |k: &str| {
                        Reflect::get(&error, &k.into())
                            .ok()
                            .and_then(|v| v.as_string())
                            .unwrap_or_default()
                    };
                    Err(Error::new(
                        ErrorCode::from_code(&field("code")),
                        field("message"),
                    ))
                }
            });
        }
    });
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

    // Believe `closed` only once the popup was seen open on the authorization page (see above).
    let seen_open_elsewhere = Cell::new(false);
    let closed_polls = Cell::new(0u32);
    // Wall time: timers of a tab in the background run late.
    let started = js_sys::Date::now();
    let on_tick = Closure::<dyn FnMut()>::new({
        let settle = settle.clone();
        let popup = popup.clone();
        move || {
            if js_sys::Date::now() - started >= f64::from(timeout_ms) {
                let _ = popup.close();
                return settle(Err(Error::new(
                    ErrorCode::Timeout,
                    format!("the sign-in popup did not finish within {timeout_ms} ms"),
                )));
            }
            if !popup.closed().unwrap_or(true) {
                // A cross-origin document makes the location unreadable.
                if popup.location().href().is_err() {
                    seen_open_elsewhere.set(true);
                }
                return;
            }
            if seen_open_elsewhere.get() {
                closed_polls.set(closed_polls.get() + 1);
                if closed_polls.get() > CLOSE_GRACE_POLLS {
                    settle(Err(closed_error()));
                }
            }
        }
    });
    let interval = set_interval(on_tick.as_ref().unchecked_ref(), POLL_MS);

    let result = match popup.location().set_href(url) {
        Ok(()) => rx
            .await
            .unwrap_or_else(|_| Err(Error::new(ErrorCode::Internal, "popup wait dropped"))),
        Err(_) => Err(closed_error()),
    };
    clear_interval(&interval);
    channel.set_onmessage(None);
    channel.close();
    result
}

/// In the popup, after `handleCallback`: hands the result (or the error) to the opener and
/// closes this window. The message is on its way once posted; the close waits a moment all
/// the same.
pub(super) fn report(channel: &str, state: &str, result: &Result<JsValue>) {
    let message = Object::new();
    let set = |k: &str, v: &JsValue| {
        let _ = Reflect::set(&message, &k.into(), v);
    };
    set("state", &state.into());
    match result {
        Ok(value) => {
            set("ok", &true.into());
            set("result", value);
        }
        Err(e) => {
            set("ok", &false.into());
            let error = Object::new();
            let _ = Reflect::set(&error, &"code".into(), &e.code.as_str().into());
            let _ = Reflect::set(&error, &"message".into(), &e.message.as_str().into());
            set("error", &error);
        }
    }
    if let Ok(channel) = BroadcastChannel::new(channel) {
        let _ = channel.post_message(&message);
    }
    if let Some(window) = web_sys::window() {
        let close = Closure::once_into_js(move || {
            let _ = window.close();
        });
        set_timeout(close.unchecked_ref(), 200);
    }
}
