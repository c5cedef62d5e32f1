//! The JavaScript surface: the `OAuthClient` class, `loopbackClientId` and `buildScope`. It only converts
//! values (`convert.rs`) and errors; the work happens in `client` (protocol) and `browser`
//! (platform). The TypeScript declarations are `types.d.ts`, included at build time.

mod convert;
mod fetch;
mod last_active;
mod page;
mod popup;

use std::rc::{Rc, Weak};

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::browser::{js_error, BroadcastEvents, BrowserPlatform};
use crate::client::{check_proxy, Client, RecordsPage};
use crate::config::{loopback_client_id as build_loopback_client_id, ClientConfig};
use crate::error::{Error, ErrorCode};
use crate::json;
use crate::settled::Settled;
use convert::{
    check_keys, config_from_js, json_array, max_records, opt_bool, opt_string, opt_string_arg,
    options_arg, promise, records_query, scope_values, string_arg, to_js, xrpc_call_from_js,
    xrpc_result,
};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = include_str!("types.d.ts");

/// An AT Protocol OAuth client for one app (client id + redirect URI). Create one per page.
#[wasm_bindgen]
pub struct OAuthClient {
    inner: Rc<Client<BrowserPlatform>>,
    events: Rc<BroadcastEvents>,
    /// Where this client's sign-in popups report their result.
    popup_channel: String,
    /// The account `restore()` without a DID picks up.
    last_active: Rc<last_active::LastActive>,
}

/// Throws (for the synchronous methods) an `OAuthError`.
fn throw(e: Error) -> JsValue {
    js_error(&e)
}

