//! Starting a login (resolve the account, push the authorization request) and finishing it (the
//! callback checks, the code exchange, the account check).

use std::rc::Rc;

use super::Client;
use crate::dpop::key;
use crate::error::{err, ErrorCode, Result};
use crate::identity::{normalize_handle, parse_did, Identity};
use crate::oauth::callback::{
    callback_state, has_callback_params, parse_callback, strip_callback_params, validate_callback,
    ExpectedCallback, LoginAttempt,
};
use crate::oauth::metadata::{parse_service_url, PROMPT_CREATE};
use crate::oauth::pkce;
use crate::oauth::server::{
    code_grant_request, par_request, process_par_response, process_token_response,
    AuthorizationRequest,
};
use crate::oauth::AuthServerMetadata;
use crate::platform::{HttpRequest, Platform, Table};
use crate::session::{
    decode, encode, id_may_be_mine, pending_id, PendingLogin, Session, SessionInfo,
    PENDING_LIFETIME_SECS,
};
use crate::settled::Settled;
use crate::util::AsciiSplit;
use crate::util::{self, random_token};

/// Options of `startLogin` (camelCase in JavaScript, read by `wasm::convert::login_options`).
#[derive(Clone, Debug, Default)]
pub struct LoginOptions {
    /// Overrides the configured scope for this login.
    pub scope: Option<String>,
    /// Pre-fills the account on the sign-in page (default: the handle or DID the login started from).
    pub login_hint: Option<String>,
    /// What the authorization server should show.
    pub prompt: Option<Prompt>,
    /// Opaque app data returned by `handleCallback`; never sent to any server.
    pub state: Option<String>,
    /// How the authorization page is shown: `page` (default), `popup` or `touch`. A popup
    /// login's `state` is marked, so the page it comes back to knows to hand the result to
    /// the window that opened it.
    pub display: Option<String>,
}

/// Starts the `state` of a login made in a popup.
const POPUP_STATE_PREFIX: &str = "popup.";

/// Whether an authorization response (its `state`) belongs to a login made in a popup.
pub fn is_popup_state(state: &str) -> bool {
    state.starts_with(POPUP_STATE_PREFIX)
}

/// The OAuth `prompt` of a login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// Ask for the password even when the user is signed in.
    Login,
    /// Ask for consent even when it was given before.
    Consent,
    /// Let the user pick an account.
    SelectAccount,
    /// Show nothing (public clients are refused by the official server).
    None,
    /// Sign-up: create an account (only where the server lists `create` in its
    /// `prompt_values_supported`).
    Create,
}

impl Prompt {
    /// Every prompt, in the order error messages list them.
    pub const ALL: [Prompt; 5] = [
        Prompt::Login,
        Prompt::None,
        Prompt::Consent,
        Prompt::SelectAccount,
        Prompt::Create,
    ];

    /// The prompt of its OAuth name (`select_account`, …).
    pub fn parse(name: &str) -> Option<Prompt> {
        Prompt::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// Its OAuth name.
    pub fn as_str(self) -> &'static str {
        match self {
            Prompt::Login => "login",
            Prompt::Consent => "consent",
            Prompt::SelectAccount => "select_account",
            Prompt::None => "none",
            Prompt::Create => "create",
        }
    }
}

/// A started login.
#[derive(Debug)]
pub struct LoginStart {
    /// The authorization page to send the user to.
    pub url: String,
    /// The OAuth `state` of this attempt (random, single-use).
    pub state: String,
}

/// A finished login.
#[derive(Debug)]
pub struct CallbackResult {
    /// The signed-in account.
    pub session: SessionInfo,
    /// The app's own `state` from `LoginOptions`.
    pub app_state: Option<String>,
}

/// What the user typed to sign in.
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
    if util::contains(trimmed, "://") {
        return match parse_service_url(trimmed) {
            Some(url) => Ok(LoginInput::Service(url.into_string())),
            None => err(
                ErrorCode::InvalidInput,
                msg!(util::quoted(trimmed), " is not an http(s) URL"),
            ),
        };
    }
    Ok(LoginInput::Handle(normalize_handle(trimmed)?))
}

