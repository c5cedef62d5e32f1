//! The JavaScript surface: `OAuthClient` and its methods. It only converts values and errors;
//! the work happens in `client` (protocol) and `browser` (platform).

use std::cell::OnceCell;
use std::rc::{Rc, Weak};

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

use crate::browser::{js_error, BroadcastEvents, BrowserClock, FetchHttp, IdbStore, WebLocks};
use crate::client::{Client, LoginOptions, XrpcRequest};
use crate::config::{loopback_client_id as build_loopback_client_id, ClientConfig};
use crate::error::{Error, ErrorCode, Result};
use crate::oauth::callback::{has_callback_params, strip_callback_params};
use crate::platform::{
    Clock, Events, Http, HttpRequest, HttpResponse, Locks, SessionEvent, Spawn, Store, Table,
};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** What `new OAuthClient(config)` takes. */
export interface OAuthClientConfig {
  /** The client id: the https URL of your client-metadata.json, or for local development the
   *  loopback form built by `loopbackClientId(redirectUri, scope)`. */
  clientId: string;
  /** Where the authorization server sends the browser back; must be listed in the client metadata. */
  redirectUri: string;
  /** Space-separated scopes; must include "atproto". Default "atproto transition:generic". */
  scope?: string;
  /** XRPC service for com.atproto.identity.resolveHandle. Default "https://public.api.bsky.app". */
  handleResolver?: string;
  /** PLC directory. Default "https://plc.directory". */
  plcDirectoryUrl?: string;
  /** DNS-over-HTTPS JSON endpoint. Default "https://cloudflare-dns.com/dns-query". */
  dohUrl?: string;
  /** Handle resolution methods, tried in order. Default ["well-known", "dns", "xrpc"]. */
  handleResolution?: Array<"well-known" | "dns" | "xrpc">;
  /** Development only: accept plain-http servers (e.g. a PDS on http://localhost:2583). */
  allowHttp?: boolean;
  /** Where the authorization response comes back. Default "query". */
  responseMode?: "query" | "fragment";
  /** Refresh this many seconds before the access token expires. Default 60. */
  refreshMarginSecs?: number;
  /** IndexedDB database name. Default "atproto-oauth". */
  dbName?: string;
}

export interface LoginOptions {
  /** Overrides the configured scope for this login. */
  scope?: string;
  /** Pre-fills the account on the sign-in page. Default: the handle or DID you passed. */
  loginHint?: string;
  prompt?: "login" | "consent" | "select_account" | "none";
  /** Your own data, handed back by handleCallback. Stays in this browser. */
  state?: string;
  /** Navigate to the authorization page right away. Default false. */
  redirect?: boolean;
}

export interface LoginStart {
  /** The authorization page to send the user to. */
  url: string;
}

/** A signed-in account. Holds no token and no key. */
export interface SessionInfo {
  did: string;
  handle: string | null;
  pds: string;
  issuer: string;
  scope: string;
  /** Access-token expiry, Unix seconds. */
  expiresAt: number | null;
}

export interface CallbackResult {
  session: SessionInfo;
  /** The `state` you passed to startLogin. */
  state: string | null;
}

export interface FetchRecordsOptions {
  /** Repository to list; default the signed-in account's DID. */
  repo?: string;
  limit?: number;
  cursor?: string;
  reverse?: boolean;
}

export interface FetchAllRecordsOptions extends FetchRecordsOptions {
  /** Stop after this many records. Default 10000. */
  maxRecords?: number;
}

export interface RecordEntry {
  uri: string;
  cid: string;
  value: any;
}

export interface RecordsPage {
  records: RecordEntry[];
  cursor?: string;
}

export interface XrpcCall {
  /** The XRPC method, e.g. "com.atproto.repo.createRecord". */
  nsid: string;
  /** Default: "POST" when there is a body, else "GET". */
  method?: "GET" | "POST";
  params?: Record<string, string | number | boolean | Array<string | number | boolean> | undefined>;
  /** A JSON value (sent as application/json), or bytes (Uint8Array / ArrayBuffer) sent with `encoding`. */
  body?: unknown;
  /** Content type for a bytes body. Default "application/octet-stream". */
  encoding?: string;
  headers?: Record<string, string>;
}

