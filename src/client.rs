//! The client: login (start and callback), authenticated XRPC with refresh, restore and
//! sign-out, written once over the `Platform` traits.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use serde::Deserialize;

use crate::cache::TtlCache;
use crate::config::{origin_of, ClientConfig};
use crate::dpop::{self, DpopKey, NonceCache};
use crate::error::{err, Error, ErrorCode, Result};
use crate::identity::{normalize_handle, parse_did, Identity, IdentityResolver};
use crate::oauth::callback::parse_callback;
use crate::oauth::metadata::{
    discover_from_service, fetch_auth_server, fetch_protected_resource, parse_service_url,
};
use crate::oauth::server;
use crate::oauth::{pkce, AuthServerMetadata};
use crate::platform::{HttpRequest, HttpResponse, Platform, SessionEvent, Table};
use crate::session::{
    decode, encode, read_session, PendingLogin, Session, SessionInfo, PENDING_LIFETIME_SECS,
};
use crate::util::random_token;

/// Options of `startLogin` (camelCase in JavaScript).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginOptions {
    pub scope: Option<String>,
    pub login_hint: Option<String>,
    /// `login`, `consent`, `select_account` or `none`.
    pub prompt: Option<String>,
    /// Opaque app data returned by `handleCallback`; never sent to any server.
    pub state: Option<String>,
}

#[derive(Debug)]
pub struct LoginStart {
    pub url: String,
    pub state: String,
}

#[derive(Debug)]
pub struct CallbackResult {
    pub session: SessionInfo,
    pub app_state: Option<String>,
}

