//! `Events` for the page and for the other tabs: local listeners are called directly, and every
//! event is also posted on a `BroadcastChannel` so the other tabs of the origin hear it (with
//! `remote: true`). Without BroadcastChannel, events stay local.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

use super::js;
use crate::platform::{Events, SessionEvent};

/// Called with every event that came from another tab, before the JS listeners.
pub type RemoteHook = Box<dyn Fn(&SessionEvent)>;

/// A shared `RemoteHook`, called without holding a borrow of the slot it lives in.
type SharedHook = Rc<dyn Fn(&SessionEvent)>;

#[derive(Default)]
struct Shared {
    listeners: RefCell<Vec<Function>>,
    remote_hook: RefCell<Option<SharedHook>>,
}

/// Session events for this page's listeners and, over a `BroadcastChannel`, every other tab.
pub struct BroadcastEvents {
    shared: Rc<Shared>,
    channel: Option<BroadcastChannel>,
    _on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
}

impl BroadcastEvents {
    /// Joins the channel `channel_name`; every `BroadcastEvents` with the same name, in any tab
    /// or worker of the origin, hears this one's events.
    pub fn new(channel_name: &str) -> Self {
        let shared = Rc::new(Shared::default());
        let channel = if js::global_property("BroadcastChannel").is_some() {
            BroadcastChannel::new(channel_name).ok()
        } else {
            None
        };
        let on_message = channel.as_ref().map(|channel| {
            let weak: Weak<Shared> = Rc::downgrade(&shared);
            let closure = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
                let (Some(shared), Some(event)) = (weak.upgrade(), parse(&message.data())) else {
                    return;
                };
                let hook = shared.remote_hook.borrow().clone();
                if let Some(hook) = hook {
                    hook(&event);
                }
                shared.notify(&to_js(&event, true));
            });
            channel.set_onmessage(Some(closure.as_ref().unchecked_ref()));
            closure
        });
        BroadcastEvents {
            shared,
            channel,
            _on_message: on_message,
        }
    }

    /// Only this page's listeners; nothing is posted or received.
    pub fn local_only() -> Self {
        BroadcastEvents {
            shared: Rc::new(Shared::default()),
            channel: None,
            _on_message: None,
        }
    }

    /// Whether events reach other tabs.
    pub fn is_broadcasting(&self) -> bool {
        self.channel.is_some()
    }

    /// Calls `listener` with `{ type: "updated" | "deleted" | "unsaved", did, reason?, remote? }` for every
    /// event, local or remote. Exceptions it throws are ignored.
    pub fn add_listener(&self, listener: Function) {
        self.shared.listeners.borrow_mut().push(listener);
    }

    /// Removes every registration of `listener`; returns whether there was one.
    pub fn remove_listener(&self, listener: &Function) -> bool {
        let mut listeners = self.shared.listeners.borrow_mut();
        let before = listeners.len();
        listeners.retain(|f| !Object::is(f, listener));
        listeners.len() != before
    }

    /// Replaces the hook run for events from other tabs (the client drops its cached copy of
    /// that session there).
    pub fn set_remote_hook(&self, hook: RemoteHook) {
        *self.shared.remote_hook.borrow_mut() = Some(Rc::from(hook));
    }
}

impl std::fmt::Debug for BroadcastEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastEvents")
            .field("broadcasting", &self.is_broadcasting())
            .field("listeners", &self.shared.listeners.borrow().len())
            .finish()
    }
}

impl Shared {
    fn notify(&self, event: &JsValue) {
        // A copy, so a listener may add or remove listeners while being called.
        let listeners = self.listeners.borrow().clone();
        for listener in listeners {
            let _ = listener.call1(&JsValue::UNDEFINED, event);
        }
    }
}

impl Events for BroadcastEvents {
    fn emit(&self, event: SessionEvent) {
        if let Some(channel) = &self.channel {
            // A closed or failing channel only costs the other tabs their notification.
            let _ = channel.post_message(&to_js(&event, false));
        }
        self.shared.notify(&to_js(&event, false));
    }
}

impl Drop for BroadcastEvents {
    fn drop(&mut self) {
        if let Some(channel) = &self.channel {
            channel.set_onmessage(None);
            channel.close();
        }
    }
}

fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

fn to_js(event: &SessionEvent, remote: bool) -> JsValue {
    let obj = Object::new();
    match event {
        SessionEvent::Updated { did } => {
            set(&obj, "type", &"updated".into());
            set(&obj, "did", &did.into());
        }
        SessionEvent::Deleted { did, reason } | SessionEvent::Unsaved { did, reason } => {
            let kind = if matches!(event, SessionEvent::Deleted { .. }) {
                "deleted"
            } else {
                "unsaved"
            };
            set(&obj, "type", &kind.into());
            set(&obj, "did", &did.into());
            set(&obj, "reason", &reason.into());
        }
    }
    if remote {
        set(&obj, "remote", &JsValue::TRUE);
    }
    obj.into()
}

/// Messages on the channel come from any script of the origin; anything malformed is ignored.
fn parse(data: &JsValue) -> Option<SessionEvent> {
    if !data.is_object() {
        return None;
    }
    let get = |key: &str| {
        Reflect::get(data, &JsValue::from_str(key))
            .ok()?
            .as_string()
    };
    let did = get("did")?;
    match get("type")?.as_str() {
        "updated" => Some(SessionEvent::Updated { did }),
        "deleted" => Some(SessionEvent::Deleted {
            did,
            reason: get("reason").unwrap_or_default(),
        }),
        "unsaved" => Some(SessionEvent::Unsaved {
            did,
            reason: get("reason").unwrap_or_default(),
        }),
        _ => None,
    }
}