export interface XrpcResult {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON for JSON responses, otherwise the raw bytes. */
  data: any;
}

export type SessionEventDetail =
  | { type: "updated"; did: string; remote?: boolean }
  | { type: "deleted"; did: string; reason: string; remote?: boolean };

/** Every error this library throws or rejects with. Branch on `code`. */
export interface OAuthError extends Error {
  name: "OAuthError";
  code:
    | "invalid_config" | "invalid_input" | "invalid_handle" | "invalid_did" | "unsupported_did_method"
    | "handle_resolution_failed" | "did_resolution_failed" | "handle_mismatch" | "no_pds"
    | "invalid_metadata" | "insecure_url" | "network_error" | "invalid_response" | "par_failed"
    | "invalid_state" | "state_expired" | "issuer_mismatch" | "access_denied" | "authorization_error"
    | "token_failed" | "subject_mismatch" | "session_not_found" | "session_expired" | "xrpc_error"
    | "storage_error" | "crypto_error" | "unsupported";
  /** The server's own error name (OAuth `error` or XRPC `error`), when a server sent one. */
  serverError?: string;
  /** HTTP status, when a server answered. */
  status?: number;
}
"#;

// ---- the platform, assembled from the browser pieces --------------------------------------

/// The browser platform. The IndexedDB store opens lazily on first use, so the constructor stays
/// synchronous and restoring a session costs no work until it is asked for.
///
/// Generic over the HTTP layer only so that in-browser tests can drive the real storage, locks
/// and channels against a scripted server.
pub struct BrowserPlatform<H = FetchHttp> {
    pub(crate) http: Rc<H>,
    pub(crate) store: Rc<LazyStore>,
    pub(crate) locks: Rc<WebLocks>,
    pub(crate) events: Rc<BroadcastEvents>,
}

// Not derived: a derive would demand `H: Clone`, but only the `Rc` is cloned.
impl<H> Clone for BrowserPlatform<H> {
    fn clone(&self) -> Self {
        BrowserPlatform {
            http: self.http.clone(),
            store: self.store.clone(),
            locks: self.locks.clone(),
            events: self.events.clone(),
        }
    }
}

pub struct LazyStore {
    db_name: String,
    store: OnceCell<IdbStore>,
}

impl LazyStore {
    pub fn new(db_name: &str) -> Self {
        LazyStore {
            db_name: db_name.to_string(),
            store: OnceCell::new(),
        }
    }

    async fn get(&self) -> Result<&IdbStore> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let opened = IdbStore::open(&self.db_name).await?;
        // Two first uses may race to open; the loser's handle is simply dropped.
        Ok(self.store.get_or_init(|| opened))
    }
}

impl<H: Http> Http for BrowserPlatform<H> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        self.http.send(request).await
    }
}

impl<H: Http> Clock for BrowserPlatform<H> {
    fn now(&self) -> i64 {
        BrowserClock.now()
    }
}

impl<H: Http> Store for BrowserPlatform<H> {
    async fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>> {
        self.store.get().await?.get(table, key).await
    }
    async fn put(&self, table: Table, key: &str, value: &[u8]) -> Result<()> {
        self.store.get().await?.put(table, key, value).await
    }
    async fn delete(&self, table: Table, key: &str) -> Result<()> {
        self.store.get().await?.delete(table, key).await
    }
    async fn take(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>> {
        self.store.get().await?.take(table, key).await
    }
    async fn keys(&self, table: Table) -> Result<Vec<String>> {
        self.store.get().await?.keys(table).await
    }
}

impl<H: Http> Locks for BrowserPlatform<H> {
    type Guard = <WebLocks as Locks>::Guard;
    async fn lock(&self, name: &str) -> Result<Self::Guard> {
        self.locks.lock(name).await
    }
}

impl<H: Http> Events for BrowserPlatform<H> {
    fn emit(&self, event: SessionEvent) {
        self.events.emit(event)
    }
}

impl<H: Http> Spawn for BrowserPlatform<H> {
    fn spawn(&self, task: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>) {
        wasm_bindgen_futures::spawn_local(task);
    }
}

// ---- conversions ---------------------------------------------------------------------------

fn to_js<T: Serialize>(value: &T) -> Result<JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| Error::new(ErrorCode::InvalidResponse, e.to_string()))
}