#[derive(Clone, Debug)]
pub struct XrpcRequest {
    pub method: String,
    pub nsid: String,
    pub params: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// A session in memory: the record plus its parsed key, so the per-request path touches
/// neither storage nor key parsing.
#[derive(Clone)]
struct Live {
    session: Session,
    key: Rc<DpopKey>,
}

impl Live {
    fn new(session: Session) -> Result<Live> {
        let key = Rc::new(DpopKey::from_secret_string(&session.dpop_key)?);
        Ok(Live { session, key })
    }
}

enum LoginInput {
    Handle(String),
    Did(String),
    Service(String),
}

fn classify(input: &str) -> Result<LoginInput> {
    let trimmed = input.trim();
    if trimmed.starts_with("did:") {
        parse_did(trimmed)?;
        return Ok(LoginInput::Did(trimmed.to_string()));
    }
    if trimmed.contains("://") {
        return match parse_service_url(trimmed) {
            Some(url) => Ok(LoginInput::Service(url.to_string())),
            None => err(
                ErrorCode::InvalidInput,
                format!("{trimmed:?} is not an http(s) URL"),
            ),
        };
    }
    Ok(LoginInput::Handle(normalize_handle(trimmed)?))
}

/// XRPC method names: reverse-DNS segments, so nothing can escape the `/xrpc/` path.
fn check_nsid(nsid: &str) -> Result<()> {
    let segments: Vec<&str> = nsid.split('.').collect();
    let ok = segments.len() >= 3
        && segments
            .iter()
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if ok {
        Ok(())
    } else {
        err(ErrorCode::InvalidInput, format!("{nsid:?} is not an NSID"))
    }
}

fn lock_name(did: &str) -> String {
    format!("atproto-oauth:session:{did}")
}

pub struct Client<P: Platform> {
    platform: P,
    cfg: ClientConfig,
    resolver: IdentityResolver,
    /// PDS origin → its authorization server, for the 10 minutes the spec allows.
    servers: TtlCache<AuthServerMetadata>,
    nonces: NonceCache,
    nonces_loaded: RefCell<HashSet<String>>,
    live: RefCell<HashMap<String, Live>>,
}

impl<P: Platform> Client<P> {
    pub fn new(cfg: ClientConfig, platform: P) -> Result<Self> {
        cfg.validate()?;
        Ok(Client {
            platform,
            cfg,
            resolver: IdentityResolver::default(),
            servers: TtlCache::default(),
            nonces: NonceCache::default(),
            nonces_loaded: RefCell::default(),
            live: RefCell::default(),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    pub fn platform(&self) -> &P {
        &self.platform
    }

    fn now(&self) -> i64 {
        self.platform.now()
    }

    // ---- DPoP nonces -------------------------------------------------------------------

    /// Loads the persisted nonce of an origin the first time this page talks to it.
    async fn load_nonce(&self, url: &str) {
        let Ok(parsed) = url::Url::parse(url) else {
            return;
        };
        let origin = origin_of(&parsed);
        if !self.nonces_loaded.borrow_mut().insert(origin.clone()) || self.nonces.contains(&origin)
        {
            return;
        }
        if let Ok(Some(bytes)) = self.platform.get(Table::Nonces, &origin).await {
            if let Ok(nonce) = String::from_utf8(bytes) {
                self.nonces.set(&origin, &nonce);
            }
        }
    }

    /// Persists a changed nonce in the background, off the request's path.
    fn save_nonce(&self, changed: Option<(String, String)>) {
        if let Some((origin, nonce)) = changed {
            let platform = self.platform.clone();
            self.platform.spawn(Box::pin(async move {
                // A lost nonce costs one extra round trip later, nothing more.
                let _ = platform.put(Table::Nonces, &origin, nonce.as_bytes()).await;
            }));
        }
    }

    async fn dpop_send(
        &self,
        key: &DpopKey,
        request: HttpRequest,
        access_token: Option<&str>,
    ) -> Result<HttpResponse> {
        self.load_nonce(&request.url).await;
        let out = dpop::send(
            &self.platform,
            key,
            &self.nonces,
            request,
            access_token,
            self.now(),
        )
        .await?;
        self.save_nonce(out.new_nonce);
        Ok(out.response)
    }

    async fn post_form(
        &self,
        key: &DpopKey,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<HttpResponse> {
        self.load_nonce(url).await;
        let out =
            server::post_form(&self.platform, key, &self.nonces, url, form, self.now()).await?;
        self.save_nonce(out.new_nonce);
        Ok(out.response)
    }

    // ---- discovery ---------------------------------------------------------------------

    /// The authorization server of a PDS, cached for 10 minutes.
    async fn server_for_pds(&self, pds: &str) -> Result<AuthServerMetadata> {
        let origin = origin_of(&self.cfg.check_url(pds)?);
        let now = self.now();
        if let Some(meta) = self.servers.get(&origin, now) {
            return Ok(meta);
        }
        let issuer = fetch_protected_resource(&self.platform, &self.cfg, pds).await?;
        let meta = fetch_auth_server(&self.platform, &self.cfg, &issuer).await?;
        self.servers.insert(&origin, meta.clone(), now);
        Ok(meta)
    }

    /// Resolves a DID to its PDS and checks that the PDS is served by `issuer`: the proof that
    /// tokens issued by `issuer` for this DID are the account's.
    async fn verify_issuer_for(&self, did: &str, issuer: &str) -> Result<Identity> {
        let identity = self
            .resolver
            .resolve_from_did(&self.platform, &self.cfg, did, self.now())
            .await?;
        let meta = self.server_for_pds(&identity.pds).await?;
        if meta.issuer != issuer {
            return err(
                ErrorCode::SubjectMismatch,
                format!("{did} is served by {}, not by {issuer}", meta.issuer),
            );
        }
        Ok(identity)
    }

    // ---- login -------------------------------------------------------------------------

    pub async fn start_login(&self, input: &str, opts: LoginOptions) -> Result<LoginStart> {
        let input = classify(input)?;
        let now = self.now();
        let (identity, server) = match input {
            LoginInput::Handle(handle) => {
                let id = self
                    .resolver
                    .resolve_from_handle(&self.platform, &self.cfg, &handle, now)
                    .await?;
                let meta = self.server_for_pds(&id.pds).await?;
                (Some(id), meta)
            }
            LoginInput::Did(did) => {
                let id = self
                    .resolver
                    .resolve_from_did(&self.platform, &self.cfg, &did, now)
                    .await?;
                let meta = self.server_for_pds(&id.pds).await?;
                (Some(id), meta)
            }
            LoginInput::Service(url) => (
                None,
                discover_from_service(&self.platform, &self.cfg, &url).await?,
            ),
        };

        let key = DpopKey::generate()?;
        let pkce = pkce::generate()?;
        let state = random_token::<32>()?;
        let scope = opts.scope.unwrap_or_else(|| self.cfg.scope.clone());
        if !scope.split(' ').any(|s| s == "atproto") {
            return err(ErrorCode::InvalidInput, "scope must include \"atproto\"");
        }
        let hint = opts.login_hint.or_else(|| {
            identity
                .as_ref()
                .map(|id| id.handle.clone().unwrap_or_else(|| id.did.clone()))
        });
        let mut form = vec![
            ("client_id", self.cfg.client_id.as_str()),
            ("response_type", "code"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("redirect_uri", self.cfg.redirect_uri.as_str()),
            ("scope", scope.as_str()),
            ("state", state.as_str()),
            ("response_mode", self.cfg.response_mode.as_str()),
        ];
        if let Some(hint) = hint.as_deref() {
            form.push(("login_hint", hint));
        }
        if let Some(prompt) = opts.prompt.as_deref() {
            form.push(("prompt", prompt));
        }
        let resp = self
            .post_form(&key, &server.pushed_authorization_request_endpoint, &form)
            .await?;
        let request_uri = server::process_par_response(&resp)?;

        let pending = PendingLogin {
            server: server.clone(),
            verifier: pkce.verifier,
            dpop_key: key.to_secret_string(),
            identity,
            redirect_uri: self.cfg.redirect_uri.clone(),
            app_state: opts.state,
            expires_at: now + PENDING_LIFETIME_SECS,
        };
        self.platform
            .put(Table::Pending, &state, &encode(&pending)?)
            .await?;
        self.purge_expired_pending(&state).await;

        let mut url = self.cfg.check_url(&server.authorization_endpoint)?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("request_uri", &request_uri);
        Ok(LoginStart {
            url: url.to_string(),
            state,
        })
    }

    /// Drops abandoned login attempts so they do not pile up in storage.
    async fn purge_expired_pending(&self, keep: &str) {
        let now = self.now();
        let Ok(keys) = self.platform.keys(Table::Pending).await else {
            return;
        };
        for key in keys.iter().filter(|k| *k != keep) {
            let expired = match self.platform.get(Table::Pending, key).await {
                Ok(Some(bytes)) => decode::<PendingLogin>(&bytes)
                    .map(|p| p.expires_at <= now)
                    .unwrap_or(true),
                _ => false,
            };
            if expired {
                let _ = self.platform.delete(Table::Pending, key).await;
            }
        }
    }

    pub async fn handle_callback(&self, url: &str) -> Result<CallbackResult> {
        let params = parse_callback(url, self.cfg.response_mode)?;
        let state = params.state.ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidState,
                "the callback has no state parameter",
            )
        })?;
        // Taken (read and deleted at once): a replayed or concurrent callback finds nothing.
        let pending: PendingLogin = match self.platform.take(Table::Pending, &state).await? {
            Some(bytes) => decode(&bytes)?,
            None => return err(ErrorCode::InvalidState, "unknown or already used state: this callback was not started here, or was handled already"),
        };
        let now = self.now();
        if pending.expires_at <= now {
            return err(
                ErrorCode::StateExpired,
                "the login took too long; start again",
            );
        }
        let server = &pending.server;
        // RFC 9207: checked before anything else in the response is trusted, errors included.
        match params.iss.as_deref() {
            Some(iss) if iss == server.issuer => {}
            Some(iss) => {
                return err(
                    ErrorCode::IssuerMismatch,
                    format!(
                        "the callback comes from {iss}, the login went to {}",
                        server.issuer
                    ),
                )
            }
            None => {
                return err(
                    ErrorCode::IssuerMismatch,
                    "the callback has no iss parameter",
                )
            }
        }
        if let Some(error) = params.error {
            let detail = params
                .error_description
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            let code = if error == "access_denied" {
                ErrorCode::AccessDenied
            } else {
                ErrorCode::AuthorizationError
            };
            return Err(
                Error::new(code, format!("authorization failed: {error}{detail}"))
                    .with_server_error(Some(error), None),
            );
        }
        let code = params.code.ok_or_else(|| {
            Error::new(
                ErrorCode::AuthorizationError,
                "the callback has neither code nor error",
            )
        })?;

        let key = DpopKey::from_secret_string(&pending.dpop_key)?;
        let resp = self
            .post_form(
                &key,
                &server.token_endpoint,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("code_verifier", &pending.verifier),
                    ("redirect_uri", &pending.redirect_uri),
                    ("client_id", &self.cfg.client_id),
                ],
            )
            .await?;
        let tokens = server::process_token_response(&resp, now)?;

        // The account resolved at login already proved its PDS is served by this issuer; only
        // a login started from a server URL must resolve `sub` now.
        let identity = match pending.identity {
            Some(id) if id.did == tokens.sub => id,
            Some(id) => {
                return err(
                    ErrorCode::SubjectMismatch,
                    format!(
                        "signed in as {}, but the login was for {}",
                        tokens.sub, id.did
                    ),
                )
            }
            None => self.verify_issuer_for(&tokens.sub, &server.issuer).await?,
        };
        let session = Session {
            did: tokens.sub,
            handle: identity.handle,
            pds: identity.pds,
            server: pending.server.clone(),
            scope: tokens.scope,
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: tokens.expires_at,
            dpop_key: pending.dpop_key,
            created_at: now,
            updated_at: now,
        };
        self.save_session(&session).await?;
        self.live.borrow_mut().insert(
            session.did.clone(),
            Live {
                session: session.clone(),
                key: Rc::new(key),
            },
        );
        Ok(CallbackResult {
            session: session.info(),
            app_state: pending.app_state,
        })
    }

    async fn save_session(&self, session: &Session) -> Result<()> {
        self.platform
            .put(Table::Sessions, &session.did, &encode(session)?)
            .await?;
        self.platform.emit(SessionEvent::Updated {
            did: session.did.clone(),
        });
        Ok(())
    }

    // ---- sessions ----------------------------------------------------------------------

    /// The session in memory, or loaded from storage once. No network.
    async fn live(&self, did: &str) -> Result<Live> {
        if let Some(live) = self.live.borrow().get(did) {
            return Ok(live.clone());
        }
        let session = read_session(&self.platform, did).await?.ok_or_else(|| {
            Error::new(ErrorCode::SessionNotFound, format!("no session for {did}"))
        })?;
        let live = Live::new(session)?;
        self.live.borrow_mut().insert(did.to_string(), live.clone());
        Ok(live)
    }

    /// Restores a stored session without any network request.
    pub async fn restore(&self, did: &str) -> Result<SessionInfo> {
        Ok(self.live(did).await?.session.info())
    }

    pub async fn list_sessions(&self) -> Result<Vec<SessionInfo>> {
        let mut out = Vec::new();
        for did in self.platform.keys(Table::Sessions).await? {
            if let Some(session) = read_session(&self.platform, &did).await? {
                out.push(session.info());
            }
        }
        out.sort_by(|a, b| a.did.cmp(&b.did));
        Ok(out)
    }

    /// Forgets the in-memory copy (another tab changed the stored one).
    pub fn forget(&self, did: &str) {
        self.live.borrow_mut().remove(did);
    }

    async fn delete_session(&self, did: &str, reason: &str) -> Result<()> {
        self.live.borrow_mut().remove(did);
        self.platform.delete(Table::Sessions, did).await?;
        self.platform.emit(SessionEvent::Deleted {
            did: did.to_string(),
            reason: reason.to_string(),
        });
        Ok(())
    }

    /// Refreshes the session unless another tab already replaced the tokens this tab holds.
    pub async fn refresh(&self, did: &str) -> Result<SessionInfo> {
        let held = self.live(did).await?.session.access_token;
        Ok(self.refresh_replacing(did, &held).await?.session.info())
    }

    /// The refresh protocol. Under a lock shared by every tab: re-read the stored session; if
    /// its tokens are not the `stale` ones we hold, another tab rotated them and we adopt them;
    /// otherwise verify the issuer still serves the DID and rotate. Exactly one tab refreshes.
    async fn refresh_replacing(&self, did: &str, stale: &str) -> Result<Live> {
        let _guard = self.platform.lock(&lock_name(did)).await?;
        let now = self.now();
        let Some(stored) = read_session(&self.platform, did).await? else {
            self.live.borrow_mut().remove(did);
            return err(
                ErrorCode::SessionNotFound,
                format!("the session of {did} was deleted"),
            );
        };
        if stored.access_token != stale && !stored.needs_refresh(now, self.cfg.refresh_margin_secs)
        {
            return self.adopt(stored);
        }
        let Some(refresh_token) = stored.refresh_token.clone() else {
            self.delete_session(did, "expired without a refresh token")
                .await?;
            return err(
                ErrorCode::SessionExpired,
                "the session expired and has no refresh token",
            );
        };
        match self.verify_issuer_for(did, &stored.server.issuer).await {
            Ok(_) => {}
            Err(e) if e.code == ErrorCode::SubjectMismatch => {
                self.delete_session(did, "the account moved to another authorization server")
                    .await?;
                return Err(Error::new(ErrorCode::SessionExpired, e.message));
            }
            Err(e) => return Err(e),
        }
        let key = DpopKey::from_secret_string(&stored.dpop_key)?;
        let resp = self
            .post_form(
                &key,
                &stored.server.token_endpoint,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh_token),
                    ("client_id", &self.cfg.client_id),
                ],
            )
            .await?;
        match server::process_token_response(&resp, now) {
            Ok(tokens) if tokens.sub != did => {
                self.delete_session(did, "the refresh answered for another account")
                    .await?;
                err(
                    ErrorCode::SubjectMismatch,
                    format!("refresh for {did} returned tokens for {}", tokens.sub),
                )
            }
            Ok(tokens) => {
                let session = Session {
                    scope: tokens.scope,
                    access_token: tokens.access_token,
                    // A server that does not rotate keeps the old refresh token valid.
                    refresh_token: tokens.refresh_token.or(Some(refresh_token)),
                    expires_at: tokens.expires_at,
                    updated_at: now,
                    ..stored
                };
                self.save_session(&session).await?;
                let live = Live {
                    session,
                    key: Rc::new(key),
                };
                self.live.borrow_mut().insert(did.to_string(), live.clone());
                Ok(live)
            }
            Err(e) if e.server_error.as_deref() == Some("invalid_grant") => {
                // Without Web Locks another tab may have rotated meanwhile: its tokens win.
                if let Some(again) = read_session(&self.platform, did).await? {
                    if again.refresh_token != stored.refresh_token {
                        return self.adopt(again);
                    }
                }
                self.delete_session(did, "the refresh token was refused")
                    .await?;
                Err(Error::new(
                    ErrorCode::SessionExpired,
                    format!("the session of {did} ended: {}", e.message),
                )
                .with_server_error(e.server_error, e.status))
            }
            Err(e) => Err(e),
        }
    }

