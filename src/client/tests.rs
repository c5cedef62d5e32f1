//! The whole client against a scripted authorization server and PDS: login, callback checks,
//! XRPC with nonces, refresh (including two tabs at once), restore and sign-out.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures::executor::block_on;

use super::*;
use crate::config::HandleMethod;
use crate::error::ErrorCode;
use crate::oauth::metadata::tests::{as_metadata, serve};
use crate::platform::{Cancel, Clock, HttpRequest, Locks, SessionEvent, Table};
use crate::secret::{AccessToken, RefreshToken};
use crate::session::{decode, encode, read_session, Session, SessionInfo, PENDING_LIFETIME_SECS};
use crate::testing::{alice_doc, json, text, with_header, FakePlatform, ALICE_DID};
use crate::util::b64url_decode;

const PDS: &str = "https://pds.example";
const ISSUER: &str = "https://auth.example";
const REDIRECT: &str = "https://app.example/cb";
const NONCE: &str = "server-nonce-1";

#[derive(Default)]
pub(crate) struct ServerState {
    /// state → (code, code_challenge, dpop jkt x)
    codes: HashMap<String, (String, String, String)>,
    par_forms: Vec<HashMap<String, String>>,
    refresh_token: Option<String>,
    access_tokens: Vec<String>,
    serial: u32,
    pub(crate) refresh_requests: u32,
    revoked: Vec<String>,
    token_sub: Option<String>,
    /// The scope the token endpoint grants (default `atproto transition:generic`).
    token_scope: Option<String>,
}

fn form(req: &HttpRequest) -> HashMap<String, String> {
    form_urlencoded::parse(
        &req.body
            .as_ref()
            .map(crate::platform::body_bytes)
            .unwrap_or_default(),
    )
    .into_owned()
    .collect()
}

fn proof_claims(req: &HttpRequest) -> (serde_json::Value, serde_json::Value) {
    let jwt = req
        .header_value("DPoP")
        .expect("every request carries a DPoP proof");
    let mut parts = jwt.split('.');
    let header = serde_json::from_slice(&b64url_decode(parts.next().unwrap()).unwrap()).unwrap();
    let claims = serde_json::from_slice(&b64url_decode(parts.next().unwrap()).unwrap()).unwrap();
    (header, claims)
}

fn has_nonce(req: &HttpRequest) -> bool {
    proof_claims(req).1["nonce"] == NONCE
}

/// As the official server does: a DPoP-Nonce on every response to a DPoP request.
fn nonced(resp: HttpResponse) -> HttpResponse {
    with_header(resp, "DPoP-Nonce", NONCE)
}