fn from_js<T: for<'de> serde::Deserialize<'de>>(value: JsValue, what: &str) -> Result<T> {
    let value = if value.is_undefined() || value.is_null() {
        Object::new().into()
    } else {
        value
    };
    serde_wasm_bindgen::from_value(value)
        .map_err(|e| Error::new(ErrorCode::InvalidInput, format!("{what}: {e}")))
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn opt_string(obj: &JsValue, key: &str) -> Result<Option<String>> {
    let v = get(obj, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| Error::new(ErrorCode::InvalidInput, format!("{key} must be a string")))
}

/// A query parameter value: strings, numbers and booleans, or arrays of them (repeated keys).
fn push_param(out: &mut Vec<(String, String)>, key: &str, value: &JsValue) -> Result<()> {
    if value.is_undefined() || value.is_null() {
        return Ok(());
    }
    if let Some(arr) = value.dyn_ref::<Array>() {
        for item in arr.iter() {
            push_param(out, key, &item)?;
        }
        return Ok(());
    }
    let text = if let Some(s) = value.as_string() {
        s
    } else if value.as_f64().is_some() {
        // JavaScript's own number formatting: matches what a JS client would send, and keeps
        // Rust's float formatting code out of the .wasm.
        js_sys::Number::from(value.clone())
            .to_string_with_radix(10)
            .map(String::from)
            .unwrap_or_default()
    } else if let Some(b) = value.as_bool() {
        b.to_string()
    } else {
        return Err(Error::new(
            ErrorCode::InvalidInput,
            format!("param {key} must be a string, number or boolean"),
        ));
    };
    out.push((key.to_string(), text));
    Ok(())
}

fn string_map(obj: &JsValue, what: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    if obj.is_undefined() || obj.is_null() {
        return Ok(out);
    }
    let object = obj
        .dyn_ref::<Object>()
        .ok_or_else(|| Error::new(ErrorCode::InvalidInput, format!("{what} must be an object")))?;
    for entry in Object::entries(object).iter() {
        let pair: Array = entry.unchecked_into();
        let key = pair.get(0).as_string().unwrap_or_default();
        push_param(&mut out, &key, &pair.get(1))?;
    }
    Ok(out)
}

fn xrpc_call_from_js(call: &JsValue) -> Result<XrpcRequest> {
    let nsid = opt_string(call, "nsid")?
        .ok_or_else(|| Error::new(ErrorCode::InvalidInput, "xrpc: nsid is required"))?;
    let body_js = get(call, "body");
    let (body, content_type) = if body_js.is_undefined() {
        (None, None)
    } else if let Some(bytes) = body_js.dyn_ref::<Uint8Array>() {
        (
            Some(bytes.to_vec()),
            Some(
                opt_string(call, "encoding")?.unwrap_or_else(|| "application/octet-stream".into()),
            ),
        )
    } else if let Some(buf) = body_js.dyn_ref::<js_sys::ArrayBuffer>() {
        (
            Some(Uint8Array::new(buf).to_vec()),
            Some(
                opt_string(call, "encoding")?.unwrap_or_else(|| "application/octet-stream".into()),
            ),
        )
    } else {
        let json = js_sys::JSON::stringify(&body_js)
            .ok()
            .and_then(|s| s.as_string())
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidInput,
                    "xrpc: body is not JSON-serializable",
                )
            })?;
        (
            Some(json.into_bytes()),
            Some("application/json".to_string()),
        )
    };
    let method = opt_string(call, "method")?
        .map(|m| m.to_ascii_uppercase())
        .unwrap_or_else(|| {
            if body.is_some() {
                "POST".into()
            } else {
                "GET".into()
            }
        });
    if method != "GET" && method != "POST" {
        return Err(Error::new(
            ErrorCode::InvalidInput,
            "xrpc: method must be GET or POST",
        ));
    }
    Ok(XrpcRequest {
        method,
        nsid,
        params: string_map(&get(call, "params"), "params")?,
        body,
        content_type,
        headers: string_map(&get(call, "headers"), "headers")?,
    })
}