impl LoginAttempt for PendingLogin {
    fn expected(&self) -> ExpectedCallback<'_> {
        ExpectedCallback {
            issuer: &self.server.issuer,
            expires_at: self.expires_at,
        }
    }
}

impl<P: Platform> Client<P> {
    /// Resolves the account (handle, DID, or PDS/entryway URL), pushes the authorization request
    /// and stores the attempt under a fresh `state`. Returns the authorization page's URL.
    pub async fn start_login(&self, input: &str, opts: LoginOptions) -> Result<LoginStart> {
        let input = classify(input)?;
        let popup = match opts.display.as_deref() {
            None | Some("page") | Some("touch") => false,
            Some("popup") => true,
            Some(other) => {
                return err(
                    ErrorCode::InvalidInput,
                    msg!(
                        "display must be \"page\", \"popup\" or \"touch\", not ",
                        util::quoted(other)
                    ),
                )
            }
        };
        // Checked before any request.
        let scope = opts.scope.as_deref().unwrap_or(&self.cfg.scope);
        if !scope.pieces(b' ').any(|s| s == "atproto") {
            return err(ErrorCode::InvalidInput, "scope must include \"atproto\"");
        }
        let now = self.now();
        // Started before the first request: it opens the store (on a fresh page, the database
        // and its at-rest key) while the account resolves, rather than between the metadata
        // and the PAR, where the stored nonce is looked up (15 ms measured in the benchmark).
        self.purge_expired_pending(now);
        let (identity, service) = match input {
            LoginInput::Handle(handle) => {
                let id = self
                    .resolver
                    .resolve_from_handle(&self.platform, &self.cfg, &handle, now)
                    .settled()
                    .await?;
                (Some(id), None)
            }
            LoginInput::Did(did) => {
                let id = self
                    .resolver
                    .resolve_from_did(&self.platform, &self.cfg, &did, now)
                    .settled()
                    .await?;
                (Some(id), None)
            }
            LoginInput::Service(url) => (None, Some(url)),
        };
        // One await for the server of both account forms (each await is a copy of the
        // awaited state machine).
        let (url, entryway) = match (&identity, &service) {
            (Some(id), _) => (id.pds.as_str(), false),
            (None, url) => (url.as_deref().unwrap_or_default(), true),
        };
        let server = self.server_for(url, entryway).settled().await?;

        // OpenID Connect Prompt Create: a server that does not list `create` would show its
        // sign-in page instead, or refuse; say so before anything is pushed.
        if opts.prompt == Some(Prompt::Create) && server.supports & PROMPT_CREATE == 0 {
            return err(
                ErrorCode::Unsupported,
                msg!(
                    server.issuer,
                    " does not offer sign-up (no \"create\" in its prompt_values_supported)"
                ),
            );
        }
        let key = key::create(&self.platform).settled().await?;
        let (request, pkce, state) =
            self.pushed_request(&server, identity.as_ref(), &opts, popup)?;
        let request_uri =
            process_par_response(&self.dpop_send(&key, &request, None, None).settled().await?)?;

        let pending = PendingLogin {
            server: server.clone(),
            verifier: pkce.verifier,
            dpop_jwk: Some(key.jwk.clone()),
            dpop_key: None,
            identity,
            redirect_uri: self.cfg.redirect_uri.clone(),
            app_state: opts.state,
            // From now, not from the start: resolution and PAR may have been slow.
            expires_at: self.now() + PENDING_LIFETIME_SECS,
        };
        self.platform
            .put(
                Table::Pending,
                &pending_id(&state, &self.cfg.client_id),
                &encode(&pending),
                Some(&key.handle),
            )
            .settled()
            .await?;

        let mut url = self.cfg.check_url(&server.authorization_endpoint)?;
        url.append_query_pairs(&[
            ("client_id", &self.cfg.client_id),
            ("request_uri", &request_uri),
        ]);
        Ok(LoginStart {
            url: url.into_string(),
            state,
        })
    }