fn nonce_error_as() -> HttpResponse {
    with_header(
        json(400, r#"{"error":"use_dpop_nonce"}"#),
        "DPoP-Nonce",
        NONCE,
    )
}

pub(crate) struct Fixture {
    pub(crate) platform: FakePlatform,
    pub(crate) server: Rc<RefCell<ServerState>>,
}

/// The pending login's ten minutes count from when it is stored, not from when `startLogin`
/// began: a slow handle resolution must not eat into the time the user has to sign in.
#[test]
fn the_pending_login_lives_from_when_it_is_stored() {
    let f = fixture();
    let c = client(&f.platform);
    let clock = f.platform.now.clone();
    f.platform.http.on_fn(
        "GET",
        "https://alice.example.com/.well-known/atproto-did",
        move |_| {
            clock.set(clock.get() + 100); // a slow answer
            text(200, ALICE_DID)
        },
    );
    let began = f.platform.now();
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    f.platform.now.set(began + 100 + PENDING_LIFETIME_SECS - 60);
    let url = callback_url(&f, &start.state);
    block_on(c.handle_callback(&url)).unwrap();
}

/// Abandoned login attempts are dropped by the next `startLogin`, in the background from its
/// start: before its first request (the store is opened while the account resolves, not
/// between the metadata and the PAR), so even a login that fails at once drops them. Another
/// client's attempts and live ones stay.
#[test]
fn a_login_drops_expired_attempts_from_its_start() {
    let f = fixture();
    let c = client(&f.platform);
    let old = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    f.platform
        .now
        .set(f.platform.now() + PENDING_LIFETIME_SECS - 5);
    let live = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    // Another client's attempt, as old as the first.
    let other =
        crate::session::pending_id("other-state", "https://other.example/client-metadata.json");
    let stale = f.platform.store.borrow()[&(Table::Pending, pid(&old.state))].clone();
    f.platform
        .store
        .borrow_mut()
        .insert((Table::Pending, other.clone()), stale);
    f.platform.now.set(f.platform.now() + 10);
    let sent = f.platform.http.count();
    // No such account: the login fails at its first request.
    assert!(block_on(c.start_login("nobody.example.org", LoginOptions::default())).is_err());
    assert!(f.platform.http.count() > sent);
    let store = f.platform.store.borrow();
    assert!(!store.contains_key(&(Table::Pending, pid(&old.state))));
    assert!(store.contains_key(&(Table::Pending, pid(&live.state))));
    assert!(store.contains_key(&(Table::Pending, other)));
}

pub(crate) fn fixture() -> Fixture {
    let platform = FakePlatform::default();
    let server: Rc<RefCell<ServerState>> = Rc::default();
    let http = &platform.http;
    http.on(
        "GET",
        "https://alice.example.com/.well-known/atproto-did",
        text(200, ALICE_DID),
    );
    http.on(
        "GET",
        &format!("https://plc.directory/{ALICE_DID}"),
        json(200, &alice_doc(PDS)),
    );
    serve(http, PDS, ISSUER);

    let s = server.clone();
    http.on_fn("POST", &format!("{ISSUER}/oauth/par"), move |req| {
        if !has_nonce(req) {
            return nonce_error_as();
        }
        let f = form(req);
        let mut st = s.borrow_mut();
        st.serial += 1;
        let code = format!("code-{}", st.serial);
        let jkt = proof_claims(req).0["jwk"]["x"]
            .as_str()
            .unwrap()
            .to_string();
        st.codes
            .insert(f["state"].clone(), (code, f["code_challenge"].clone(), jkt));
        st.par_forms.push(f);
        with_header(
            json(
                201,
                r#"{"request_uri":"urn:ietf:params:oauth:request_uri:req-1","expires_in":299}"#,
            ),
            "DPoP-Nonce",
            NONCE,
        )
    });

    let s = server.clone();
    http.on_fn("POST", &format!("{ISSUER}/oauth/token"), move |req| {
        if !has_nonce(req) {
            return nonce_error_as();
        }
        let f = form(req);
        let mut st = s.borrow_mut();
        match f["grant_type"].as_str() {
            "authorization_code" => {
                let found = st.codes.values().find(|(code, _, _)| *code == f["code"]).cloned();
                let Some((_, challenge, jkt)) = found else {
                    return nonced(json(400, r#"{"error":"invalid_grant"}"#));
                };
                assert_eq!(crate::oauth::pkce::challenge_for(&f["code_verifier"]), challenge, "PKCE verifier matches");
                assert_eq!(proof_claims(req).0["jwk"]["x"], jkt.as_str(), "token request uses the PAR's DPoP key");
                assert_eq!(f["redirect_uri"], REDIRECT);
            }
            "refresh_token" => {
                st.refresh_requests += 1;
                if st.refresh_token.as_deref() != Some(f["refresh_token"].as_str()) {
                    return nonced(json(400, r#"{"error":"invalid_grant","error_description":"refresh token replayed"}"#));
                }
            }
            other => panic!("unexpected grant {other}"),
        }
        st.serial += 1;
        let (at, rt) = (format!("at-{}", st.serial), format!("rt-{}", st.serial));
        st.refresh_token = Some(rt.clone());
        st.access_tokens = vec![at.clone()];
        let sub = st.token_sub.clone().unwrap_or(ALICE_DID.to_string());
        let scope = st.token_scope.clone().unwrap_or("atproto transition:generic".into());
        with_header(
            json(200, &format!(r#"{{"access_token":"{at}","token_type":"DPoP","expires_in":3600,"refresh_token":"{rt}","scope":"{scope}","sub":"{sub}"}}"#)),
            "DPoP-Nonce",
            NONCE,
        )
    });

    let s = server.clone();
    http.on_fn("POST", &format!("{ISSUER}/oauth/revoke"), move |req| {
        let f = form(req);
        let mut st = s.borrow_mut();
        let token = f["token"].clone();
        // Only the grant the token belongs to ends (tokens of earlier grants are no longer
        // the server's current ones).
        if st.refresh_token.as_ref() == Some(&token) || st.access_tokens.contains(&token) {
            st.refresh_token = None;
            st.access_tokens.clear();
        }
        st.revoked.push(token);
        nonced(json(200, "{}"))
    });

    fixture_pds_routes(&platform, &server);
    Fixture { platform, server }
}

fn list_url() -> String {
    format!(
        "{PDS}/xrpc/com.atproto.repo.listRecords?repo={}&collection=app.bsky.feed.post",
        ALICE_DID.replace(':', "%3A")
    )
}

fn fixture_pds_routes(platform: &FakePlatform, server: &Rc<RefCell<ServerState>>) {
    let s = server.clone();
    platform.http.on_fn("GET", &list_url(), move |req| {
        if !has_nonce(req) {
            return with_header(
                with_header(
                    text(401, ""),
                    "WWW-Authenticate",
                    r#"DPoP error="use_dpop_nonce""#,
                ),
                "DPoP-Nonce",
                NONCE,
            );
        }
        let token = req
            .header_value("Authorization")
            .and_then(|h| h.strip_prefix("DPoP "))
            .unwrap_or("");
        assert_eq!(proof_claims(req).1["ath"], crate::dpop::proof::ath(token));
        if !s.borrow().access_tokens.iter().any(|t| t == token) {
            return with_header(
                nonced(json(
                    401,
                    r#"{"error":"InvalidToken","message":"bad token"}"#,
                )),
                "WWW-Authenticate",
                r#"DPoP error="invalid_token""#,
            );
        }
        nonced(json(200, r#"{"records":[]}"#))
    });
}

pub(crate) fn config() -> ClientConfig {
    let mut c = ClientConfig::new("https://app.example/client-metadata.json", REDIRECT);
    c.handle_resolution = vec![HandleMethod::WellKnown];
    c
}

fn client(platform: &FakePlatform) -> Client<FakePlatform> {
    Client::new(config(), platform.clone()).unwrap()
}

pub(crate) fn callback_url(f: &Fixture, state: &str) -> String {
    let code = f.server.borrow().codes[state].0.clone();
    format!(
        "{REDIRECT}?state={state}&code={code}&iss={}",
        ISSUER.replace(':', "%3A").replace('/', "%2F")
    )
}

fn signed_in(f: &Fixture, c: &Client<FakePlatform>) -> SessionInfo {
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    block_on(c.handle_callback(&callback_url(f, &start.state)))
        .unwrap()
        .session
}

pub(crate) fn list_request() -> XrpcRequest {
    XrpcRequest {
        method: "GET".into(),
        nsid: "com.atproto.repo.listRecords".into(),
        params: vec![
            ("repo".into(), ALICE_DID.into()),
            ("collection".into(), "app.bsky.feed.post".into()),
        ],
        body: None,
        content_type: None,
        headers: vec![],
        proxy: None,
        keep_body: None,
    }
}

#[test]
fn login_end_to_end_with_par_pkce_dpop_and_nonce_retry() {
    let f = fixture();
    let c = client(&f.platform);
    let start = block_on(c.start_login(
        "@Alice.Example.Com",
        LoginOptions {
            state: Some("app-data".into()),
            ..Default::default()
        },
    ))
    .unwrap();
    assert!(start.url.starts_with(&format!("{ISSUER}/oauth/authorize?client_id=https%3A%2F%2Fapp.example%2Fclient-metadata.json&request_uri=urn")));
    // The authorization URL carries nothing secret: no state, verifier or challenge.
    assert!(!start.url.contains(&start.state) && !start.url.contains("code_challenge"));

    let par = f.server.borrow().par_forms[0].clone();
    assert_eq!(par["response_type"], "code");
    assert_eq!(par["code_challenge_method"], "S256");
    assert_eq!(par["login_hint"], "alice.example.com");
    assert_eq!(par["scope"], "atproto transition:generic");
    assert_eq!(par["state"], start.state);
    assert!(start.state.len() >= 43, "state has 256 bits");
    assert!(
        !par.values().any(|v| v.contains("app-data")),
        "app state never leaves the page"
    );
    assert_eq!(
        f.platform
            .http
            .requests_to(&format!("{ISSUER}/oauth/par"))
            .len(),
        2,
        "one retry for the nonce"
    );

    let before = f.platform.http.count();
    let result = block_on(c.handle_callback(&callback_url(&f, &start.state))).unwrap();
    assert_eq!(result.app_state.as_deref(), Some("app-data"));
    assert_eq!(result.session.did, ALICE_DID);
    assert_eq!(result.session.handle.as_deref(), Some("alice.example.com"));
    assert_eq!(result.session.pds, PDS);
    assert_eq!(result.session.issuer, ISSUER);
    assert_eq!(result.session.expires_at, Some(f.platform.now() + 3600));
    // The identity chain from login is reused and the nonce is known: the callback costs
    // exactly one request, the token exchange.
    assert_eq!(f.platform.http.count() - before, 1);
    assert_eq!(
        f.platform.events.borrow().as_slice(),
        &[SessionEvent::Updated {
            did: ALICE_DID.into()
        }]
    );
}

#[test]
fn replayed_unknown_and_expired_state() {
    let f = fixture();
    let c = client(&f.platform);
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    let url = callback_url(&f, &start.state);
    block_on(c.handle_callback(&url)).unwrap();
    assert_eq!(
        block_on(c.handle_callback(&url)).unwrap_err().code,
        ErrorCode::InvalidState
    );
    let forged = url.replace(&start.state, "forged-state");
    assert_eq!(
        block_on(c.handle_callback(&forged)).unwrap_err().code,
        ErrorCode::InvalidState
    );
    assert_eq!(
        block_on(c.handle_callback(&format!("{REDIRECT}?code=x")))
            .unwrap_err()
            .code,
        ErrorCode::InvalidState
    );

    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    f.platform
        .now
        .set(f.platform.now() + PENDING_LIFETIME_SECS + 1);
    let url = callback_url(&f, &start.state);
    assert_eq!(
        block_on(c.handle_callback(&url)).unwrap_err().code,
        ErrorCode::StateExpired
    );
    // Even the expired attempt is single-use.
    assert_eq!(
        block_on(c.handle_callback(&url)).unwrap_err().code,
        ErrorCode::InvalidState
    );
}

/// A login the app gave up on (its popup timed out or was closed) is over: a callback that
/// still comes (the user signed in, in a popup the opener could not close behind COOP)
/// fails with `invalid_state`, exchanges no code and stores no session.
#[test]
fn an_abandoned_login_stores_nothing_when_its_callback_comes() {
    let f = fixture();
    let c = client(&f.platform);
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    let other = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    block_on(c.abandon_login(&start.state)).unwrap();
    let tokens = f
        .platform
        .http
        .requests_to(&format!("{ISSUER}/oauth/token"))
        .len();
    let e = block_on(c.handle_callback(&callback_url(&f, &start.state))).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidState);
    assert_eq!(
        f.platform
            .http
            .requests_to(&format!("{ISSUER}/oauth/token"))
            .len(),
        tokens,
        "no code exchanged"
    );
    assert!(block_on(c.list_sessions()).unwrap().is_empty());
    // Only that login: another one of the account still finishes.
    block_on(c.handle_callback(&callback_url(&f, &other.state))).unwrap();
}

/// A popup login's wait that ran out is over, unless the popup's callback had taken the login
/// (and it had not expired): then the opener waits that callback's time for its outcome. A
/// login the callback had not taken is abandoned, as is one whose wait merely ended.
#[test]
fn a_popup_wait_waits_longer_only_for_a_callback_under_way() {
    let f = fixture();
    let c = client(&f.platform);
    let grace = 8 * config().request_timeout_ms + 60_000;
    // Not taken yet: abandoned, no longer wait, and its callback stores nothing.
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    assert_eq!(block_on(c.end_popup_wait(&start.state, Some(5_000))), 0);
    let e = block_on(c.handle_callback(&callback_url(&f, &start.state))).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidState);
    // Taken by its callback (as `handleCallback` takes it first).
    for (lapsed, waits) in [
        (Some(5_000), grace),
        (Some(599_999), grace),
        // A login as old as its lifetime has expired: gone for that reason.
        (Some(600_000), 0),
        // Closed or failed, not timed out.
        (None, 0),
    ] {
        let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
        f.platform
            .store
            .borrow_mut()
            .remove(&(Table::Pending, pid(&start.state)));
        let got = block_on(c.end_popup_wait(&start.state, lapsed));
        assert_eq!(got, waits, "{lapsed:?}");
    }
}

#[test]
fn issuer_mismatch_and_missing_iss_are_refused_before_token_exchange() {
    let f = fixture();
    let c = client(&f.platform);
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    let url = callback_url(&f, &start.state).replace("auth.example", "evil.example");
    assert_eq!(
        block_on(c.handle_callback(&url)).unwrap_err().code,
        ErrorCode::IssuerMismatch
    );
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    let url = callback_url(&f, &start.state);
    let no_iss = &url[..url.find("&iss=").unwrap()];
    assert_eq!(
        block_on(c.handle_callback(no_iss)).unwrap_err().code,
        ErrorCode::IssuerMismatch
    );
    assert!(f
        .platform
        .http
        .requests_to(&format!("{ISSUER}/oauth/token"))
        .is_empty());
}

#[test]
fn access_denied_and_other_errors() {
    let f = fixture();
    let c = client(&f.platform);
    let iss = "https%3A%2F%2Fauth.example";
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    let url = format!(
        "{REDIRECT}?state={}&iss={iss}&error=access_denied&error_description=Access+denied",
        start.state
    );
    let e = block_on(c.handle_callback(&url)).unwrap_err();
    assert_eq!(e.code, ErrorCode::AccessDenied);
    assert_eq!(e.server_error.as_deref(), Some("access_denied"));
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    let url = format!(
        "{REDIRECT}?state={}&iss={iss}&error=server_error",
        start.state
    );
    assert_eq!(
        block_on(c.handle_callback(&url)).unwrap_err().code,
        ErrorCode::AuthorizationError
    );
}

#[test]
fn subject_must_be_the_account_that_logged_in() {
    let f = fixture();
    let c = client(&f.platform);
    f.server.borrow_mut().token_sub = Some("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa".into());
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    let e = block_on(c.handle_callback(&callback_url(&f, &start.state))).unwrap_err();
    assert_eq!(e.code, ErrorCode::SubjectMismatch);
    assert!(block_on(c.list_sessions()).unwrap().is_empty());
}

#[test]
fn login_from_server_url_verifies_sub_against_the_issuer() {
    let f = fixture();
    let c = client(&f.platform);
    let start = block_on(c.start_login("https://pds.example", LoginOptions::default())).unwrap();
    assert!(!f.server.borrow().par_forms[0].contains_key("login_hint"));
    let info = block_on(c.handle_callback(&callback_url(&f, &start.state)))
        .unwrap()
        .session;
    assert_eq!(info.did, ALICE_DID);
    assert_eq!(info.handle.as_deref(), Some("alice.example.com"));

    // The same flow where the account's PDS trusts another authorization server must fail.
    let f = fixture();
    let c = client(&f.platform);
    let start = block_on(c.start_login("https://pds.example", LoginOptions::default())).unwrap();
    f.platform.http.on(
        "GET",
        &format!("{PDS}/.well-known/oauth-protected-resource"),
        json(
            200,
            &format!(r#"{{"resource":"{PDS}","authorization_servers":["https://other.example"]}}"#),
        ),
    );
    f.platform.http.on(
        "GET",
        "https://other.example/.well-known/oauth-authorization-server",
        json(200, &as_metadata("https://other.example")),
    );
    let c2 = client(&f.platform); // a fresh page: no discovery cache
    let e = block_on(c2.handle_callback(&callback_url(&f, &start.state))).unwrap_err();
    assert_eq!(e.code, ErrorCode::SubjectMismatch);
}

#[test]
fn malformed_inputs_make_no_request() {
    let f = fixture();
    let c = client(&f.platform);
    for (input, code) in [
        ("not a handle!", ErrorCode::InvalidHandle),
        ("alice", ErrorCode::InvalidHandle),
        ("did:key:z6Mk", ErrorCode::UnsupportedDidMethod),
        ("did:plc:", ErrorCode::InvalidDid),
        ("ftp://pds.example", ErrorCode::InvalidInput),
    ] {
        assert_eq!(
            block_on(c.start_login(input, LoginOptions::default()))
                .unwrap_err()
                .code,
            code,
            "{input}"
        );
    }
    let bad_display = LoginOptions {
        display: Some("window".into()),
        ..Default::default()
    };
    let e = block_on(c.start_login("alice.example.com", bad_display)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert_eq!(f.platform.http.count(), 0);
}

#[test]
fn a_popup_login_says_so_to_the_server_and_marks_its_state() {
    let f = fixture();
    let c = client(&f.platform);
    let popup = LoginOptions {
        display: Some("popup".into()),
        ..Default::default()
    };
    let start = block_on(c.start_login("alice.example.com", popup)).unwrap();
    let par = f.server.borrow().par_forms[0].clone();
    assert_eq!(par["display"], "popup");
    assert_eq!(par["state"], start.state);
    assert!(is_popup_state(&start.state));
    assert!(
        start.state.len() >= 43 + "popup.".len(),
        "still 256 random bits"
    );
    // The popup's callback is an ordinary callback.
    let done = block_on(c.handle_callback(&callback_url(&f, &start.state))).unwrap();
    assert_eq!(done.session.did, ALICE_DID);

    let page = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    assert!(!is_popup_state(&page.state));
    assert!(!f.server.borrow().par_forms[1].contains_key("display"));
}

#[test]
fn xrpc_steady_state_is_one_request_per_call() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    // The PDS is another origin than the authorization server here, so the first call learns
    // its nonce (one retry); from then on every call is a single request.
    let before = f.platform.http.count();
    block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    assert_eq!(f.platform.http.count() - before, 2);
    let before = f.platform.http.count();
    for _ in 0..5 {
        block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    }
    assert_eq!(f.platform.http.count() - before, 5);
}

#[test]
fn nonce_is_persisted_for_the_next_page() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    for origin in [ISSUER, PDS] {
        // The record's first line is the server's latest nonce (then the clock offset and the
        // session's own nonce).
        let stored = String::from_utf8(f.platform.data(Table::Nonces, origin).unwrap()).unwrap();
        assert_eq!(stored.split('\n').next(), Some(NONCE), "{origin}");
    }
    // A new page restores the session and calls without a nonce round trip.
    let page2 = client(&f.platform);
    block_on(page2.restore(ALICE_DID)).unwrap();
    let before = f.platform.http.count();
    block_on(page2.xrpc(ALICE_DID, &list_request())).unwrap();
    assert_eq!(f.platform.http.count() - before, 1);
}

#[test]
fn restore_makes_no_request_and_lists_accounts() {
    let f = fixture();
    let c = client(&f.platform);
    let info = signed_in(&f, &c);
    let before = f.platform.http.count();
    let page2 = client(&f.platform);
    assert_eq!(block_on(page2.restore(ALICE_DID)).unwrap(), info);
    assert_eq!(block_on(page2.list_sessions()).unwrap(), vec![info]);
    assert_eq!(f.platform.http.count(), before);
    assert_eq!(
        block_on(page2.restore("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"))
            .unwrap_err()
            .code,
        ErrorCode::SessionNotFound
    );
}

#[test]
fn refreshes_before_expiry_and_after_invalid_token() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    f.platform.now.set(f.platform.now() + 3600 - 30);
    block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    assert_eq!(
        f.server.borrow().refresh_requests,
        1,
        "refreshed ahead of expiry"
    );

    // The server revokes the access token behind our back: one refresh, one retry.
    f.server.borrow_mut().access_tokens.clear();
    block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    assert_eq!(f.server.borrow().refresh_requests, 2);
    let stored = block_on(read_session(&f.platform, &config().client_id, ALICE_DID))
        .unwrap()
        .unwrap();
    assert_eq!(
        Some(stored.record.refresh_token.unwrap().expose().to_string()),
        f.server.borrow().refresh_token,
        "rotation saved"
    );
}

#[test]
fn two_tabs_refreshing_at_once_make_one_refresh_request() {
    let f = fixture();
    let tab_a = client(&f.platform);
    signed_in(&f, &tab_a);
    let tab_b = client(&f.platform.another_tab());
    block_on(tab_b.restore(ALICE_DID)).unwrap();
    for round in 1..=5 {
        // Both tabs hold the same tokens and decide to refresh; the lock serializes them.
        // (The fakes have no BroadcastChannel, so tab B still holds the old tokens.)
        block_on(tab_a.refresh(ALICE_DID)).unwrap();
        block_on(tab_b.refresh(ALICE_DID)).unwrap();
        assert_eq!(f.server.borrow().refresh_requests, round);
        let a = tab_a.live.borrow()[ALICE_DID].session.clone();
        let b = tab_b.live.borrow()[ALICE_DID].session.clone();
        assert_eq!(a, b);
        block_on(tab_a.xrpc(ALICE_DID, &list_request())).unwrap();
        block_on(tab_b.xrpc(ALICE_DID, &list_request())).unwrap();
    }
}

#[test]
fn invalid_grant_adopts_a_rotation_from_another_tab_or_deletes() {
    let f = fixture();
    let tab_a = client(&f.platform);
    signed_in(&f, &tab_a);
    // Another tab rotated the stored refresh token while our request was in flight: the
    // refused refresh must not kill the session.
    f.server.borrow_mut().refresh_token = Some("rt-elsewhere".into());
    let other_tab = f.platform.clone();
    f.platform
        .http
        .on_fn("POST", &format!("{ISSUER}/oauth/token"), move |_| {
            let key = (Table::Sessions, alice_id());
            let mut s: Session = decode(&other_tab.store.borrow()[&key].data).unwrap();
            s.refresh_token = Some(RefreshToken::new("rt-elsewhere"));
            s.access_token = AccessToken::new("at-elsewhere");
            other_tab.store.borrow_mut().get_mut(&key).unwrap().data = encode(&s);
            nonced(json(400, r#"{"error":"invalid_grant"}"#))
        });
    let info = block_on(tab_a.refresh(ALICE_DID)).unwrap();
    assert_eq!(info.did, ALICE_DID);
    assert_eq!(
        tab_a.live.borrow()[ALICE_DID].session.access_token,
        AccessToken::new("at-elsewhere")
    );

    // A refused refresh with nothing newer stored: the session is dead, deleted and reported.
    let err = block_on(tab_a.refresh(ALICE_DID)).unwrap_err();
    assert_eq!(err.code, ErrorCode::SessionExpired);
    assert_eq!(err.server_error.as_deref(), Some("invalid_grant"));
    assert!(block_on(tab_a.list_sessions()).unwrap().is_empty());
    assert!(matches!(
        f.platform.events.borrow().last(),
        Some(SessionEvent::Deleted { .. })
    ));
}

#[test]
fn network_failure_during_refresh_keeps_the_session() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    f.platform.http.on(
        "POST",
        &format!("{ISSUER}/oauth/token"),
        nonced(text(503, "down")),
    );
    let e = block_on(c.refresh(ALICE_DID)).unwrap_err();
    assert_eq!(e.code, ErrorCode::TokenFailed);
    assert_eq!(block_on(c.list_sessions()).unwrap().len(), 1);
}

#[test]
fn xrpc_errors_are_typed() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let url = format!("{PDS}/xrpc/com.atproto.repo.getRecord?repo=x");
    f.platform.http.on(
        "GET",
        &url,
        nonced(json(
            400,
            r#"{"error":"RecordNotFound","message":"Could not locate record"}"#,
        )),
    );
    let req = XrpcRequest {
        nsid: "com.atproto.repo.getRecord".into(),
        params: vec![("repo".into(), "x".into())],
        ..list_request()
    };
    let e = block_on(c.xrpc(ALICE_DID, &req)).unwrap_err();
    assert_eq!(e.code, ErrorCode::XrpcError);
    assert_eq!(e.server_error.as_deref(), Some("RecordNotFound"));
    assert_eq!(e.status, Some(400));
    let bad = XrpcRequest {
        nsid: "../oauth/token".into(),
        ..list_request()
    };
    assert_eq!(
        block_on(c.xrpc(ALICE_DID, &bad)).unwrap_err().code,
        ErrorCode::InvalidInput
    );
}

/// `list_url()` as an SDK hands it to `fetchHandler`: path and query.
fn list_path() -> String {
    list_url().strip_prefix(PDS).unwrap().to_string()
}

fn pds_get(path: &str) -> PdsRequest {
    PdsRequest {
        method: "GET".into(),
        path: path.into(),
        headers: vec![],
        body: None,
        cancel: None,
        keep_body: Some(Default::default()),
    }
}

/// A call whose caller gave up (an SDK's `AbortSignal` fired) sends nothing more: not when
/// it fired before the call could send (while it waited for its lock or a refresh), and not
/// the retry that a nonce challenge would have made.
#[test]
fn a_cancelled_call_sends_nothing_more() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let call = "/xrpc/com.atproto.server.getSession";
    let url = format!("{PDS}{call}");
    let fired = Rc::new(std::cell::Cell::new(true));
    let cancel = {
        let fired = fired.clone();
        Cancel(Rc::new(move || fired.get()), None)
    };
    let req = PdsRequest {
        cancel: Some(cancel),
        ..pds_get(call)
    };
    f.platform.http.on("GET", &url, nonced(json(200, "{}")));
    let e = block_on(c.fetch(ALICE_DID, &req)).unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert_eq!(
        f.platform.http.requests_to(&url).len(),
        0,
        "fired before: nothing sent"
    );
    // It fires while the first attempt is answered with a nonce challenge: no retry.
    fired.set(false);
    let during = fired.clone();
    let answers = std::cell::Cell::new(0);
    f.platform.http.on_fn("GET", &url, move |_| {
        during.set(true);
        answers.set(answers.get() + 1);
        let challenge = r#"DPoP error="use_dpop_nonce""#;
        let refused = with_header(text(401, ""), "WWW-Authenticate", challenge);
        with_header(refused, "DPoP-Nonce", &format!("n{}", answers.get()))
    });
    let e = block_on(c.fetch(ALICE_DID, &req)).unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert_eq!(
        f.platform.http.requests_to(&url).len(),
        1,
        "no retry after it fired"
    );
    // Without a cancel the same server gets its retry.
    assert_eq!(
        block_on(c.fetch(ALICE_DID, &pds_get(call))).unwrap().status,
        401
    );
    assert_eq!(f.platform.http.requests_to(&url).len(), 3);
}

#[test]
fn fetch_answers_any_status_refreshes_once_and_sends_only_the_session_credentials() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    // An error answer is an answer: SDKs read the status and the body themselves.
    let missing = format!("{PDS}/xrpc/com.atproto.repo.getRecord?repo=x");
    f.platform.http.on(
        "GET",
        &missing,
        nonced(json(400, r#"{"error":"RecordNotFound"}"#)),
    );
    let resp = block_on(c.fetch(
        ALICE_DID,
        &pds_get("/xrpc/com.atproto.repo.getRecord?repo=x"),
    ))
    .unwrap();
    assert_eq!(resp.status, 400);
    assert!(String::from_utf8_lossy(&resp.body).contains("RecordNotFound"));

    // The server revokes the access token behind our back: one refresh, one retry, and the
    // app's own Authorization / DPoP headers never reach the server.
    f.server.borrow_mut().access_tokens.clear();
    let mut req = pds_get(&list_path());
    req.headers = vec![
        ("Authorization".into(), "Bearer app-token".into()),
        ("dpop".into(), "app-proof".into()),
        ("atproto-accept-labelers".into(), "did:plc:labeler".into()),
    ];
    let resp = block_on(c.fetch(ALICE_DID, &req)).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(f.server.borrow().refresh_requests, 1);
    let sent = f.platform.http.requests_to(&list_url());
    let last = sent.last().unwrap();
    let named = |n: &str| {
        last.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(n))
            .count()
    };
    assert_eq!((named("authorization"), named("dpop")), (1, 1));
    assert!(last
        .header_value("Authorization")
        .unwrap()
        .starts_with("DPoP "));
    assert_eq!(
        last.header_value("atproto-accept-labelers"),
        Some("did:plc:labeler")
    );
}

#[test]
fn fetch_never_leaves_the_pds() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let before = f.platform.http.count();
    for path in [
        "//evil.example/xrpc/com.atproto.repo.listRecords",
        "/\\evil.example/xrpc/com.atproto.repo.listRecords",
        "https://evil.example/xrpc/com.atproto.repo.listRecords",
        "xrpc/com.atproto.repo.listRecords",
        "",
    ] {
        let e = block_on(c.fetch(ALICE_DID, &pds_get(path))).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput, "{path:?}");
    }
    let mut bad_method = pds_get(&list_path());
    bad_method.method = "GET /x".into();
    let e = block_on(c.fetch(ALICE_DID, &bad_method)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert_eq!(f.platform.http.count(), before, "nothing was sent");
}

#[test]
fn proxy_header_reaches_the_pds_and_the_proof_names_the_pds() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let appview = "did:web:api.bsky.app#bsky_appview";
    let url = format!("{PDS}/xrpc/app.bsky.feed.getTimeline?limit=1");
    f.platform.http.on("GET", &url, nonced(json(200, "{}")));
    let req = XrpcRequest {
        nsid: "app.bsky.feed.getTimeline".into(),
        params: vec![("limit".into(), "1".into())],
        proxy: Some(appview.into()),
        ..list_request()
    };
    block_on(c.xrpc(ALICE_DID, &req)).unwrap();
    let sent = f.platform.http.requests_to(&url);
    let last = sent.last().unwrap();
    assert_eq!(last.header_value("atproto-proxy"), Some(appview));
    assert_eq!(
        proof_claims(last).1["htu"],
        format!("{PDS}/xrpc/app.bsky.feed.getTimeline"),
        "htu is the PDS, without the query"
    );

    // A per-call header wins over the session's default.
    let own = "did:web:labeler.example#atproto_labeler";
    let mut call = pds_get("/xrpc/app.bsky.feed.getTimeline?limit=1");
    call.headers.push(("Atproto-Proxy".into(), own.into()));
    block_on(c.fetch(ALICE_DID, &call.with_default_proxy(Some(appview)))).unwrap();
    let last = f.platform.http.requests_to(&url).pop().unwrap();
    let proxies: Vec<_> = last
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("atproto-proxy"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(proxies, vec![own]);

    let before = f.platform.http.count();
    for bad in [
        "did:web:api.bsky.app",
        "api.bsky.app#bsky_appview",
        "did:web:api.bsky.app#",
        "did:web:api.bsky.app#a\r\nx-evil: 1",
    ] {
        assert_eq!(
            check_proxy(bad).unwrap_err().code,
            ErrorCode::InvalidInput,
            "{bad}"
        );
        let req = XrpcRequest {
            proxy: Some(bad.into()),
            ..list_request()
        };
        let e = block_on(c.xrpc(ALICE_DID, &req)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput, "{bad}");
    }
    assert_eq!(f.platform.http.count(), before, "nothing was sent");
}

#[test]
fn the_granted_scope_is_listed_as_granted_narrowed_or_expanded() {
    let f = fixture();
    let c = client(&f.platform);
    // Requested: a permission set and the email; granted: the set's permissions (as the
    // official server writes an `include:`), without the email the user deselected.
    let granted = "atproto repo:com.example.post?action=create rpc:com.example.getThing?aud=did:web:api.example.com%23svc atproto";
    f.server.borrow_mut().token_scope = Some(granted.into());
    let opts = LoginOptions {
        scope: Some("atproto include:com.example.authBasic transition:email".into()),
        ..LoginOptions::default()
    };
    let start = block_on(c.start_login("alice.example.com", opts)).unwrap();
    let info = block_on(c.handle_callback(&callback_url(&f, &start.state)))
        .unwrap()
        .session;
    assert_eq!(info.scope, granted, "the server's own string");
    let want = [
        "atproto",
        "repo:com.example.post?action=create",
        "rpc:com.example.getThing?aud=did:web:api.example.com%23svc",
    ];
    assert_eq!(info.scopes, want);
    assert_eq!(block_on(c.list_sessions()).unwrap()[0].scopes, want);
    // The set may grow between refreshes: the session shows what the last tokens carry.
    f.server.borrow_mut().token_scope = Some("atproto repo:com.example.post".into());
    assert_eq!(
        block_on(c.refresh(ALICE_DID)).unwrap().scopes,
        ["atproto", "repo:com.example.post"]
    );
}

#[test]
fn prompts_parse_from_their_oauth_names_only() {
    for p in Prompt::ALL {
        assert_eq!(Prompt::parse(p.as_str()), Some(p));
    }
    assert_eq!(Prompt::parse("select_account"), Some(Prompt::SelectAccount));
    for bad in ["", "Login", "selectAccount", "create ", "bogus"] {
        assert_eq!(Prompt::parse(bad), None, "{bad}");
    }
}

#[test]
fn sign_up_with_prompt_create_only_where_the_server_offers_it() {
    let f = fixture();
    let create = || LoginOptions {
        prompt: Some(Prompt::Create),
        ..LoginOptions::default()
    };
    // The fixture's server lists no prompt_values_supported: refused before anything is pushed.
    let e = block_on(client(&f.platform).start_login(PDS, create())).unwrap_err();
    assert_eq!(e.code, ErrorCode::Unsupported);
    assert!(f.server.borrow().par_forms.is_empty());

    let meta = as_metadata(ISSUER).replace(
        r#""issuer""#,
        r#""prompt_values_supported":["none","login","consent","select_account","create"],"issuer""#,
    );
    f.platform.http.on(
        "GET",
        &format!("{ISSUER}/.well-known/oauth-authorization-server"),
        json(200, &meta),
    );
    block_on(client(&f.platform).start_login(PDS, create())).unwrap();
    assert_eq!(f.server.borrow().par_forms[0]["prompt"], "create");

    // From JavaScript (wasm::convert::login_options): the five values of the spec, nothing else.
    assert_eq!(Prompt::parse("select_account"), Some(Prompt::SelectAccount));
    assert_eq!(Prompt::parse("signup"), None);
}

#[test]
fn a_403_for_a_missing_scope_is_insufficient_scope_naming_it() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let url = format!("{PDS}/xrpc/com.atproto.repo.createRecord");
    let create = XrpcRequest {
        method: "POST".into(),
        nsid: "com.atproto.repo.createRecord".into(),
        params: vec![],
        body: Some(b"{}".to_vec().into()),
        content_type: Some("application/json".into()),
        ..list_request()
    };
    // What the official PDS (0.5.35) answers a token without the permission.
    f.platform.http.on(
        "POST",
        &url,
        nonced(json(
            403,
            r#"{"error":"ScopeMissingError","message":"Missing required scope \"repo:com.example.other?action=create\""}"#,
        )),
    );
    let e = block_on(c.xrpc(ALICE_DID, &create)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InsufficientScope);
    assert_eq!(
        e.missing_scope.as_deref(),
        Some("repo:com.example.other?action=create")
    );
    assert_eq!(e.server_error.as_deref(), Some("ScopeMissingError"));
    assert_eq!(e.status, Some(403));
    assert!(
        e.message.contains("repo:com.example.other?action=create"),
        "{}",
        e.message
    );

    // An RFC 6750 resource server says it in the challenge.
    f.platform.http.on(
        "POST",
        &url,
        with_header(
            nonced(text(403, "")),
            "WWW-Authenticate",
            r#"DPoP error="insufficient_scope", scope="blob:image/*""#,
        ),
    );
    let e = block_on(c.xrpc(ALICE_DID, &create)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InsufficientScope);
    assert_eq!(e.missing_scope.as_deref(), Some("blob:image/*"));

    // Any other 403 stays an xrpc_error.
    f.platform.http.on(
        "POST",
        &url,
        nonced(json(
            403,
            r#"{"error":"AccountTakedown","message":"Account has been taken down"}"#,
        )),
    );
    let e = block_on(c.xrpc(ALICE_DID, &create)).unwrap_err();
    assert_eq!(e.code, ErrorCode::XrpcError);
    assert_eq!(e.missing_scope, None);
}

#[test]
fn sign_out_revokes_and_deletes_even_when_the_server_is_down() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let rt = f.server.borrow().refresh_token.clone().unwrap();
    block_on(c.sign_out(ALICE_DID)).unwrap();
    assert_eq!(
        f.server.borrow().revoked,
        vec![rt],
        "the refresh token is what gets revoked"
    );
    assert!(block_on(c.list_sessions()).unwrap().is_empty());
    assert_eq!(
        block_on(c.xrpc(ALICE_DID, &list_request()))
            .unwrap_err()
            .code,
        ErrorCode::SessionNotFound
    );

    signed_in(&f, &c);
    f.platform
        .http
        .on_fn("POST", &format!("{ISSUER}/oauth/revoke"), |_| {
            nonced(text(502, "bad gateway"))
        });
    block_on(c.sign_out(ALICE_DID)).unwrap();
    assert!(block_on(c.list_sessions()).unwrap().is_empty());
}

#[test]
fn debug_output_of_records_holds_no_secret() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let session = c.live.borrow()[ALICE_DID].session.clone();
    let printed = format!("{session:?}");
    for secret in [
        session.access_token.expose(),
        session.refresh_token.as_ref().unwrap().expose(),
    ] {
        assert!(!printed.contains(secret), "{printed}");
    }
    assert!(printed.contains("[redacted]"));
}

/// Where the fixture's client stores Alice's session, and a login attempt.
fn alice_id() -> String {
    crate::session::session_id(ALICE_DID, &config().client_id)
}

fn pid(state: &str) -> String {
    crate::session::pending_id(state, &config().client_id)
}

/// Version 0.1 stored a pending login under its state alone, which never holds a `|`; a
/// callback's state that does is another client's id (`state|clientId`), not a 0.1 record: it
/// must not take (and so cancel) another app's sign-in on the same origin.
#[test]
fn a_callback_cannot_take_another_clients_login() {
    let f = fixture();
    let c = client(&f.platform);
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    // Moved to where another client (same origin, same database) keeps its attempts.
    let other = "https://other.example/client-metadata.json";
    let theirs = crate::session::pending_id(&start.state, other);
    let entry = f
        .platform
        .store
        .borrow_mut()
        .remove(&(Table::Pending, pid(&start.state)))
        .unwrap();
    f.platform
        .store
        .borrow_mut()
        .insert((Table::Pending, theirs.clone()), entry);
    let url = callback_url(&f, &start.state).replace(
        &crate::form::encode(&[("state", &start.state)]),
        &crate::form::encode(&[("state", &theirs)]),
    );
    assert!(url.contains("other.example"));
    let e = block_on(c.handle_callback(&url)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidState, "{e}");
    assert!(f
        .platform
        .store
        .borrow()
        .contains_key(&(Table::Pending, theirs)));
}

/// Moves a stored record to where version 0.1 stored it (`legacy_id`: the DID or the state
/// alone) and rewrites it as 0.1 did: the DPoP scalar (base64url) inside the record, no public
/// JWK, no client id, no key beside it. Returns the scalar's text.
fn make_legacy(p: &FakePlatform, table: Table, id: &str, legacy_id: &str) -> String {
    let entry = p
        .store
        .borrow_mut()
        .remove(&(table, id.to_string()))
        .unwrap();
    let scalar = crate::util::b64url(
        &entry
            .key
            .clone()
            .expect("a key beside the record")
            .to_bytes(),
    );
    let mut record: serde_json::Value = serde_json::from_slice(&entry.data).unwrap();
    let fields = record.as_object_mut().unwrap();
    fields.remove("dpop_jwk");
    fields.remove("client_id");
    fields.insert("dpop_key".into(), scalar.clone().into());
    p.put_raw(table, legacy_id, serde_json::to_vec(&record).unwrap());
    scalar
}

/// A migration wrote the new record but could not delete the version 0.1 one (or the tab
/// closed in between): both are stored. Signing out, with the server unreachable (nothing is
/// revoked), removes both: the old one must not bring the session back.
#[test]
fn signing_out_removes_a_version_0_1_record_a_migration_left_behind() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let own = f.platform.store.borrow()[&(Table::Sessions, alice_id())].clone();
    make_legacy(&f.platform, Table::Sessions, &alice_id(), ALICE_DID);
    f.platform
        .store
        .borrow_mut()
        .insert((Table::Sessions, alice_id()), own);
    f.platform.http.on(
        "POST",
        &format!("{ISSUER}/oauth/revoke"),
        nonced(text(503, "down")),
    );
    block_on(c.sign_out(ALICE_DID)).unwrap();
    assert!(block_on(c.list_sessions()).unwrap().is_empty());
    let c = client(&f.platform);
    let e = block_on(c.restore(ALICE_DID)).unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionNotFound, "{e:?}");
    assert!(f.platform.data(Table::Sessions, ALICE_DID).is_none());
}

