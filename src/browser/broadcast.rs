//! `Events` for the page and for the other tabs: local listeners are called directly, and every
//! event is also posted on a `BroadcastChannel` so the other tabs of the origin hear it (with
//! `remote: true`). Without BroadcastChannel, events stay local.
//!
//! The listeners, the channel and the checks on what arrives from it are `eventsOpen` in
//! `glue.js`: from Rust each listener, message handler and event object took a closure or a
//! conversion compiled into the `.wasm` (1 KB gzip more, measured in the eleventh session).

use wasm_bindgen::prelude::*;

use crate::platform::{Events, SessionEvent};

#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    /// `eventsOpen`'s answer.
    #[wasm_bindgen(extends = super::js::Closable)]
    type JsEvents;
    #[wasm_bindgen(js_name = eventsOpen)]
    fn events_open(name: Option<&str>) -> JsEvents;
    #[wasm_bindgen(method, getter)]
    fn broadcasting(this: &JsEvents) -> bool;
    #[wasm_bindgen(method, js_name = setHook)]
    fn set_hook(this: &JsEvents, hook: JsValue);
    #[wasm_bindgen(method)]
    fn emit(this: &JsEvents, kind: &str, did: &str, reason: Option<&str>);
    #[wasm_bindgen(method)]
    fn listen(this: &JsEvents, listener: &js_sys::Function) -> JsValue;
}

/// Called with the DID of every session another tab updated or deleted, before the JS
/// listeners hear of it.
pub type RemoteHook = Box<dyn Fn(String)>;

/// Session events for this page's listeners and, over a `BroadcastChannel`, every other tab.
pub struct BroadcastEvents {
    js: JsEvents,
}

impl BroadcastEvents {
    /// Joins the channel `channel_name`; every `BroadcastEvents` with the same name, in any tab
    /// or worker of the origin, hears this one's events.
    pub fn new(channel_name: &str) -> Self {
        BroadcastEvents {
            js: events_open(Some(channel_name)),
        }
    }

    /// Events for this page's listeners only (tests, and platforms without a channel).
    pub fn local_only() -> Self {
        BroadcastEvents {
            js: events_open(None),
        }
    }

    /// Whether events reach other tabs.
    pub fn is_broadcasting(&self) -> bool {
        self.js.broadcasting()
    }

    /// Adds a JS listener; returns the function that removes it (calling it twice is harmless).
    pub fn add_listener(&self, listener: &js_sys::Function) -> JsValue {
        self.js.listen(listener)
    }

    /// Sets the hook for events from other tabs (replacing any earlier one).
    pub fn set_remote_hook(&self, hook: RemoteHook) {
        // Owned by the JS side from here: dropped with the events object.
        self.js.set_hook(Closure::wrap(hook).into_js_value());
    }
}

impl std::fmt::Debug for BroadcastEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastEvents")
            .field("broadcasting", &self.is_broadcasting())
            .finish()
    }
}

impl Events for BroadcastEvents {
    fn emit(&self, event: SessionEvent) {
        match &event {
            SessionEvent::Updated { did } => self.js.emit("updated", did, None),
            SessionEvent::Deleted { did, reason } => self.js.emit("deleted", did, Some(reason)),
            SessionEvent::Unsaved { did, reason } => self.js.emit("unsaved", did, Some(reason)),
        }
    }
}

impl Drop for BroadcastEvents {
    fn drop(&mut self) {
        self.js.close();
    }
}