    fn adopt(&self, session: Session) -> Result<Live> {
        let live = Live::new(session)?;
        self.live
            .borrow_mut()
            .insert(live.session.did.clone(), live.clone());
        Ok(live)
    }

    /// Revokes the tokens at the authorization server (best effort) and deletes the session
    /// locally in every case.
    pub async fn sign_out(&self, did: &str) -> Result<()> {
        let live = match self.live(did).await {
            Ok(live) => Some(live),
            Err(e) if e.code == ErrorCode::SessionNotFound => None,
            Err(e) => {
                // An unreadable record must still go away.
                self.delete_session(did, "signed out").await?;
                return Err(e);
            }
        };
        if let Some(live) = live {
            let s = &live.session;
            if let Some(endpoint) = &s.server.revocation_endpoint {
                let token = s.refresh_token.as_deref().unwrap_or(&s.access_token);
                // The server being unreachable must not keep the user signed in here.
                let _ = self
                    .post_form(
                        &live.key,
                        endpoint,
                        &[("token", token), ("client_id", &self.cfg.client_id)],
                    )
                    .await;
            }
        }
        self.delete_session(did, "signed out").await
    }

    // ---- XRPC --------------------------------------------------------------------------

    /// An authenticated XRPC call to the session's PDS: refreshes ahead of expiry, and once
    /// more if the PDS says the token is invalid.
    pub async fn xrpc(&self, did: &str, req: &XrpcRequest) -> Result<HttpResponse> {
        check_nsid(&req.nsid)?;
        let mut live = self.live(did).await?;
        if live
            .session
            .needs_refresh(self.now(), self.cfg.refresh_margin_secs)
        {
            live = self
                .refresh_replacing(did, &live.session.access_token.clone())
                .await?;
        }
        let mut resp = self.send_xrpc(&live, req).await?;
        if resp.status == 401 && is_invalid_token(&resp) {
            live = self
                .refresh_replacing(did, &live.session.access_token.clone())
                .await?;
            resp = self.send_xrpc(&live, req).await?;
        }
        if !resp.is_success() {
            return Err(xrpc_error(&resp, &req.nsid));
        }
        Ok(resp)
    }