/// A version 0.1 record that cannot be read (in the browser: one that does not decrypt) goes
/// with a sign-out all the same: kept, it would fail every later `restore` of the account.
#[test]
fn signing_out_removes_a_version_0_1_record_that_cannot_be_read() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    make_legacy(&f.platform, Table::Sessions, &alice_id(), ALICE_DID);
    f.platform.session_reads_failing.set(100);
    block_on(c.sign_out(ALICE_DID)).unwrap();
    f.platform.session_reads_failing.set(0);
    assert!(f.platform.data(Table::Sessions, ALICE_DID).is_none());
}

fn assert_stored_without_scalar(p: &FakePlatform, table: Table, id: &str, scalar: &str) {
    let entry = p.store.borrow()[&(table, id.to_string())].clone();
    let text = String::from_utf8(entry.data.clone()).unwrap();
    assert!(
        !text.contains(scalar) && !text.contains("dpop_key"),
        "{text}"
    );
    assert!(text.contains("dpop_jwk"));
    assert!(
        entry.key.is_some(),
        "the platform key is stored beside the record"
    );
}

#[test]
fn no_record_holds_the_private_key() {
    let f = fixture();
    let c = client(&f.platform);
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    let pending = f.platform.store.borrow()[&(Table::Pending, pid(&start.state))].clone();
    let scalar = crate::util::b64url(&pending.key.clone().unwrap().to_bytes());
    assert_stored_without_scalar(&f.platform, Table::Pending, &pid(&start.state), &scalar);
    block_on(c.handle_callback(&callback_url(&f, &start.state))).unwrap();
    assert_stored_without_scalar(&f.platform, Table::Sessions, &alice_id(), &scalar);
    assert_eq!(
        f.platform.imports.get(),
        1,
        "one key per login, imported once"
    );
}