    /// The pushed authorization request of a login, its PKCE pair and its fresh `state`. (Apart
    /// from the login's awaits: every `?` inside an `async fn` is one more exit that drops what
    /// is alive there.)
    fn pushed_request(
        &self,
        server: &AuthServerMetadata,
        identity: Option<&Identity>,
        opts: &LoginOptions,
        popup: bool,
    ) -> Result<(HttpRequest, pkce::Pkce, String)> {
        let pkce = pkce::generate()?;
        let state = random_token::<32>()?;
        let state = if popup {
            msg!(POPUP_STATE_PREFIX, state)
        } else {
            state
        };
        let hint = match (&opts.login_hint, identity) {
            (Some(hint), _) => Some(hint.as_str()),
            (None, Some(id)) => Some(id.handle.as_deref().unwrap_or(&id.did)),
            (None, None) => None,
        };
        let request = par_request(
            server,
            &AuthorizationRequest {
                client_id: &self.cfg.client_id,
                redirect_uri: &self.cfg.redirect_uri,
                scope: opts.scope.as_deref().unwrap_or(&self.cfg.scope),
                state: &state,
                code_challenge: &pkce.challenge,
                response_mode: self.cfg.response_mode.as_str(),
                login_hint: hint,
                prompt: opts.prompt.map(Prompt::as_str),
                display: opts.display.as_deref(),
            },
        );
        Ok((request, pkce, state))
    }

    /// Whether a URL carries an authorization response for this client's response mode.
    pub fn is_callback(&self, url: &str) -> bool {
        has_callback_params(url, self.cfg.response_mode)
    }

    /// The `state` of the authorization response in `url` when it ends a login made in a popup.
    pub fn popup_state(&self, url: &str) -> Option<String> {
        let params = parse_callback(url, self.cfg.response_mode).ok()?;
        let state = callback_state(&params).ok()?;
        is_popup_state(state).then(|| state.to_string())
    }

    /// The URL without the authorization response, for `history.replaceState`.
    pub fn without_callback_params(&self, url: &str) -> Option<String> {
        strip_callback_params(url, self.cfg.response_mode)
    }

    /// The end of a popup login's wait (`lapsed_after_ms`: its time ran out after that long;
    /// `None`: the popup closed or reported a failure): the login is abandoned
    /// (`abandon_login`), unless the time ran out after the popup's callback had taken it, and
    /// before it expired (an expired one is dropped by any tab's next sign-in: gone as well).
    /// That sign-in is under way; the answer is how much longer to wait for its outcome (0: not
    /// at all): its steps are each under a deadline (the code exchange and its nonce retry, the
    /// account check's few requests, storage operations), about this long in the worst case.
    pub async fn end_popup_wait(&self, state: &str, lapsed_after_ms: Option<u32>) -> u32 {
        let gone = self.abandon_login(state).settled().await == Ok(false);
        match lapsed_after_ms {
            Some(ms) if gone && i64::from(ms) < PENDING_LIFETIME_SECS * 1000 => self
                .cfg
                .request_timeout_ms
                .saturating_mul(8)
                .saturating_add(60_000),
            _ => 0,
        }
    }

    /// Ends a login attempt the app gave up on (a popup that timed out or was closed): its
    /// callback, should one still come, fails with `invalid_state` instead of storing a
    /// session the app was told did not happen. Best effort (a storage error leaves the
    /// attempt to expire). `Ok(false)`: the attempt was gone already, taken by its callback
    /// (or dropped when it expired).
    pub async fn abandon_login(&self, state: &str) -> Result<bool> {
        let id = pending_id(state, &self.cfg.client_id);
        let taken = self.platform.take(Table::Pending, &id).settled().await?;
        Ok(taken.is_some())
    }