#[wasm_bindgen]
impl OAuthClient {
    /// Validates the configuration (throws an `OAuthError` with code `invalid_config`).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "OAuthClientConfig")] config: JsValue,
    ) -> std::result::Result<OAuthClient, JsValue> {
        if !config.is_object() {
            return Err(throw(Error::new(
                ErrorCode::InvalidConfig,
                "new OAuthClient(config): config must be an object",
            )));
        }
        let as_config = |mut e: Error| {
            throw(Error::new(
                ErrorCode::InvalidConfig,
                std::mem::take(&mut e.message),
            ))
        };
        check_keys(&config, ClientConfig::FIELDS, "config").map_err(as_config)?;
        let cfg = config_from_js(&config).map_err(as_config)?;
        // One channel per database and client: another app on the origin hears none of it.
        let channel = msg!(cfg.db_name, ":events:", cfg.client_id);
        let popup_channel = popup::channel_name(&cfg.db_name, &cfg.client_id);
        let last_active = Rc::new(last_active::LastActive::new(&cfg.db_name, &cfg.client_id));
        let events = Rc::new(BroadcastEvents::new(&channel));
        let platform = BrowserPlatform::new(&cfg.db_name, cfg.request_timeout_ms, events.clone());
        let inner = Rc::new(Client::new(cfg, platform).map_err(throw)?);
        // Another tab updated or deleted a session: drop our in-memory copy so the next call
        // re-reads it. (An `unsaved` event changes nothing in storage, and the refresh lock
        // keeps this tab off the spent tokens: the hook does not hear it.)
        let weak: Weak<Client<BrowserPlatform>> = Rc::downgrade(&inner);
        events.set_remote_hook(Box::new(move |did: String| {
            if let Some(client) = weak.upgrade() {
                client.forget(&did)
            }
        }));
        Ok(OAuthClient {
            inner,
            events,
            popup_channel,
            last_active,
        })
    }

    /// Resolves the account (handle, DID, or PDS/entryway URL), pushes the authorization
    /// request and returns the URL of the authorization page (and goes there with
    /// `{ redirect: true }`).
    #[wasm_bindgen(js_name = startLogin, unchecked_return_type = "Promise<LoginResult>")]
    pub fn start_login(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] input: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "LoginOptions")] options: Option<JsValue>,
    ) -> Promise {
        let inner = self.inner.clone();
        let channel = self.popup_channel.clone();
        // A popup opens now, in the click handler's own turn: after an `await` the browser
        // no longer counts the click and blocks it.
        let wants_popup = options.as_ref().is_some_and(|o| {
            o.is_object() && convert::get(o, "display").is_ok_and(|v| v == "popup")
        });
        let popup = if wants_popup {
            match page::open_popup() {
                Ok(window) => Some(window),
                Err(e) => return promise(async move { Err(e) }),
            }
        } else {
            None
        };
        promise(async move {
            let out = async {
                let input = string_arg(&input, "startLogin(input)")?;
                let options = options_arg(options, "startLogin options")?;
                check_keys(
                    &options,
                    &[
                        "scope",
                        "loginHint",
                        "prompt",
                        "state",
                        "redirect",
                        "display",
                        "popupTimeoutMs",
                    ],
                    "startLogin options",
                )?;
                // Only a window can navigate. Checked before any request, so that in a worker
                // the mistake is reported instead of a login silently started and never opened.
                let redirect = opt_bool(&options, "redirect")? == Some(true);
                if redirect && !page::can_navigate() {
                    return Err(Error::new(
                        ErrorCode::Unsupported,
                        "redirect: true needs a window; a worker cannot navigate",
                    ));
                }
                let timeout = convert::opt_integer(&options, "popupTimeoutMs", 1, 3_600_000)?
                    .unwrap_or(300_000) as u32;
                let opts = convert::login_options(&options)?;
                let start = inner.start_login(&input, opts).settled().await?;
                if let Some(popup) = &popup {
                    let url = &start.url;
                    let done = popup::run(&inner, popup, &channel, &start.state, url, timeout)
                        .settled()
                        .await?;
                    // The session is read from storage, where the popup put it, not taken from
                    // the message.
                    let did = Reflect::get(&done, &"session".into())
                        .and_then(|s| Reflect::get(&s, &"did".into()))
                        .ok()
                        .and_then(|d| d.as_string())
                        .unwrap_or_default();
                    let session = inner.restore(&did).settled().await?;
                    let state = convert::opt_string(&done, "state")?;
                    return to_js(&json::object(|o| {
                        o.str("url", &start.url);
                        o.obj("session", &session);
                        o.opt_str("state", state.as_deref());
                    }));
                }
                if redirect {
                    page::navigate(&start.url)?;
                }
                to_js(&json::object(|o| o.str("url", &start.url)))
            }
            .settled()
            .await;
            if let (Err(_), Some(popup)) = (&out, &popup) {
                popup::close(popup);
            }
            out
        })
    }

    /// Completes the login from the redirect URL (default: the current location): checks
    /// state and issuer, exchanges the code, verifies the account, stores the session, and
    /// removes the authorization response from the address bar.
    #[wasm_bindgen(js_name = handleCallback, unchecked_return_type = "Promise<CallbackResult>")]
    pub fn handle_callback(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] url: Option<JsValue>,
    ) -> Promise {
        let inner = self.inner.clone();
        let channel = self.popup_channel.clone();
        let last_active = self.last_active.clone();
        promise(async move {
            let url = opt_string_arg(url, "handleCallback(url)")?;
            let here = page::current_url().ok();
            let url = match url.or_else(|| here.clone()) {
                Some(u) => u,
                None => page::current_url()?,
            };
            let result = inner.handle_callback(&url).settled().await;
            // The response is spent either way; it must not linger in the address bar or history.
            if here.as_deref() == Some(url.as_str()) {
                if let Some(clean) = inner.without_callback_params(&url) {
                    page::replace(&clean);
                }
            }
            if let Ok(result) = &result {
                last_active.set(&result.session.did);
            }
            let out = result.and_then(|result| {
                to_js(&json::object(|o| {
                    o.obj("session", &result.session);
                    o.opt_str("state", result.app_state.as_deref());
                }))
            });
            // This window is a sign-in popup: the window that opened it gets the result. Not
            // from a call that found no login for the state: the login is another call's (a
            // second `handleCallback` in the popup, which would report `invalid_state` while
            // the first is still exchanging the code, and close the window under it), or
            // the opener gave up on it.
            let unknown = matches!(&out, Err(e) if e.code == ErrorCode::InvalidState);
            if let (Some(state), false) = (inner.popup_state(&url), unknown) {
                popup::report(&channel, &state, &out);
            }
            out
        })
    }

    /// Whether the URL (default: the current location) carries an authorization response.
    #[wasm_bindgen(js_name = isCallback)]
    pub fn is_callback(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] url: Option<JsValue>,
    ) -> std::result::Result<bool, JsValue> {
        let url = opt_string_arg(url, "isCallback(url)").map_err(throw)?;
        Ok(match url.or_else(|| page::current_url().ok()) {
            Some(u) => self.inner.is_callback(&u),
            None => false,
        })
    }

    /// One page of `com.atproto.repo.listRecords` for `collection`, authenticated as `did`.
    #[wasm_bindgen(js_name = fetchRecords, unchecked_return_type = "Promise<RecordsPage>")]
    pub fn fetch_records(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] did: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] collection: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "FetchRecordsOptions")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let did = string_arg(&did, "fetchRecords(did)")?;
            let collection = string_arg(&collection, "fetchRecords(collection)")?;
            let options = options_arg(options, "fetchRecords options")?;
            let query = records_query(collection, &options, false)?;
            let resp = inner
                .xrpc(&did, &query.request(&did, None))
                .settled()
                .await?;
            to_js(&RecordsPage::from_response(&resp)?.to_json())
        })
    }

    /// Every record of `collection`, walking all pages (up to `maxRecords`, default 10000).
    #[wasm_bindgen(js_name = fetchAllRecords, unchecked_return_type = "Promise<RecordEntry[]>")]
    pub fn fetch_all_records(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] did: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] collection: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "FetchAllRecordsOptions")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let did = string_arg(&did, "fetchAllRecords(did)")?;
            let collection = string_arg(&collection, "fetchAllRecords(collection)")?;
            let options = options_arg(options, "fetchAllRecords options")?;
            let max = max_records(&options)?;
            let query = records_query(collection, &options, true)?;
            json_array(&inner.list_all_records(&did, &query, max).settled().await?)
        })
    }

    /// Any authenticated XRPC call (query or procedure) to the session's PDS.
    #[wasm_bindgen(unchecked_return_type = "Promise<XrpcResult>")]
    pub fn xrpc(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] did: JsValue,
        #[wasm_bindgen(unchecked_param_type = "XrpcCall")] call: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let did = string_arg(&did, "xrpc(did)")?;
            let req = xrpc_call_from_js(&call)?;
            let resp = inner.xrpc(&did, &req).settled().await?;
            Ok(xrpc_result(&resp, &req))
        })
    }

    /// Loads a stored session by DID, as an object the AT Protocol SDKs take (`new Agent(session)`,
    /// `new Client({ handler: session.fetchHandler })`). Makes no network request. Without a
    /// DID: the last active account's session (the one last signed in or restored here), or
    /// `null` when there is none.
    #[wasm_bindgen(unchecked_return_type = "Promise<OAuthSession>")]
    pub fn restore(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] did: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "RestoreOptions")] options: Option<JsValue>,
    ) -> Promise {
        let inner = self.inner.clone();
        let last_active = self.last_active.clone();
        promise(async move {
            let given = opt_string_arg(did, "restore(did)")?;
            let options = options_arg(options, "restore options")?;
            check_keys(&options, &["proxy"], "restore options")?;
            let proxy = opt_string(&options, "proxy")?;
            if let Some(proxy) = &proxy {
                check_proxy(proxy)?;
            }
            let did = match &given {
                Some(did) => did.clone(),
                None => match last_active.get()? {
                    Some(did) => did,
                    None => return Ok(JsValue::NULL),
                },
            };
            let info = match inner.live(&did).settled().await {
                Ok(live) => live.session.info(),
                // The last active account's session is gone (signed out in a way this page did
                // not see, or expired): nobody is signed in.
                Err(e) if given.is_none() && e.code == ErrorCode::SessionNotFound => {
                    last_active.clear(&did);
                    return Ok(JsValue::NULL);
                }
                Err(e) => return Err(e),
            };
            last_active.set(&did);
            let session = to_js(&json::to_string(&info))?;
            let handler = fetch::handler(inner, did, proxy);
            let _ = Reflect::set(&session, &"fetchHandler".into(), &handler);
            Ok(session)
        })
    }

    /// Every stored session of this client (several accounts side by side).
    #[wasm_bindgen(js_name = listSessions, unchecked_return_type = "Promise<SessionInfo[]>")]
    pub fn list_sessions(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let mut infos = Vec::new();
            for info in inner.scan_sessions().settled().await?.0 {
                infos.push(json::to_string(&info));
            }
            json_array(&infos)
        })
    }

    /// This client's stored sessions that cannot be read, each with its error: what
    /// `listSessions` leaves out. `signOut(did)` removes one.
    #[wasm_bindgen(js_name = unreadableSessions, unchecked_return_type = "Promise<UnreadableSession[]>")]
    pub fn unreadable_sessions(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let out = js_sys::Array::new();
            for (did, error) in inner.scan_sessions().settled().await?.1 {
                let entry = Object::new();
                let _ = Reflect::set(&entry, &"did".into(), &did.into());
                let _ = Reflect::set(&entry, &"error".into(), &js_error(&error));
                out.push(&entry);
            }
            Ok(out.into())
        })
    }

    /// Refreshes the tokens now (unless another tab just did; then its tokens are used).
    #[wasm_bindgen(unchecked_return_type = "Promise<SessionInfo>")]
    pub fn refresh(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] did: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let did = string_arg(&did, "refresh(did)")?;
            to_js(&json::to_string(&inner.refresh(&did).settled().await?))
        })
    }

    /// Revokes the tokens at the authorization server and deletes the session here, even when
    /// the server cannot be reached.
    #[wasm_bindgen(js_name = signOut, unchecked_return_type = "Promise<void>")]
    pub fn sign_out(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] did: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let last_active = self.last_active.clone();
        promise(async move {
            let did = string_arg(&did, "signOut(did)")?;
            last_active.clear(&did);
            inner.sign_out(&did).settled().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Calls `listener` with every session change, from this tab and from other tabs
    /// (`remote: true`). Returns a function that removes the listener.
    #[wasm_bindgen(js_name = onSessionEvent, unchecked_return_type = "() => void")]
    pub fn on_session_event(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(event: SessionEventDetail) => void")]
        listener: JsValue,
    ) -> std::result::Result<JsValue, JsValue> {
        let listener: Function = listener.dyn_into().map_err(|_| {
            throw(Error::new(
                ErrorCode::InvalidInput,
                "onSessionEvent(listener): listener must be a function",
            ))
        })?;
        Ok(self.events.add_listener(&listener))
    }
}

/// The loopback client id for local development: `http://localhost?redirect_uri=…&scope=…`.
#[wasm_bindgen(js_name = loopbackClientId)]
pub fn loopback_client_id(
    #[wasm_bindgen(unchecked_param_type = "string")] redirect_uri: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] scope: JsValue,
) -> std::result::Result<String, JsValue> {
    let redirect_uri = string_arg(&redirect_uri, "loopbackClientId(redirectUri)").map_err(throw)?;
    let scope = string_arg(&scope, "loopbackClientId(scope)").map_err(throw)?;
    Ok(build_loopback_client_id(&redirect_uri, &scope))
}

/// AT Protocol permissions as the scope string the client metadata lists and a login
/// requests, in the authorization server's normalized form.
#[wasm_bindgen(js_name = buildScope)]
pub fn build_scope(
    #[wasm_bindgen(unchecked_param_type = "ScopeValue[]")] values: JsValue,
) -> std::result::Result<String, JsValue> {
    scope_values(&values)
        .map(crate::oauth::scope::join_unique)
        .map_err(throw)
}

#[cfg(test)]
mod tests;