#[test]
fn a_session_stored_by_version_0_1_is_migrated_on_first_use() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let jwk_before = c.live.borrow()[ALICE_DID].key.jwk.clone();
    let scalar = make_legacy(&f.platform, Table::Sessions, &alice_id(), ALICE_DID);

    let page2 = client(&f.platform);
    let imports = f.platform.imports.get();
    block_on(page2.xrpc(ALICE_DID, &list_request())).unwrap();
    assert_eq!(f.platform.imports.get(), imports + 1, "imported once");
    assert_stored_without_scalar(&f.platform, Table::Sessions, &alice_id(), &scalar);
    let sent = f.platform.http.log.borrow().last().cloned().unwrap();
    assert_eq!(proof_claims(&sent).0["jwk"]["x"], jwk_before.x.as_str());

    // From then on the stored key is used: nothing is imported again, in this page or the next.
    block_on(page2.xrpc(ALICE_DID, &list_request())).unwrap();
    let page3 = client(&f.platform);
    block_on(page3.xrpc(ALICE_DID, &list_request())).unwrap();
    block_on(page3.refresh(ALICE_DID)).unwrap();
    assert_eq!(f.platform.imports.get(), imports + 1);
    assert_eq!(block_on(page3.list_sessions()).unwrap().len(), 1);
}