    /// Drops abandoned login attempts (expired by `now`) so they do not pile up in storage, in
    /// the background. An attempt stored meanwhile is live: it is never expired.
    fn purge_expired_pending(&self, now: i64) {
        let (store, client_id) = (self.platform.clone(), self.cfg.client_id.clone());
        self.platform.spawn(Box::pin(async move {
            let Ok(keys) = store.keys(Table::Pending).settled().await else {
                return;
            };
            // Only this client's attempts (and version 0.1's): another app's are its own
            // business.
            for key in keys.iter().filter(|k| id_may_be_mine(k, &client_id)) {
                let expired = match store.get(Table::Pending, key).settled().await {
                    Ok(Some(entry)) => decode::<PendingLogin>(&entry.data)
                        .map(|p| p.expires_at <= now)
                        .unwrap_or(true),
                    _ => false,
                };
                if expired {
                    let _ = store.delete(Table::Pending, key).settled().await;
                }
            }
        }));
    }

    /// Finishes a login from the redirect URL: every callback check, the code exchange, and
    /// the check that the tokens are for the account that started the login.
    pub async fn handle_callback(&self, url: &str) -> Result<CallbackResult> {
        let params = parse_callback(url, self.cfg.response_mode)?;
        let state = callback_state(&params)?;
        // Taken (read and deleted at once): a replayed or concurrent callback finds nothing.
        let taken = match self
            .platform
            .take(Table::Pending, &pending_id(state, &self.cfg.client_id))
            .settled()
            .await?
        {
            Some(entry) => Some(entry),
            // Started by version 0.1 (stored under the state alone, which never holds a `|`: a
            // state that does names another client's attempt, not ours to take).
            None if !state.has(b'|') => self.platform.take(Table::Pending, state).settled().await?,
            None => None,
        };
        let (pending, handle): (Option<PendingLogin>, _) = match taken {
            Some(mut entry) => (Some(decode(&entry.data)?), entry.key.take()),
            None => (None, None),
        };
        let now = self.now();
        let (pending, code) = validate_callback(&params, pending, now)?;
        // A login started by version 0.1 carries its scalar: imported now, and the session is
        // stored the new way.
        let key = key::restore(
            &self.platform,
            handle,
            pending.dpop_jwk.as_ref(),
            pending.dpop_key.as_ref(),
        )
        .settled()
        .await?
        .key;
        let request = code_grant_request(
            &pending.server,
            &self.cfg.client_id,
            &code,
            &pending.verifier,
            &pending.redirect_uri,
        );
        let tokens = process_token_response(
            &self.dpop_send(&key, &request, None, None).settled().await?,
            now,
        )?;

        // The account resolved at login already proved its PDS is served by this issuer; only
        // a login started from a server URL must resolve `sub` now.
        let identity = match pending.identity {
            Some(id) if id.did == tokens.sub => Ok(id),
            Some(id) => err(
                ErrorCode::SubjectMismatch,
                msg!(
                    "signed in as ",
                    tokens.sub,
                    ", but the login was for ",
                    id.did
                ),
            ),
            None => {
                self.verify_issuer_for(&tokens.sub, &pending.server.issuer)
                    .settled()
                    .await
            }
        };
        let identity = match identity {
            Ok(identity) => identity,
            Err(e) => {
                // Refused tokens are revoked before the error is reported: nothing keeps them,
                // so they must not stay valid at the server.
                self.revoke_tokens(&pending.server, &tokens, &key, &self.cfg.client_id)
                    .settled()
                    .await;
                return Err(e);
            }
        };
        let session = Session {
            did: tokens.sub,
            handle: identity.handle,
            pds: identity.pds,
            server: pending.server,
            scope: tokens.scope,
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: tokens.expires_at,
            dpop_jwk: Some(key.jwk.clone()),
            dpop_key: None,
            created_at: now,
            updated_at: now,
            client_id: Some(self.cfg.client_id.clone()),
            refresh_sent_at: None,
        };
        let live = self
            .store_new_session(session, Rc::new(key))
            .settled()
            .await?;
        self.retire_earlier_loopback_sessions(&live.session.did)
            .settled()
            .await;
        Ok(CallbackResult {
            session: live.session.info(),
            app_state: pending.app_state,
        })
    }
}