    async fn send_xrpc(&self, live: &Live, req: &XrpcRequest) -> Result<HttpResponse> {
        let mut url = self.cfg.check_url(&live.session.pds)?;
        url.set_path(&format!("/xrpc/{}", req.nsid));
        if !req.params.is_empty() {
            url.query_pairs_mut().extend_pairs(&req.params);
        }
        let mut headers = req.headers.clone();
        if let Some(ct) = &req.content_type {
            headers.push(("content-type".into(), ct.clone()));
        }
        let request = HttpRequest {
            method: req.method.clone(),
            url: url.to_string(),
            headers,
            body: req.body.clone(),
        };
        self.dpop_send(&live.key, request, Some(&live.session.access_token))
            .await
    }
}

fn is_invalid_token(resp: &HttpResponse) -> bool {
    resp.header("www-authenticate")
        .is_some_and(|h| h.contains("invalid_token"))
}

#[derive(Deserialize)]
struct XrpcErrorBody {
    error: Option<String>,
    message: Option<String>,
}

fn xrpc_error(resp: &HttpResponse, nsid: &str) -> Error {
    let body: Option<XrpcErrorBody> = serde_json::from_slice(&resp.body).ok();
    let (error, message) = body.map(|b| (b.error, b.message)).unwrap_or((None, None));
    Error::new(
        ErrorCode::XrpcError,
        format!(
            "{nsid} failed with HTTP {}{}{}",
            resp.status,
            error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default(),
            message
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ),
    )
    .with_server_error(error, Some(resp.status))
}

#[cfg(test)]
#[path = "client_tests.rs"]
pub(crate) mod tests;