#[test]
fn a_login_started_by_version_0_1_finishes() {
    let f = fixture();
    let c = client(&f.platform);
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    let scalar = make_legacy(
        &f.platform,
        Table::Pending,
        &pid(&start.state),
        &start.state,
    );
    let info = block_on(c.handle_callback(&callback_url(&f, &start.state)))
        .unwrap()
        .session;
    assert_eq!(info.did, ALICE_DID);
    assert_stored_without_scalar(&f.platform, Table::Sessions, &alice_id(), &scalar);
    block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
}

#[test]
fn the_request_path_reads_no_storage_and_imports_nothing() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    // Taking the store away proves the next calls never touch it.
    let tables = std::mem::take(&mut *f.platform.store.borrow_mut());
    let imports = f.platform.imports.get();
    for _ in 0..3 {
        block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    }
    assert_eq!(f.platform.imports.get(), imports);
    *f.platform.store.borrow_mut() = tables;
}

/// Serves Alice's `listRecords` of `collection`: each `(from, to)` answers the page asked for
/// with cursor `from` (`None`: the first page) with one record and the cursor `to`.
fn serve_pages(f: &Fixture, collection: &str, links: &[(Option<&str>, &str)]) -> RecordsQuery {
    let base = format!(
        "{PDS}/xrpc/com.atproto.repo.listRecords?repo={}&collection={collection}",
        ALICE_DID.replace(':', "%3A")
    );
    for (from, to) in links {
        let url = match from {
            Some(cursor) => format!("{base}&cursor={cursor}"),
            None => base.clone(),
        };
        let body = format!(
            r#"{{"cursor":"{to}","records":[{{"uri":"at://x/{to}","cid":"c","value":{{}}}}]}}"#
        );
        f.platform.http.on(
            "GET",
            &url,
            with_header(json(200, &body), "DPoP-Nonce", NONCE),
        );
    }
    RecordsQuery {
        collection: collection.into(),
        ..Default::default()
    }
}

/// `pages` pages of `collection`, each holding `records` (a JSON list's items) and the cursor of
/// the next (`p1`, `p2`, …): a walk that never ends by itself.
fn serve_chain(f: &Fixture, collection: &str, pages: u32, records: &str) -> RecordsQuery {
    let base = format!(
        "{PDS}/xrpc/com.atproto.repo.listRecords?repo={}&collection={collection}",
        ALICE_DID.replace(':', "%3A")
    );
    for page in 0..pages {
        let url = match page {
            0 => base.clone(),
            n => format!("{base}&cursor=p{n}"),
        };
        let body = format!(r#"{{"cursor":"p{}","records":[{records}]}}"#, page + 1);
        f.platform.http.on(
            "GET",
            &url,
            with_header(json(200, &body), "DPoP-Nonce", NONCE),
        );
    }
    RecordsQuery {
        collection: collection.into(),
        ..Default::default()
    }
}

#[test]
fn paging_stops_when_the_cursor_does_not_advance() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let query = serve_pages(
        &f,
        "app.example.loop",
        &[(None, "stuck"), (Some("stuck"), "stuck")],
    );
    let before = f.platform.http.count();
    let all = block_on(c.list_all_records(ALICE_DID, &query, 10_000)).unwrap();
    assert_eq!(
        all.len(),
        2,
        "the first page, then the page that did not advance"
    );
    assert!(f.platform.http.count() - before <= 3, "no endless paging");
}

#[test]
fn paging_stops_when_the_cursors_go_round_in_a_cycle() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    // a → b → c → a → …: no cursor repeats right away.
    let query = serve_pages(
        &f,
        "app.example.cycle",
        &[
            (None, "a"),
            (Some("a"), "b"),
            (Some("b"), "c"),
            (Some("c"), "a"),
        ],
    );
    let before = f.platform.http.count();
    let all = block_on(c.list_all_records(ALICE_DID, &query, usize::MAX)).unwrap();
    let sent = f.platform.http.count() - before;
    assert!(sent <= 10, "no endless paging: {sent} requests");
    assert!(all.len() >= 4 && all.len() <= 10, "{} records", all.len());
}