fn response_data(resp: &HttpResponse) -> JsValue {
    let is_json = resp
        .header("content-type")
        .is_some_and(|ct| ct.contains("json"));
    if is_json {
        if let Ok(text) = std::str::from_utf8(&resp.body) {
            if let Ok(value) = js_sys::JSON::parse(text) {
                return value;
            }
        }
    }
    if resp.body.is_empty() {
        return JsValue::UNDEFINED;
    }
    Uint8Array::from(resp.body.as_slice()).into()
}

fn xrpc_result(resp: &HttpResponse) -> JsValue {
    let headers = Object::new();
    for (k, v) in &resp.headers {
        let _ = Reflect::set(&headers, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    let out = Object::new();
    let _ = Reflect::set(&out, &"status".into(), &JsValue::from(resp.status));
    let _ = Reflect::set(&out, &"headers".into(), &headers);
    let _ = Reflect::set(&out, &"data".into(), &response_data(resp));
    out.into()
}

fn current_url() -> Result<String> {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .ok_or_else(|| {
            Error::new(
                ErrorCode::Unsupported,
                "no window.location: pass the callback URL explicitly",
            )
        })
}

/// Runs a future as a JS Promise, turning our errors into `OAuthError`s.
fn promise<F>(fut: F) -> Promise
where
    F: std::future::Future<Output = Result<JsValue>> + 'static,
{
    future_to_promise(async move { fut.await.map_err(|e| js_error(&e)) })
}

// ---- the exported class --------------------------------------------------------------------

/// An AT Protocol OAuth client for one app (client id + redirect URI). Create one per page.
#[wasm_bindgen]
pub struct OAuthClient {
    inner: Rc<Client<BrowserPlatform>>,
    events: Rc<BroadcastEvents>,
}

#[wasm_bindgen]
impl OAuthClient {
    /// Validates the configuration (throws an `OAuthError` with code `invalid_config`).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "OAuthClientConfig")] config: JsValue,
    ) -> std::result::Result<OAuthClient, JsValue> {
        let cfg: ClientConfig = from_js(config, "config")
            .map_err(|e| js_error(&Error::new(ErrorCode::InvalidConfig, e.message)))?;
        let events = Rc::new(BroadcastEvents::new(&format!("{}:events", cfg.db_name)));
        let platform = BrowserPlatform {
            http: Rc::new(FetchHttp),
            store: Rc::new(LazyStore {
                db_name: cfg.db_name.clone(),
                store: OnceCell::new(),
            }),
            locks: Rc::new(WebLocks::new()),
            events: events.clone(),
        };
        let inner = Rc::new(Client::new(cfg, platform).map_err(|e| js_error(&e))?);
        // Another tab changed a session: drop our in-memory copy so the next call re-reads it.
        let weak: Weak<Client<BrowserPlatform>> = Rc::downgrade(&inner);
        events.set_remote_hook(Box::new(move |event: &SessionEvent| {
            if let Some(client) = weak.upgrade() {
                match event {
                    SessionEvent::Updated { did } | SessionEvent::Deleted { did, .. } => {
                        client.forget(did)
                    }
                }
            }
        }));
        Ok(OAuthClient { inner, events })
    }

    /// Resolves the account (handle, DID, or PDS/entryway URL), pushes the authorization
    /// request and returns the URL of the authorization page (and goes there with
    /// `{ redirect: true }`).
    #[wasm_bindgen(js_name = startLogin, unchecked_return_type = "Promise<LoginStart>")]
    pub fn start_login(
        &self,
        input: String,
        #[wasm_bindgen(unchecked_optional_param_type = "LoginOptions")] options: Option<JsValue>,
    ) -> Promise {
        let inner = self.inner.clone();
        let options = options.unwrap_or(JsValue::UNDEFINED);
        promise(async move {
            let redirect = get(&options, "redirect").as_bool().unwrap_or(false);
            let options = if options.is_object() {
                let copy = Object::assign(&Object::new(), options.unchecked_ref());
                let _ = Reflect::delete_property(&copy, &"redirect".into());
                copy.into()
            } else {
                options
            };
            let opts: LoginOptions = from_js(options, "options")?;
            let start = inner.start_login(&input, opts).await?;
            if redirect {
                if let Some(window) = web_sys::window() {
                    window
                        .location()
                        .assign(&start.url)
                        .map_err(|_| Error::new(ErrorCode::Unsupported, "could not navigate"))?;
                }
            }
            #[derive(Serialize)]
            struct Out {
                url: String,
            }
            to_js(&Out { url: start.url })
        })
    }

    /// Completes the login from the redirect URL (default: the current location): checks
    /// state and issuer, exchanges the code, verifies the account, stores the session, and
    /// removes the authorization response from the address bar.
    #[wasm_bindgen(js_name = handleCallback, unchecked_return_type = "Promise<CallbackResult>")]
    pub fn handle_callback(&self, url: Option<String>) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let here = current_url().ok();
            let url = match url.or_else(|| here.clone()) {
                Some(u) => u,
                None => current_url()?,
            };
            let result = inner.handle_callback(&url).await;
            // The response is spent either way; it must not linger in the address bar or history.
            if here.as_deref() == Some(url.as_str()) {
                if let Some(clean) = strip_callback_params(&url, inner.config().response_mode) {
                    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
                        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&clean));
                    }
                }
            }
            let result = result?;
            #[derive(Serialize)]
            struct Out {
                session: crate::session::SessionInfo,
                state: Option<String>,
            }
            to_js(&Out {
                session: result.session,
                state: result.app_state,
            })
        })
    }

    /// Whether the URL (default: the current location) carries an authorization response.
    #[wasm_bindgen(js_name = isCallback)]
    pub fn is_callback(&self, url: Option<String>) -> bool {
        match url.or_else(|| current_url().ok()) {
            Some(u) => has_callback_params(&u, self.inner.config().response_mode),
            None => false,
        }
    }

    /// One page of `com.atproto.repo.listRecords` for `collection`, authenticated as `did`.
    #[wasm_bindgen(js_name = fetchRecords, unchecked_return_type = "Promise<RecordsPage>")]
    pub fn fetch_records(
        &self,
        did: String,
        collection: String,
        #[wasm_bindgen(unchecked_optional_param_type = "FetchRecordsOptions")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let inner = self.inner.clone();
        let options = options.unwrap_or(JsValue::UNDEFINED);
        promise(async move {
            let req = list_records_request(&did, &collection, &options, None)?;
            let resp = inner.xrpc(&did, &req).await?;
            Ok(response_data(&resp))
        })
    }

    /// Every record of `collection`, walking all pages (up to `maxRecords`, default 10000).
    #[wasm_bindgen(js_name = fetchAllRecords, unchecked_return_type = "Promise<RecordEntry[]>")]
    pub fn fetch_all_records(
        &self,
        did: String,
        collection: String,
        #[wasm_bindgen(unchecked_optional_param_type = "FetchAllRecordsOptions")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let inner = self.inner.clone();
        let options = options.unwrap_or(JsValue::UNDEFINED);
        promise(async move {
            let max = get(&options, "maxRecords")
                .as_f64()
                .unwrap_or(10_000.0)
                .max(0.0) as u32;
            let all = Array::new();
            let mut cursor = opt_string(&options, "cursor")?;
            while all.length() < max {
                let req = list_records_request(&did, &collection, &options, cursor.as_deref())?;
                let page = response_data(&inner.xrpc(&did, &req).await?);
                let records: Array = get(&page, "records").dyn_into().unwrap_or_default();
                let got = records.length();
                for r in records.iter().take((max - all.length()) as usize) {
                    all.push(&r);
                }
                cursor = get(&page, "cursor").as_string();
                if cursor.is_none() || got == 0 {
                    break;
                }
            }
            Ok(all.into())
        })
    }

    /// Any authenticated XRPC call (query or procedure) to the session's PDS.
    #[wasm_bindgen(unchecked_return_type = "Promise<XrpcResult>")]
    pub fn xrpc(
        &self,
        did: String,
        #[wasm_bindgen(unchecked_param_type = "XrpcCall")] call: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let req = xrpc_call_from_js(&call)?;
            let resp = inner.xrpc(&did, &req).await?;
            Ok(xrpc_result(&resp))
        })
    }

    /// Loads a stored session by DID. Makes no network request.
    #[wasm_bindgen(unchecked_return_type = "Promise<SessionInfo>")]
    pub fn restore(&self, did: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let info = inner.restore(&did).await?;
            to_js(&info)
        })
    }

    /// Every stored session of this client (several accounts side by side).
    #[wasm_bindgen(js_name = listSessions, unchecked_return_type = "Promise<SessionInfo[]>")]
    pub fn list_sessions(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let list = inner.list_sessions().await?;
            to_js(&list)
        })
    }

    /// Refreshes the tokens now (unless another tab just did; then its tokens are used).
    #[wasm_bindgen(unchecked_return_type = "Promise<SessionInfo>")]
    pub fn refresh(&self, did: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let info = inner.refresh(&did).await?;
            to_js(&info)
        })
    }

    /// Revokes the tokens at the authorization server and deletes the session here, even when
    /// the server cannot be reached.
    #[wasm_bindgen(js_name = signOut, unchecked_return_type = "Promise<void>")]
    pub fn sign_out(&self, did: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.sign_out(&did).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Calls `listener` with every session change, from this tab and from other tabs
    /// (`remote: true`). Returns a function that removes the listener.
    #[wasm_bindgen(js_name = onSessionEvent, unchecked_return_type = "() => void")]
    pub fn on_session_event(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(event: SessionEventDetail) => void")]
        listener: js_sys::Function,
    ) -> JsValue {
        self.events.add_listener(listener.clone());
        let events = Rc::downgrade(&self.events);
        // Idempotent (not `once`): calling the returned function twice is harmless.
        Closure::<dyn FnMut()>::new(move || {
            if let Some(events) = events.upgrade() {
                events.remove_listener(&listener);
            }
        })
        .into_js_value()
    }
}