/// `fetchAllRecords` holds every page until the walk ends: a server answering page after page
/// of large records (each page within `maxResponseBytes`) filled Wasm memory until an allocation
/// failed, a trap. It stops at 16 pages' worth (never more than 256 MiB), `response_too_large`.
#[test]
fn paging_stops_at_sixteen_full_pages_of_records() {
    let f = fixture();
    let mut cfg = config();
    cfg.max_response_bytes = 1024;
    let c = Client::new(cfg, f.platform.clone()).unwrap();
    signed_in(&f, &c);
    let big = "x".repeat(900);
    let record = format!(r#"{{"uri":"at://x/1","cid":"c","value":{{"t":"{big}"}}}}"#);
    let query = serve_chain(&f, "app.example.big", 100, &record);
    let before = f.platform.http.count();
    let e = block_on(c.list_all_records(ALICE_DID, &query, usize::MAX)).unwrap_err();
    assert_eq!(e.code, ErrorCode::ResponseTooLarge, "{}", e.message);
    let sent = f.platform.http.count() - before;
    assert!((16..=19).contains(&sent), "{sent} pages read");
    // Within the budget, the walk ends as before.
    let some = block_on(c.list_all_records(ALICE_DID, &query, 10)).unwrap();
    assert_eq!(some.len(), 10);
}

/// Each record costs 32 bytes of the `fetchAllRecords` budget besides its text: pages of a
/// thousand one-byte records went through 28 times the budget before it tripped.
#[test]
fn paging_counts_what_each_record_costs() {
    let f = fixture();
    let mut cfg = config();
    cfg.max_response_bytes = 4096;
    let c = Client::new(cfg, f.platform.clone()).unwrap();
    signed_in(&f, &c);
    let query = serve_chain(&f, "app.example.tiny", 100, &vec!["0"; 1000].join(","));
    let before = f.platform.http.count();
    let e = block_on(c.list_all_records(ALICE_DID, &query, usize::MAX)).unwrap_err();
    assert_eq!(e.code, ErrorCode::ResponseTooLarge, "{}", e.message);
    // 16 x 4096 bytes: the second page's 33,000 more pass it.
    assert_eq!(f.platform.http.count() - before, 2);
}

/// A `listRecords` answer that is not a page (no `records`, the wrong types, not an object, not
/// JSON) is `invalid_response`, and a page is read back as `{ records, cursor }` only.
#[test]
fn a_records_page_is_checked_and_written_back_as_it_came() {
    // More records than ten times the lexicon's 100: a 16 MiB page of `0,0,…` would be some
    // 26 times that in Wasm memory, a `String` each.
    let mut zeros = vec!["0"; 1001].join(",");
    let refused = msg!(r#"{"records":["#, zeros, "]}");
    let taken = msg!(r#"{"records":["#, zeros.split_off(2), "]}");
    let page = |body: &str| RecordsPage::from_response(&json(200, body));
    assert_eq!(
        page(&refused).err().map(|e| e.code),
        Some(ErrorCode::InvalidResponse)
    );
    assert_eq!(page(&taken).unwrap().records.len(), 1000);
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let url = format!(
        "{PDS}/xrpc/com.atproto.repo.listRecords?repo={}&collection=app.example.page",
        ALICE_DID.replace(':', "%3A")
    );
    let query = RecordsQuery {
        collection: "app.example.page".into(),
        ..Default::default()
    };
    for body in [
        r#"{"cursor":"c"}"#,
        r#"{"records":"x"}"#,
        r#"{"records":[],"cursor":5}"#,
        r#""records""#,
        "[]",
        r#"{"records":[]"#,
        "<html></html>",
    ] {
        f.platform.http.on(
            "GET",
            &url,
            with_header(json(200, body), "DPoP-Nonce", NONCE),
        );
        let e = block_on(c.list_all_records(ALICE_DID, &query, 10))
            .err()
            .unwrap_or_else(|| panic!("{body} was taken for a page"));
        assert_eq!(e.code, ErrorCode::InvalidResponse, "{body}: {}", e.message);
    }
    let body = r#"{"extra":1,"records":[{"uri":"at://x/1","value":{"a":[1, 2]}}],"cursor":"n"}"#;
    f.platform.http.on(
        "GET",
        &url,
        with_header(json(200, body), "DPoP-Nonce", NONCE),
    );
    let page = RecordsPage::from_response(
        &block_on(c.xrpc(ALICE_DID, &query.request(ALICE_DID, None))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        page.to_json(),
        r#"{"records":[{"uri":"at://x/1","value":{"a":[1, 2]}}],"cursor":"n"}"#
    );
    // The last page has no cursor, and none is written (not `null`: `cursor?: string`).
    f.platform.http.on(
        "GET",
        &url,
        with_header(json(200, r#"{"records":[]}"#), "DPoP-Nonce", NONCE),
    );
    let last = RecordsPage::from_response(
        &block_on(c.xrpc(ALICE_DID, &query.request(ALICE_DID, None))).unwrap(),
    )
    .unwrap();
    assert_eq!(last.to_json(), r#"{"records":[]}"#);
}

fn client_with_id(platform: &FakePlatform, client_id: &str) -> Client<FakePlatform> {
    let mut cfg = config();
    cfg.client_id = client_id.to_string();
    Client::new(cfg, platform.clone()).unwrap()
}

#[test]
fn another_app_on_the_origin_never_lists_refreshes_or_deletes_our_sessions() {
    let f = fixture();
    let a = client(&f.platform);
    signed_in(&f, &a);
    let ours = f.platform.store.borrow()[&(Table::Sessions, alice_id())]
        .data
        .clone();

    // App B shares the origin and the database, with its own client id.
    let b = client_with_id(
        &f.platform.another_tab(),
        "https://other.example/client-metadata.json",
    );
    assert!(block_on(b.list_sessions()).unwrap().is_empty());
    assert_eq!(
        block_on(b.restore(ALICE_DID)).unwrap_err().code,
        ErrorCode::SessionNotFound
    );
    assert_eq!(
        block_on(b.refresh(ALICE_DID)).unwrap_err().code,
        ErrorCode::SessionNotFound
    );
    block_on(b.sign_out(ALICE_DID)).unwrap();
    assert_eq!(f.server.borrow().refresh_requests, 0);
    assert!(f.server.borrow().revoked.is_empty());

    // B signs the same account in: two sessions side by side, A's untouched.
    let start = block_on(b.start_login("alice.example.com", LoginOptions::default())).unwrap();
    block_on(b.handle_callback(&callback_url(&f, &start.state))).unwrap();
    assert_eq!(block_on(b.list_sessions()).unwrap().len(), 1);
    assert_eq!(block_on(a.list_sessions()).unwrap().len(), 1);
    assert_eq!(
        f.platform.store.borrow()[&(Table::Sessions, alice_id())].data,
        ours
    );
    // …and B's callback cannot take A's login attempt either.
    let a_start = block_on(a.start_login("alice.example.com", LoginOptions::default())).unwrap();
    let e = block_on(b.handle_callback(&callback_url(&f, &a_start.state))).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidState);
    block_on(a.handle_callback(&callback_url(&f, &a_start.state))).unwrap();
}

#[test]
fn a_session_stored_under_the_did_alone_is_listed_and_taken_over() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    make_legacy(&f.platform, Table::Sessions, &alice_id(), ALICE_DID);
    let page2 = client(&f.platform);
    assert_eq!(block_on(page2.list_sessions()).unwrap().len(), 1);
    block_on(page2.xrpc(ALICE_DID, &list_request())).unwrap();
    let store = f.platform.store.borrow();
    assert!(store.contains_key(&(Table::Sessions, alice_id())));
    assert!(!store.contains_key(&(Table::Sessions, ALICE_DID.to_string())));
}

#[test]
fn a_new_loopback_scope_replaces_the_session_of_the_earlier_one() {
    let f = fixture();
    let redirect = REDIRECT;
    let before = crate::config::loopback_client_id(redirect, "atproto");
    let after = crate::config::loopback_client_id(redirect, "atproto transition:generic");
    let old = client_with_id(&f.platform, &before);
    let start = block_on(old.start_login("alice.example.com", LoginOptions::default())).unwrap();
    block_on(old.handle_callback(&callback_url(&f, &start.state))).unwrap();
    let old_rt = f.server.borrow().refresh_token.clone().unwrap();

    let new = client_with_id(&f.platform, &after);
    assert!(
        block_on(new.list_sessions()).unwrap().is_empty(),
        "another client id"
    );
    let start = block_on(new.start_login("alice.example.com", LoginOptions::default())).unwrap();
    block_on(new.handle_callback(&callback_url(&f, &start.state))).unwrap();
    assert_eq!(
        f.server.borrow().revoked,
        vec![old_rt],
        "the earlier session's tokens are revoked"
    );
    assert!(block_on(old.list_sessions()).unwrap().is_empty());
    assert_eq!(block_on(new.list_sessions()).unwrap().len(), 1);
}

/// The earlier loopback session's lock cannot be had (another tab holds it past the wait's
/// deadline, refreshing): that session is left alone, not revoked and deleted without it.
#[test]
fn an_earlier_loopback_session_whose_lock_is_held_is_left_alone() {
    let f = fixture();
    let before = crate::config::loopback_client_id(REDIRECT, "atproto");
    let after = crate::config::loopback_client_id(REDIRECT, "atproto transition:generic");
    let old = client_with_id(&f.platform, &before);
    let start = block_on(old.start_login("alice.example.com", LoginOptions::default())).unwrap();
    block_on(old.handle_callback(&callback_url(&f, &start.state))).unwrap();

    let held = block_on(f.platform.lock(&session::lock_name(&before, ALICE_DID))).unwrap();
    let new = client_with_id(&f.platform, &after);
    let start = block_on(new.start_login("alice.example.com", LoginOptions::default())).unwrap();
    block_on(new.handle_callback(&callback_url(&f, &start.state))).unwrap();
    assert!(f.server.borrow().revoked.is_empty(), "nothing revoked");
    assert_eq!(block_on(old.list_sessions()).unwrap().len(), 1, "kept");
    drop(held);
}

/// The DPoP key (its public `x`) of the last request to `url`.
fn last_proof_key(f: &Fixture, url: &str) -> serde_json::Value {
    let sent = f.platform.http.requests_to(url);
    proof_claims(sent.last().expect("a request")).0["jwk"]["x"].clone()
}

#[test]
fn a_new_login_of_the_same_account_replaces_the_session_and_revokes_the_old_tokens() {
    let f = fixture();
    let c = client(&f.platform);
    let token_url = format!("{ISSUER}/oauth/token");
    let narrow = LoginOptions {
        scope: Some("atproto".into()),
        ..LoginOptions::default()
    };
    let start = block_on(c.start_login("alice.example.com", narrow)).unwrap();
    block_on(c.handle_callback(&callback_url(&f, &start.state))).unwrap();
    let old_rt = f.server.borrow().refresh_token.clone().unwrap();
    let old_key = last_proof_key(&f, &token_url);

    // Scope upgrade: the same account signs in again, with more scope.
    let info = signed_in(&f, &c);
    let new_rt = f.server.borrow().refresh_token.clone().unwrap();
    assert_ne!(old_rt, new_rt);
    assert_eq!(
        f.server.borrow().revoked,
        vec![old_rt.clone()],
        "the earlier grant is revoked"
    );
    assert_eq!(
        last_proof_key(&f, &format!("{ISSUER}/oauth/revoke")),
        old_key,
        "revoked with the earlier session's DPoP key, as the server requires"
    );
    assert_ne!(old_key, last_proof_key(&f, &token_url));
    assert_eq!(block_on(c.list_sessions()).unwrap(), vec![info.clone()]);
    let stored = block_on(read_session(&f.platform, &config().client_id, ALICE_DID))
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.record.refresh_token.map(|t| t.expose().to_string()),
        Some(new_rt),
        "the new session is the stored one"
    );
    block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    assert_eq!(
        block_on(client(&f.platform).restore(ALICE_DID)).unwrap(),
        info
    );

    // Revocation is best effort: the new session is stored even when it fails (refused, or
    // its answer lost).
    let revoke_url = format!("{ISSUER}/oauth/revoke");
    for lost in [false, true] {
        if lost {
            f.platform.http.lose_next_response("POST", &revoke_url);
        } else {
            f.platform
                .http
                .on("POST", &revoke_url, nonced(text(502, "bad gateway")));
        }
        let before = f.server.borrow().refresh_token.clone();
        signed_in(&f, &c);
        let now = f.server.borrow().refresh_token.clone();
        assert_ne!(before, now);
        let stored = block_on(read_session(&f.platform, &config().client_id, ALICE_DID))
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.record.refresh_token.map(|t| t.expose().to_string()),
            now
        );
        block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    }
}

#[test]
fn every_session_write_happens_under_the_session_lock() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    block_on(c.refresh(ALICE_DID)).unwrap();
    make_legacy(&f.platform, Table::Sessions, &alice_id(), ALICE_DID);
    f.platform.unlocked_writes.borrow_mut().clear(); // the test's own rewrite above
    let page2 = client(&f.platform);
    block_on(page2.xrpc(ALICE_DID, &list_request())).unwrap();
    f.server.borrow_mut().access_tokens.clear();
    block_on(page2.xrpc(ALICE_DID, &list_request())).unwrap();
    block_on(page2.sign_out(ALICE_DID)).unwrap();
    signed_in(&f, &page2);
    f.server.borrow_mut().refresh_token = Some("gone".into());
    assert_eq!(
        block_on(page2.refresh(ALICE_DID)).unwrap_err().code,
        ErrorCode::SessionExpired
    );
    assert_eq!(
        f.platform.unlocked_writes.borrow().as_slice(),
        &[] as &[String]
    );
}

#[test]
fn a_lost_refresh_response_is_reported_not_silently_lost() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let token_url = format!("{ISSUER}/oauth/token");

    // An answer that arrives, even an error, is not a lost one.
    f.platform
        .http
        .on("POST", &token_url, nonced(text(503, "down")));
    assert_eq!(
        block_on(c.refresh(ALICE_DID)).unwrap_err().code,
        ErrorCode::TokenFailed
    );
    let f2 = fixture(); // the fixture's token endpoint again, on a fresh server
    let c = client(&f2.platform);
    signed_in(&f2, &c);

    // The server rotates the tokens, but its answer never arrives.
    f2.platform.http.lose_next_response("POST", &token_url);
    let e = block_on(c.refresh(ALICE_DID)).unwrap_err();
    assert_eq!(e.code, ErrorCode::NetworkError);
    assert_eq!(
        f2.server.borrow().refresh_requests,
        1,
        "the server did rotate"
    );
    assert_eq!(
        block_on(c.list_sessions()).unwrap().len(),
        1,
        "nothing deleted yet"
    );

    // The next refresh presents the old token; the official server refuses it for good.
    assert_ends_as_lost(&c);
    assert!(block_on(c.list_sessions()).unwrap().is_empty());
    let last = f2.platform.events.borrow().last().cloned();
    match last {
        Some(SessionEvent::Deleted { reason, .. }) => assert!(reason.contains("lost"), "{reason}"),
        other => panic!("no deleted event: {other:?}"),
    }
}

/// The next refresh presents the spent refresh token, the server refuses it, and the session
/// ends saying that a refresh response was lost.
fn assert_ends_as_lost(c: &Client<FakePlatform>) {
    let e = block_on(c.refresh(ALICE_DID)).unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionExpired);
    assert!(e.message.contains("lost"), "{}", e.message);
}

/// A 2xx answer the client cannot read (a proxy mangled it) may have rotated the tokens at the
/// server: it counts as a lost answer, so that the refusal of the old refresh token later says
/// the session ended because an answer was lost.
#[test]
fn an_unreadable_answer_to_a_refresh_counts_as_lost() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let token_url = format!("{ISSUER}/oauth/token");
    f.platform.http.garble_next_response("POST", &token_url);
    let e = block_on(c.refresh(ALICE_DID)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidResponse, "{}", e.message);
    assert_eq!(
        f.server.borrow().refresh_requests,
        1,
        "the server did rotate"
    );
    assert_ends_as_lost(&c);
}

#[test]
fn one_unreadable_record_does_not_hide_the_others() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let bob = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb";
    let bob_id = crate::session::session_id(bob, &config().client_id);
    f.platform
        .put_raw(Table::Sessions, &bob_id, b"not json".to_vec());
    let listed = block_on(c.list_sessions()).unwrap();
    assert_eq!(
        listed.iter().map(|s| s.did.as_str()).collect::<Vec<_>>(),
        [ALICE_DID]
    );
    let unreadable = block_on(c.unreadable_sessions()).unwrap();
    assert_eq!(unreadable.len(), 1);
    assert_eq!(unreadable[0].0, bob);
    assert_eq!(unreadable[0].1.code, ErrorCode::StorageError);
    // The app removes it, and that succeeds (as the README's loop over unreadableSessions()
    // expects); Alice stays.
    block_on(c.sign_out(bob)).unwrap();
    assert!(block_on(c.unreadable_sessions()).unwrap().is_empty());
    assert_eq!(block_on(c.list_sessions()).unwrap().len(), 1);
}

#[test]
fn tokens_for_the_wrong_account_are_revoked_before_the_error() {
    let f = fixture();
    let c = client(&f.platform);
    f.server.borrow_mut().token_sub = Some("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa".into());
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    let e = block_on(c.handle_callback(&callback_url(&f, &start.state))).unwrap_err();
    assert_eq!(e.code, ErrorCode::SubjectMismatch);
    let issued = f.server.borrow().refresh_token.clone();
    assert!(
        issued.is_none(),
        "the refused tokens were revoked at the server"
    );
    assert_eq!(f.server.borrow().revoked.len(), 1);

    // The same at refresh time.
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    f.server.borrow_mut().token_sub = Some("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa".into());
    let e = block_on(c.refresh(ALICE_DID)).unwrap_err();
    assert_eq!(e.code, ErrorCode::SubjectMismatch);
    assert_eq!(f.server.borrow().revoked.len(), 1);
}

#[test]
fn an_account_that_moved_pds_keeps_its_session_with_the_new_pds() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let moved = "https://pds2.example";
    let call = "/xrpc/com.atproto.server.getSession";
    for pds in [PDS, moved] {
        let url = format!("{pds}{call}");
        f.platform.http.on("GET", &url, nonced(json(200, "{}")));
    }
    // A call first, so that the client has the old PDS's URL parsed and at hand.
    block_on(c.fetch(ALICE_DID, &pds_get(call))).unwrap();
    f.platform.http.on(
        "GET",
        &format!("https://plc.directory/{ALICE_DID}"),
        json(200, &alice_doc(moved)),
    );
    serve(&f.platform.http, moved, ISSUER);
    // Past the 10 minutes identity answers are kept.
    f.platform.now.set(f.platform.now() + 700);
    let info = block_on(c.refresh(ALICE_DID)).unwrap();
    assert_eq!(info.pds, moved);
    block_on(c.fetch(ALICE_DID, &pds_get(call))).unwrap();
    let to = |pds: &str| f.platform.http.requests_to(&format!("{pds}{call}")).len();
    assert_eq!(
        (to(PDS), to(moved)),
        (1, 1),
        "the next call goes to the new PDS"
    );
    let page2 = client(&f.platform);
    assert_eq!(
        block_on(page2.restore(ALICE_DID)).unwrap().pds,
        moved,
        "stored too"
    );
}

/// The call whose own refresh finds the account on a new PDS goes there: the request is built
/// again from the refreshed session (it was built once, before the refresh, and the fresh
/// token went to the PDS the account had left).
#[test]
fn a_call_that_refreshes_into_a_moved_pds_goes_to_the_new_pds() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let moved = "https://pds2.example";
    let call = "/xrpc/com.atproto.server.getSession";
    for pds in [PDS, moved] {
        let url = format!("{pds}{call}");
        f.platform.http.on("GET", &url, nonced(json(200, "{}")));
    }
    f.platform.http.on(
        "GET",
        &format!("https://plc.directory/{ALICE_DID}"),
        json(200, &alice_doc(moved)),
    );
    serve(&f.platform.http, moved, ISSUER);
    // Expired: the call itself refreshes first.
    f.platform.now.set(f.platform.now() + 3600);
    block_on(c.fetch(ALICE_DID, &pds_get(call))).unwrap();
    let to = |pds: &str| f.platform.http.requests_to(&format!("{pds}{call}")).len();
    assert_eq!(
        (to(PDS), to(moved)),
        (0, 1),
        "the refreshed token went to the old PDS"
    );
    let sent = &f.platform.http.requests_to(&format!("{moved}{call}"))[0];
    assert_eq!(
        proof_claims(sent).1["htu"],
        format!("{moved}{call}"),
        "the proof names the new PDS"
    );
}

/// Before every refresh the account's authorization server is confirmed again (the spec's
/// "mandatory" check): an account whose PDS now names another issuer is not refreshed at the
/// old one. Its session ends, nothing is sent to either server's token endpoint, and its
/// refresh token is revoked at the server that issued it (it stayed valid there).
#[test]
fn an_account_that_moved_to_another_authorization_server_is_not_refreshed() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let moved = "https://pds2.example";
    let evil = "https://evil.example";
    f.platform.http.on(
        "GET",
        &format!("https://plc.directory/{ALICE_DID}"),
        json(200, &alice_doc(moved)),
    );
    serve(&f.platform.http, moved, evil);
    f.platform.now.set(f.platform.now() + 700);
    let e = block_on(c.refresh(ALICE_DID)).unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionExpired, "{e:?}");
    assert!(e.message.contains(evil), "{}", e.message);
    assert_eq!(token_requests(&f.platform), 1, "the login's only");
    assert!(f
        .platform
        .http
        .requests_to(&format!("{evil}/oauth/token"))
        .is_empty());
    assert_eq!(
        f.server.borrow().revoked.len(),
        1,
        "revoked at the old issuer"
    );
    assert_eq!(f.server.borrow().refresh_token, None);
    assert!(f
        .platform
        .http
        .requests_to(&format!("{evil}/oauth/revoke"))
        .is_empty());
    assert!(block_on(c.list_sessions()).unwrap().is_empty());
    assert!(matches!(
        f.platform.events.borrow().last(),
        Some(SessionEvent::Deleted { .. })
    ));
}

#[test]
fn a_network_failure_during_the_issuer_recheck_keeps_the_session() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    f.platform.http.on(
        "GET",
        &format!("https://plc.directory/{ALICE_DID}"),
        text(503, "try later"),
    );
    f.platform.now.set(f.platform.now() + 700);
    let e = block_on(c.refresh(ALICE_DID)).unwrap_err();
    assert_eq!(e.code, ErrorCode::DidResolutionFailed);
    assert_eq!(block_on(c.list_sessions()).unwrap().len(), 1, "kept");
}

fn stored_refresh_token(p: &FakePlatform) -> String {
    block_on(read_session(p, &config().client_id, ALICE_DID))
        .unwrap()
        .unwrap()
        .record
        .refresh_token
        .unwrap()
        .expose()
        .to_string()
}

fn token_requests(p: &FakePlatform) -> usize {
    p.http.requests_to(&format!("{ISSUER}/oauth/token")).len()
}

#[test]
fn refreshed_tokens_that_cannot_be_stored_stay_live_and_are_stored_later() {
    let f = fixture();
    let tab_a = client(&f.platform);
    signed_in(&f, &tab_a);
    let tab_b = client(&f.platform.another_tab());
    block_on(tab_b.restore(ALICE_DID)).unwrap();
    let spent = stored_refresh_token(&f.platform);

    // The in-flight marker is written, the server rotates, then storing its answer fails.
    f.platform.fail_writes_after(Some(1));
    let info = block_on(tab_a.refresh(ALICE_DID)).expect("the refresh itself succeeded");
    assert_eq!(info.did, ALICE_DID);
    assert_eq!(f.server.borrow().refresh_requests, 1);
    assert_eq!(
        stored_refresh_token(&f.platform),
        spent,
        "nothing newer stored"
    );
    let events = format!("{:?}", f.platform.events.borrow().last());
    assert!(
        events.contains("Unsaved") && events.contains("QuotaExceededError"),
        "the app is told: {events}"
    );
    // This tab goes on with the new tokens (the server already refuses the old access token).
    block_on(tab_a.xrpc(ALICE_DID, &list_request())).unwrap();

    // An hour later both tabs need a refresh. The other tab holds the spent refresh token:
    // refused with a typed error before anything is sent (presenting it would end the grant).
    f.platform.now.set(f.platform.now() + 3600);
    let e = block_on(tab_b.xrpc(ALICE_DID, &list_request())).unwrap_err();
    assert_eq!(e.code, ErrorCode::StorageError, "{e:?}");
    assert!(e.message.contains("another tab"), "{}", e.message);
    assert_eq!(
        token_requests(&f.platform),
        2,
        "the login's and one refresh only"
    );
    // This tab refreshes with the refresh token it holds in memory (storage still failing).
    block_on(tab_a.xrpc(ALICE_DID, &list_request())).unwrap();
    assert_eq!(f.server.borrow().refresh_requests, 2);
    assert_eq!(stored_refresh_token(&f.platform), spent);

    // Storage works again: the next call (after the back-off) stores the current tokens and
    // says so; the other tab adopts them without a token request.
    f.platform.fail_writes_after(None);
    f.platform.now.set(f.platform.now() + 61);
    block_on(tab_a.xrpc(ALICE_DID, &list_request())).unwrap();
    let current = f.server.borrow().refresh_token.clone().unwrap();
    assert_eq!(stored_refresh_token(&f.platform), current);
    assert_eq!(
        f.platform.events.borrow().last(),
        Some(&SessionEvent::Updated {
            did: ALICE_DID.into()
        })
    );
    block_on(tab_b.xrpc(ALICE_DID, &list_request())).unwrap();
    assert_eq!(f.server.borrow().refresh_requests, 2, "no refresh replayed");
    assert!(f.platform.unlocked_writes.borrow().is_empty());
}

/// A refresh in `c` whose tokens cannot be stored (the storage fails from then on): `c` keeps
/// them, unsaved.
fn refresh_unsaved(f: &Fixture, c: &Client<FakePlatform>) {
    f.platform.fail_writes_after(Some(1));
    block_on(c.refresh(ALICE_DID)).unwrap();
}