fn list_records_request(
    did: &str,
    collection: &str,
    options: &JsValue,
    cursor: Option<&str>,
) -> Result<XrpcRequest> {
    let repo = opt_string(options, "repo")?.unwrap_or_else(|| did.to_string());
    let mut params = vec![
        ("repo".to_string(), repo),
        ("collection".to_string(), collection.to_string()),
    ];
    if let Some(limit) = get(options, "limit").as_f64() {
        params.push(("limit".into(), (limit as i64).to_string()));
    }
    if let Some(cursor) = cursor
        .map(str::to_string)
        .or(opt_string(options, "cursor")?)
    {
        params.push(("cursor".into(), cursor));
    }
    if let Some(reverse) = get(options, "reverse").as_bool() {
        params.push(("reverse".into(), reverse.to_string()));
    }
    Ok(XrpcRequest {
        method: "GET".into(),
        nsid: "com.atproto.repo.listRecords".into(),
        params,
        body: None,
        content_type: None,
        headers: Vec::new(),
    })
}

/// The loopback client id for local development: `http://localhost?redirect_uri=…&scope=…`.
#[wasm_bindgen(js_name = loopbackClientId)]
pub fn loopback_client_id(redirect_uri: &str, scope: &str) -> String {
    build_loopback_client_id(redirect_uri, scope)
}