/// This tab holds tokens it could not store; meanwhile another tab signs the account in again,
/// or out. While this tab cannot read the stored session (reads that time out), it cannot know
/// its tokens were superseded: it sends no refresh and writes nothing, so the newer login (or
/// the sign-out) stands. Once it can read again, it drops its tokens and adopts the new login.
#[test]
fn unsaved_tokens_wait_while_the_stored_session_cannot_be_read() {
    for sign_out in [false, true] {
        let f = fixture();
        let tab_a = client(&f.platform);
        signed_in(&f, &tab_a);
        refresh_unsaved(&f, &tab_a);
        f.platform.fail_writes_after(None);
        let tab_b = client(&f.platform.another_tab());
        if sign_out {
            block_on(tab_b.sign_out(ALICE_DID)).unwrap();
        } else {
            signed_in(&f, &tab_b);
        }
        let stored = || block_on(read_session(&f.platform, &config().client_id, ALICE_DID));
        let before = stored().unwrap().map(|s| s.record.refresh_token);
        let refreshes = f.server.borrow().refresh_requests;

        f.platform.now.set(f.platform.now() + 3600);
        f.platform.session_reads_failing.set(10);
        let e = block_on(tab_a.xrpc(ALICE_DID, &list_request())).unwrap_err();
        assert_eq!(e.code, ErrorCode::StorageError, "{e:?}");
        f.platform.session_reads_failing.set(0);
        assert_eq!(
            f.server.borrow().refresh_requests,
            refreshes,
            "nothing sent"
        );
        assert_eq!(
            stored().unwrap().map(|s| s.record.refresh_token),
            before,
            "the other tab's login (sign_out: {sign_out}) stands"
        );
        let next = block_on(tab_a.xrpc(ALICE_DID, &list_request()));
        if sign_out {
            assert_eq!(next.unwrap_err().code, ErrorCode::SessionNotFound);
        } else {
            // The other tab's login, adopted (and refreshed: it is an hour old too).
            next.unwrap();
            assert!(stored().unwrap().is_some());
        }
        assert!(f.platform.unlocked_writes.borrow().is_empty());
    }
}

/// The retry of unsaved tokens is scheduled on the monotonic clock: with the device's clock set
/// back a day after storage recovered, the tokens stayed unsaved through ten minutes of calls
/// (the retry put off by the day), and the other tab's calls failed meanwhile.
#[test]
fn unsaved_tokens_are_stored_on_time_after_the_clock_is_set_back() {
    let f = fixture();
    let tab_a = client(&f.platform);
    signed_in(&f, &tab_a);
    let tab_b = client(&f.platform.another_tab());
    block_on(tab_b.restore(ALICE_DID)).unwrap();
    refresh_unsaved(&f, &tab_a);
    f.platform.fail_writes_after(None);
    f.platform.set_clock(-86_400);
    for _ in 0..3 {
        f.platform.now.set(f.platform.now() + 30);
        block_on(tab_a.xrpc(ALICE_DID, &list_request())).unwrap();
    }
    let current = f.server.borrow().refresh_token.clone().unwrap();
    assert_eq!(stored_refresh_token(&f.platform), current);
    block_on(tab_b.xrpc(ALICE_DID, &list_request())).unwrap();
}

/// While the session's lock is held elsewhere, a due retry of unsaved tokens does not wait for it
/// (in the browser, up to minutes) and is put off: before, every call waited the whole wait
/// again, and calls made during a wait each started one of their own.
#[test]
fn a_lock_held_elsewhere_puts_off_the_retry_of_unsaved_tokens_without_a_wait() {
    let f = fixture();
    let tab_a = client(&f.platform);
    signed_in(&f, &tab_a);
    refresh_unsaved(&f, &tab_a);
    f.platform.fail_writes_after(None);
    f.platform.now.set(f.platform.now() + 2);
    let held = block_on(
        f.platform
            .lock(&session::lock_name(&config().client_id, ALICE_DID)),
    )
    .unwrap();
    let before = f.platform.lock_waits.get();
    for _ in 0..3 {
        block_on(tab_a.xrpc(ALICE_DID, &list_request())).unwrap();
    }
    assert_eq!(f.platform.lock_waits.get() - before, 0, "no wait");
    drop(held);
    // After the back-off, the retry stores them.
    f.platform.now.set(f.platform.now() + 5);
    block_on(tab_a.xrpc(ALICE_DID, &list_request())).unwrap();
    let current = f.server.borrow().refresh_token.clone().unwrap();
    assert_eq!(stored_refresh_token(&f.platform), current);
}

#[test]
fn unsaved_tokens_die_with_their_tab_and_the_session_end_is_reported() {
    let f = fixture();
    let tab_a = client(&f.platform);
    signed_in(&f, &tab_a);
    let tab_b = client(&f.platform.another_tab());
    refresh_unsaved(&f, &tab_a);
    // The tab is closed before storage recovered: its lock goes with it, so the other tab may
    // try the stored refresh token, the only one left. The server refuses it, and the app is
    // told the session ended and why.
    drop(tab_a);
    assert_ends_as_lost(&tab_b);
    assert!(block_on(tab_b.list_sessions()).unwrap().is_empty());
}

#[test]
fn signing_out_with_unsaved_tokens_revokes_those_tokens() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    refresh_unsaved(&f, &c);
    let current = f.server.borrow().refresh_token.clone().unwrap();
    f.platform.fail_writes_after(None);
    block_on(c.sign_out(ALICE_DID)).unwrap();
    assert!(f.server.borrow().revoked.contains(&current));
    assert!(block_on(c.list_sessions()).unwrap().is_empty());
}

#[test]
fn tokens_shorter_lived_than_the_refresh_margin_are_not_refreshed_on_every_call() {
    let f = fixture();
    let mut cfg = config();
    cfg.refresh_margin_secs = 7200; // more than the tokens' 3600 s
    let c = Client::new(cfg, f.platform.clone()).unwrap();
    signed_in(&f, &c);
    let start = f.platform.now();
    for _ in 0..3 {
        block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    }
    assert_eq!(
        f.server.borrow().refresh_requests,
        0,
        "fresh tokens are used"
    );
    // Past half their lifetime: refreshed once, well ahead of expiry, then used again.
    f.platform.now.set(start + 1801);
    for _ in 0..3 {
        block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    }
    assert_eq!(f.server.borrow().refresh_requests, 1);
}

#[test]
fn expiry_is_measured_on_this_device_clock_whatever_its_offset_from_the_server() {
    // The server says how long the tokens live (`expires_in`), not until when: the client
    // counts that from its own clock at receipt, so a device clock hours or a year off (the
    // fake server has no clock of its own) changes nothing.
    for offset in [-366 * 86_400, -5 * 3600, 0, 5 * 3600, 366 * 86_400] {
        let f = fixture();
        let c = client(&f.platform);
        let now = 1_700_000_000 + offset;
        f.platform.now.set(now);
        let info = signed_in(&f, &c);
        assert_eq!(info.expires_at, Some(now + 3600), "{offset}");
        f.platform.now.set(now + 3600 - 61);
        block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
        assert_eq!(f.server.borrow().refresh_requests, 0, "{offset}");
        f.platform.now.set(now + 3600 - 59);
        for _ in 0..3 {
            block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
        }
        assert_eq!(
            f.server.borrow().refresh_requests,
            1,
            "{offset}: once, ahead"
        );
        // The DPoP proofs carry this device's time too (see the README: the official server
        // accepts about three minutes either way).
        let sent = f.platform.http.log.borrow().last().cloned().unwrap();
        assert_eq!(proof_claims(&sent).1["iat"], now + 3600 - 59, "{offset}");
    }
}

/// A full quota before a refresh (every write fails, the in-flight mark's too): the refresh is
/// sent all the same, and the tokens it cannot store are kept in this tab (`unsaved`), as for
/// a write that fails after the answer. (The mark's write failing stopped it: nothing sent.)
#[test]
fn a_full_quota_before_the_refresh_still_refreshes() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    f.platform.fail_writes_after(Some(0));
    f.platform.now.set(f.platform.now() + 3600);
    block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    assert_eq!(f.server.borrow().refresh_requests, 1);
    let events = format!("{:?}", f.platform.events.borrow().last());
    assert!(events.contains("Unsaved"), "the app is told: {events}");
}

/// A lost refresh answer, then an error answer (503), then the refusal of the old refresh
/// token: the session ended because an answer was lost, and says so (the 503's write cleared
/// the earlier loss's mark, and the end read as a plain refusal).
#[test]
fn an_error_answer_after_a_lost_one_keeps_the_loss_in_mind() {
    let f = fixture();
    let c = client(&f.platform);
    signed_in(&f, &c);
    let token_url = format!("{ISSUER}/oauth/token");
    f.platform.http.lose_next_response("POST", &token_url);
    assert_eq!(
        block_on(c.refresh(ALICE_DID)).unwrap_err().code,
        ErrorCode::NetworkError
    );
    f.platform
        .http
        .on("POST", &token_url, nonced(text(503, "down")));
    assert_eq!(
        block_on(c.refresh(ALICE_DID)).unwrap_err().code,
        ErrorCode::TokenFailed
    );
    let refused = r#"{"error":"invalid_grant","error_description":"refresh token replayed"}"#;
    f.platform
        .http
        .on("POST", &token_url, nonced(json(400, refused)));
    assert_ends_as_lost(&c);
}

/// A session whose server issued no refresh token is used until its access token expires:
/// a refresh asked for before then (by the app, or ahead of expiry) keeps it as it is. It
/// was deleted ("expired without a refresh token") an hour before its expiry.
#[test]
fn a_session_without_a_refresh_token_lives_until_its_access_token_expires() {
    let f = fixture();
    let c = client(&f.platform);
    let s = f.server.clone();
    f.platform
        .http
        .on_fn("POST", &format!("{ISSUER}/oauth/token"), move |_| {
            s.borrow_mut().access_tokens = vec!["at-x".into()];
            nonced(json(
                200,
                &format!(
                    r#"{{"access_token":"at-x","token_type":"DPoP","expires_in":3600,"scope":"atproto transition:generic","sub":"{ALICE_DID}"}}"#
                ),
            ))
        });
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    block_on(c.handle_callback(&callback_url(&f, &start.state))).unwrap();
    block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    let info = block_on(c.refresh(ALICE_DID)).unwrap();
    assert_eq!(info.did, ALICE_DID);
    // Within the refresh margin: the call goes ahead with the token it has.
    f.platform.now.set(f.platform.now() + 3590);
    block_on(c.xrpc(ALICE_DID, &list_request())).unwrap();
    assert_eq!(block_on(c.list_sessions()).unwrap().len(), 1);
    // Expired: now it ends.
    f.platform.now.set(f.platform.now() + 20);
    let e = block_on(c.xrpc(ALICE_DID, &list_request())).unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionExpired);
    assert!(block_on(c.list_sessions()).unwrap().is_empty());
}

/// A login whose session cannot be stored (a full quota) has its tokens revoked before the
/// error: the code is spent and the callback gone, so nothing would ever hold them (they
/// stayed valid at the server).
#[test]
fn login_tokens_that_cannot_be_stored_are_revoked() {
    let f = fixture();
    let c = client(&f.platform);
    let start = block_on(c.start_login("alice.example.com", LoginOptions::default())).unwrap();
    f.platform.fail_writes_after(Some(0));
    let e = block_on(c.handle_callback(&callback_url(&f, &start.state))).unwrap_err();
    assert_eq!(e.code, ErrorCode::StorageError);
    let server = f.server.borrow();
    assert_eq!(server.revoked.len(), 1, "not revoked");
    assert_eq!(server.refresh_token, None, "the grant ended at the server");
    drop(server);
    assert!(block_on(c.list_sessions()).unwrap().is_empty());
}
