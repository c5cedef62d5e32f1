//! What is stored: a login in progress (`PendingLogin`) and a signed-in session (`Session`).
//! Both hold secrets (PKCE verifier, tokens) as redacted newtypes; the browser store encrypts
//! every record, and `SessionInfo` is the secret-free view handed to JavaScript. Neither holds
//! the DPoP private key: that is the platform's key stored beside the record (a non-extractable
//! `CryptoKey` in the browser); the record keeps only its public JWK.

use crate::dpop::PublicJwk;
use crate::error::{Error, ErrorCode, Result};
use crate::identity::Identity;
use crate::json::{self, set, FromJson, JsonResult, Obj, Reader, ToJson};
use crate::oauth::AuthServerMetadata;
use crate::platform::{Store, Table};
use crate::secret::{AccessToken, KeySecret, PkceVerifier, RefreshToken};
use crate::settled::Settled;
use crate::util::AsciiSplit;

/// How long a login may take between `startLogin` and `handleCallback`.
pub(crate) const PENDING_LIFETIME_SECS: i64 = 600;

/// A login between `startLogin` and `handleCallback`, stored under its `state`.
#[derive(Clone, Debug)]
pub(crate) struct PendingLogin {
    pub server: AuthServerMetadata,
    pub verifier: PkceVerifier,
    /// The public half of the login's DPoP key.
    pub dpop_jwk: Option<PublicJwk>,
    /// Version 0.1 kept the private scalar here. Read only to migrate; never written.
    pub dpop_key: Option<KeySecret>,
    /// The account resolved at login (absent when the user started from a server URL).
    pub identity: Option<Identity>,
    pub redirect_uri: String,
    pub app_state: Option<String>,
    pub expires_at: i64,
}

impl FromJson for PendingLogin {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let (mut server, mut verifier, mut dpop_jwk, mut dpop_key) = (None, None, None, None);
        let (mut identity, mut redirect_uri, mut app_state, mut expires_at) =
            (None, None, None, None);
        r.object(&mut |r, key| match key {
            "server" => set(&mut server, key, AuthServerMetadata::read(r)?),
            "verifier" => set(&mut verifier, key, PkceVerifier::new(r.string()?)),
            "dpop_jwk" => set(&mut dpop_jwk, key, r.opt()?),
            "dpop_key" => set(&mut dpop_key, key, r.opt_string()?.map(KeySecret::new)),
            "identity" => set(&mut identity, key, r.opt()?),
            "redirect_uri" => set(&mut redirect_uri, key, r.string()?),
            "app_state" => set(&mut app_state, key, r.opt_string()?),
            "expires_at" => set(&mut expires_at, key, r.integer()?),
            _ => r.skip(),
        })?;
        let (server, verifier, redirect_uri, expires_at) = crate::json::present!(
            server: "server",
            verifier: "verifier",
            redirect_uri: "redirect_uri",
            expires_at: "expires_at",
        );
        Ok(PendingLogin {
            server,
            verifier,
            dpop_jwk: dpop_jwk.flatten(),
            dpop_key: dpop_key.flatten(),
            identity: identity.flatten(),
            redirect_uri,
            app_state: app_state.flatten(),
            expires_at,
        })
    }
}

/// The fields in the order version 0.1 wrote them (serde's, declaration order); the private
/// scalar of version 0.1 is never written.
impl ToJson for PendingLogin {
    fn write(&self, o: &mut Obj<'_>) {
        o.obj("server", &self.server);
        o.str("verifier", self.verifier.expose());
        o.opt_obj("dpop_jwk", self.dpop_jwk.as_ref());
        o.opt_obj("identity", self.identity.as_ref());
        o.str("redirect_uri", &self.redirect_uri);
        o.opt_str("app_state", self.app_state.as_deref());
        o.int("expires_at", self.expires_at);
    }
}

/// Where a client's login attempt is stored: its `state` within the client's own namespace, so
/// another app on the origin can never take it.
pub(crate) fn pending_id(state: &str, client_id: &str) -> String {
    msg!(state, "|", client_id)
}

/// Where a client's session of `did` is stored. Sessions belong to the client id that created
/// them: another client (another app on the same origin, sharing the database) has its own
/// records and never lists, refreshes or deletes these.
pub(crate) fn session_id(did: &str, client_id: &str) -> String {
    msg!(did, "|", client_id)
}

/// The DID and client id of a session's storage id (`None` for a version 0.1 id, the DID alone).
pub(crate) fn split_session_id(id: &str) -> Option<(&str, &str)> {
    id.cut(b'|')
}

/// Whether a storage id (session or login attempt) may be `client_id`'s: its own namespace, or
/// a version 0.1 id (no client part), which the first client to use it takes over.
pub(crate) fn id_may_be_mine(id: &str, client_id: &str) -> bool {
    split_session_id(id).is_none_or(|(_, client)| client == client_id)
}

/// Whether a record read from such an id belongs to another client after all.
fn record_of_another(record: &Session, client_id: &str) -> bool {
    record.client_id.as_deref().is_some_and(|c| c != client_id)
}

/// A signed-in session, stored under its DID.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Session {
    pub did: String,
    pub handle: Option<String>,
    pub pds: String,
    pub server: AuthServerMetadata,
    pub scope: String,
    pub access_token: AccessToken,
    pub refresh_token: Option<RefreshToken>,
    pub expires_at: Option<i64>,
    /// The public half of the session's DPoP key.
    pub dpop_jwk: Option<PublicJwk>,
    /// Version 0.1 kept the private scalar here. Read only to migrate; never written.
    pub dpop_key: Option<KeySecret>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The client that signed in (absent in version 0.1 records).
    pub client_id: Option<String>,
    /// When a refresh request was sent whose answer has not arrived (yet, or ever). Written
    /// only when set.
    pub refresh_sent_at: Option<i64>,
}

impl FromJson for Session {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let (mut did, mut handle, mut pds, mut server) = (None, None, None, None);
        let (mut scope, mut access_token, mut refresh_token, mut expires_at) =
            (None, None, None, None);
        let (mut dpop_jwk, mut dpop_key, mut created_at, mut updated_at) = (None, None, None, None);
        let (mut client_id, mut refresh_sent_at) = (None, None);
        r.object(&mut |r, key| match key {
            "did" => set(&mut did, key, r.string()?),
            "handle" => set(&mut handle, key, r.opt_string()?),
            "pds" => set(&mut pds, key, r.string()?),
            "server" => set(&mut server, key, AuthServerMetadata::read(r)?),
            "scope" => set(&mut scope, key, r.string()?),
            "access_token" => set(&mut access_token, key, AccessToken::new(r.string()?)),
            "refresh_token" => set(
                &mut refresh_token,
                key,
                r.opt_string()?.map(RefreshToken::new),
            ),
            "expires_at" => set(&mut expires_at, key, r.opt_integer()?),
            "dpop_jwk" => set(&mut dpop_jwk, key, r.opt()?),
            "dpop_key" => set(&mut dpop_key, key, r.opt_string()?.map(KeySecret::new)),
            "created_at" => set(&mut created_at, key, r.integer()?),
            "updated_at" => set(&mut updated_at, key, r.integer()?),
            "client_id" => set(&mut client_id, key, r.opt_string()?),
            "refresh_sent_at" => set(&mut refresh_sent_at, key, r.opt_integer()?),
            _ => r.skip(),
        })?;
        let (did, pds, server, scope, access_token, created_at, updated_at) = crate::json::present!(
            did: "did",
            pds: "pds",
            server: "server",
            scope: "scope",
            access_token: "access_token",
            created_at: "created_at",
            updated_at: "updated_at",
        );
        Ok(Session {
            did,
            handle: handle.flatten(),
            pds,
            server,
            scope,
            access_token,
            refresh_token: refresh_token.flatten(),
            expires_at: expires_at.flatten(),
            dpop_jwk: dpop_jwk.flatten(),
            dpop_key: dpop_key.flatten(),
            created_at,
            updated_at,
            client_id: client_id.flatten(),
            refresh_sent_at: refresh_sent_at.flatten(),
        })
    }
}

/// The fields in the order version 0.1 wrote them (serde's, declaration order); the private
/// scalar of version 0.1 is never written.
impl ToJson for Session {
    fn write(&self, o: &mut Obj<'_>) {
        o.str("did", &self.did);
        o.opt_str("handle", self.handle.as_deref());
        o.str("pds", &self.pds);
        o.obj("server", &self.server);
        o.str("scope", &self.scope);
        o.str("access_token", self.access_token.expose());
        o.opt_str(
            "refresh_token",
            self.refresh_token.as_ref().map(RefreshToken::expose),
        );
        o.opt_int("expires_at", self.expires_at);
        o.opt_obj("dpop_jwk", self.dpop_jwk.as_ref());
        o.int("created_at", self.created_at);
        o.int("updated_at", self.updated_at);
        o.opt_str("client_id", self.client_id.as_deref());
        if let Some(at) = self.refresh_sent_at {
            o.int("refresh_sent_at", at);
        }
    }
}

impl Session {
    /// Whether to refresh before using the access token. Both times are this device's: the
    /// expiry was counted from its clock when the tokens arrived (`expires_in`), so an offset
    /// from the server's clock does not matter. The margin is at most half the tokens'
    /// lifetime, or tokens shorter-lived than the margin would be refreshed before every call.
    pub fn needs_refresh(&self, now: i64, margin: i64) -> bool {
        self.expires_at.is_some_and(|at| {
            let lifetime = at.saturating_sub(self.updated_at).max(0);
            at.saturating_sub(margin.min(lifetime / 2)) <= now
        })
    }

    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            did: self.did.clone(),
            handle: self.handle.clone(),
            pds: self.pds.clone(),
            issuer: self.server.issuer.clone(),
            scope: self.scope.clone(),
            scopes: scope_values(&self.scope),
            expires_at: self.expires_at,
        }
    }
}

/// The public view of a session: no token, no key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The account's DID.
    pub did: String,
    /// The account's handle, when it was verified both ways.
    pub handle: Option<String>,
    /// The account's PDS URL.
    pub pds: String,
    /// The authorization server that issued the tokens.
    pub issuer: String,
    /// The scope the server granted.
    pub scope: String,
    /// The granted scope's values, each once, as the server wrote them: it may have granted
    /// less than was requested (the user can deselect permissions), and it writes an
    /// `include:` set as the permissions it stands for.
    pub scopes: Vec<String>,
    /// Access-token expiry, Unix seconds.
    pub expires_at: Option<i64>,
}

/// As JavaScript sees it (camelCase).
impl ToJson for SessionInfo {
    fn write(&self, o: &mut Obj<'_>) {
        o.str("did", &self.did);
        o.opt_str("handle", self.handle.as_deref());
        o.str("pds", &self.pds);
        o.str("issuer", &self.issuer);
        o.str("scope", &self.scope);
        o.strs("scopes", &self.scopes);
        o.opt_int("expiresAt", self.expires_at);
    }
}

/// The values of a space-separated scope, each once, in order. Each is compared with those
/// before it: a token response grants at most
/// `oauth::server::MAX_SCOPE_VALUES` (a sorted copy would cost 1 KB of code).
fn scope_values(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in scope.pieces(b' ').filter(|v| !v.is_empty()) {
        if !out.iter().any(|v2| v2 == value) {
            out.push(value.into());
        }
    }
    out
}

pub(crate) fn encode<T: ToJson>(value: &T) -> Vec<u8> {
    json::to_string(value).into_bytes()
}

pub(crate) fn decode<T: FromJson>(bytes: &[u8]) -> Result<T> {
    json::from_slice(bytes).map_err(|e| {
        Error::new(
            ErrorCode::StorageError,
            msg!("stored record is unreadable: ", e),
        )
    })
}

/// A record and the platform key stored beside it.
pub(crate) struct Stored<T, K> {
    pub record: T,
    pub key: Option<K>,
    /// Stored by version 0.1, under the DID alone: to be moved into the client's namespace.
    pub legacy: bool,
}

/// A session record read from `id` when it is `client_id`'s (`Ok(None)` when it belongs to
/// another client).
pub(crate) fn decode_own_session(data: &[u8], client_id: &str) -> Result<Option<Session>> {
    let record: Session = decode(data)?;
    Ok((!record_of_another(&record, client_id)).then_some(record))
}

/// The session of `did` that belongs to `client_id`, with its key: the client's own record, or
/// else one stored by version 0.1 (under the DID alone, owned by no client yet).
pub(crate) async fn read_session<S: Store>(
    store: &S,
    client_id: &str,
    did: &str,
) -> Result<Option<Stored<Session, S::Key>>> {
    // The client's own record first, then the legacy one; one await for both reads.
    for legacy in [false, true] {
        let id = if legacy {
            did.to_string()
        } else {
            session_id(did, client_id)
        };
        let Some(mut entry) = store.get(Table::Sessions, &id).settled().await? else {
            continue;
        };
        let record: Session = decode(&entry.data)?;
        if legacy && record_of_another(&record, client_id) {
            return Ok(None);
        }
        return Ok(Some(Stored {
            record,
            key: entry.key.take(),
            legacy,
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_values_are_each_once_in_order() {
        assert_eq!(
            scope_values(" b a  b c a "),
            ["b", "a", "c"].map(String::from)
        );
    }

    // Exactly what the previous version (serde_json and derived writers) stored, printed by it.
    const SESSION_FULL: &str = r#"{"did":"did:plc:alice","handle":"alice.test","pds":"https://pds.example","server":{"issuer":"https://auth.example","authorization_endpoint":"https://auth.example/oauth/authorize","token_endpoint":"https://auth.example/oauth/token","pushed_authorization_request_endpoint":"https://auth.example/oauth/par","revocation_endpoint":"https://auth.example/oauth/revoke"},"scope":"atproto transition:generic","access_token":"at-\"1\"","refresh_token":"rt-1","expires_at":1700003600,"dpop_jwk":{"x":"xx","y":"yy"},"created_at":1700000000,"updated_at":1700000001,"client_id":"https://app.example/m.json","refresh_sent_at":1700000002}"#;
    const SESSION_MIN: &str = r#"{"did":"did:plc:alice","handle":null,"pds":"https://pds.example","server":{"issuer":"https://auth.example","authorization_endpoint":"https://auth.example/oauth/authorize","token_endpoint":"https://auth.example/oauth/token","pushed_authorization_request_endpoint":"https://auth.example/oauth/par","revocation_endpoint":null},"scope":"atproto transition:generic","access_token":"at-\"1\"","refresh_token":null,"expires_at":null,"dpop_jwk":null,"created_at":1700000000,"updated_at":1700000001,"client_id":null}"#;
    const PENDING_FULL: &str = r#"{"server":{"issuer":"https://auth.example","authorization_endpoint":"https://auth.example/oauth/authorize","token_endpoint":"https://auth.example/oauth/token","pushed_authorization_request_endpoint":"https://auth.example/oauth/par","revocation_endpoint":"https://auth.example/oauth/revoke"},"verifier":"verifier-1","dpop_jwk":{"x":"xx","y":"yy"},"identity":{"did":"did:plc:alice","handle":"alice.test","pds":"https://pds.example"},"redirect_uri":"https://app.example/cb","app_state":"sté\n","expires_at":1700000600}"#;
    const PENDING_MIN: &str = r#"{"server":{"issuer":"https://auth.example","authorization_endpoint":"https://auth.example/oauth/authorize","token_endpoint":"https://auth.example/oauth/token","pushed_authorization_request_endpoint":"https://auth.example/oauth/par","revocation_endpoint":"https://auth.example/oauth/revoke"},"verifier":"verifier-1","dpop_jwk":null,"identity":null,"redirect_uri":"https://app.example/cb","app_state":null,"expires_at":1700000600}"#;
    const INFO: &str = r#"{"did":"did:plc:alice","handle":"alice.test","pds":"https://pds.example","issuer":"https://auth.example","scope":"atproto transition:generic","scopes":["atproto","transition:generic"],"expiresAt":1700003600}"#;

    fn server() -> AuthServerMetadata {
        AuthServerMetadata {
            issuer: "https://auth.example".into(),
            authorization_endpoint: "https://auth.example/oauth/authorize".into(),
            token_endpoint: "https://auth.example/oauth/token".into(),
            pushed_authorization_request_endpoint: "https://auth.example/oauth/par".into(),
            revocation_endpoint: Some("https://auth.example/oauth/revoke".into()),
            ..AuthServerMetadata::default()
        }
    }

    fn session() -> Session {
        Session {
            did: "did:plc:alice".into(),
            handle: Some("alice.test".into()),
            pds: "https://pds.example".into(),
            server: server(),
            scope: "atproto transition:generic".into(),
            access_token: AccessToken::new("at-\"1\""),
            refresh_token: Some(RefreshToken::new("rt-1")),
            expires_at: Some(1700003600),
            dpop_jwk: Some(PublicJwk {
                x: "xx".into(),
                y: "yy".into(),
            }),
            dpop_key: None,
            created_at: 1700000000,
            updated_at: 1700000001,
            client_id: Some("https://app.example/m.json".into()),
            refresh_sent_at: Some(1700000002),
        }
    }

    fn pending() -> PendingLogin {
        PendingLogin {
            server: server(),
            verifier: PkceVerifier::new("verifier-1"),
            dpop_jwk: Some(PublicJwk {
                x: "xx".into(),
                y: "yy".into(),
            }),
            dpop_key: None,
            identity: Some(Identity {
                did: "did:plc:alice".into(),
                handle: Some("alice.test".into()),
                pds: "https://pds.example".into(),
            }),
            redirect_uri: "https://app.example/cb".into(),
            app_state: Some("st\u{e9}\n".into()),
            expires_at: 1700000600,
        }
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn records_are_written_byte_for_byte_as_before() {
        let full = session();
        assert_eq!(text(encode(&full)), SESSION_FULL);
        let min = Session {
            handle: None,
            refresh_token: None,
            expires_at: None,
            dpop_jwk: None,
            client_id: None,
            refresh_sent_at: None,
            server: AuthServerMetadata {
                revocation_endpoint: None,
                ..server()
            },
            ..session()
        };
        assert_eq!(text(encode(&min)), SESSION_MIN);
        assert_eq!(text(encode(&pending())), PENDING_FULL);
        let pending_min = PendingLogin {
            dpop_jwk: None,
            identity: None,
            app_state: None,
            ..pending()
        };
        assert_eq!(text(encode(&pending_min)), PENDING_MIN);
        assert_eq!(json::to_string(&full.info()), INFO);
    }

    #[test]
    fn records_stored_before_read_back() {
        assert_eq!(
            decode::<Session>(SESSION_FULL.as_bytes()).unwrap(),
            session()
        );
        let min: Session = decode(SESSION_MIN.as_bytes()).unwrap();
        assert_eq!(
            (min.handle, min.refresh_token, min.client_id),
            (None, None, None)
        );
        let p: PendingLogin = decode(PENDING_FULL.as_bytes()).unwrap();
        assert_eq!(p.identity, pending().identity);
        assert_eq!(p.app_state.as_deref(), Some("st\u{e9}\n"));
        let p: PendingLogin = decode(PENDING_MIN.as_bytes()).unwrap();
        assert_eq!((p.identity, p.dpop_jwk), (None, None));
    }

    /// A version 0.1 record: the private scalar inside, no client id, fields absent that later
    /// versions write as null. It reads (to be migrated), and writing it back drops the scalar.
    #[test]
    fn a_version_0_1_record_reads_and_is_rewritten_without_the_scalar() {
        let old = r#"{"did":"did:plc:alice","pds":"https://pds.example","server":{"issuer":"https://auth.example","authorization_endpoint":"https://auth.example/a","token_endpoint":"https://auth.example/t","pushed_authorization_request_endpoint":"https://auth.example/p"},"scope":"atproto","access_token":"at","created_at":1,"updated_at":2,"dpop_key":"c2NhbGFy"}"#;
        let s: Session = decode(old.as_bytes()).unwrap();
        assert_eq!(s.dpop_key.as_ref().map(KeySecret::expose), Some("c2NhbGFy"));
        assert_eq!(
            (s.client_id.clone(), s.dpop_jwk.clone(), s.expires_at),
            (None, None, None)
        );
        let again = text(encode(&s));
        assert!(
            !again.contains("dpop_key") && !again.contains("c2NhbGFy"),
            "{again}"
        );
    }

    #[test]
    fn a_damaged_record_is_a_storage_error() {
        for bad in [
            SESSION_FULL[..SESSION_FULL.len() - 1].to_string(),
            SESSION_FULL.replace(r#""did":"did:plc:alice","#, ""),
            SESSION_FULL.replace("1700000000", "\"1700000000\""),
            SESSION_FULL.replace(r#""scope""#, r#""did":"did:plc:other","scope""#),
        ] {
            let e = decode::<Session>(bad.as_bytes()).unwrap_err();
            assert_eq!(e.code, ErrorCode::StorageError, "{bad}");
        }
    }

    /// Each field left out in turn, the nested server metadata's too: a required one is
    /// refused by name (`json::require` checks them all before any is taken), an optional one
    /// reads; with two left out, the first in the record's order is named.
    #[test]
    fn each_required_field_is_named_when_missing() {
        fn check<T: FromJson>(full: &str, nested: &str, required: &[&str]) {
            let full: serde_json::Value = serde_json::from_str(full).unwrap();
            let mut refused = Vec::new();
            let top = full.as_object().unwrap();
            let paths = top.keys().map(|k| vec![k.clone()]).chain(
                full[nested]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(|k| vec![nested.to_string(), k.clone()]),
            );
            for path in paths {
                let mut v = full.clone();
                let field = path.last().unwrap();
                let parent = path[..path.len() - 1].iter().fold(&mut v, |v, k| &mut v[k]);
                parent.as_object_mut().unwrap().remove(field);
                if let Err(e) = decode::<T>(v.to_string().as_bytes()) {
                    assert!(
                        e.message.ends_with(&format!("missing field `{field}`")),
                        "{field}: {}",
                        e.message
                    );
                    refused.push(field.clone());
                }
            }
            refused.sort();
            let mut expected: Vec<String> = required.iter().map(|s| s.to_string()).collect();
            expected.sort();
            assert_eq!(refused, expected);
            for pair in required.windows(2) {
                let mut v = full.clone();
                for field in pair {
                    v.as_object_mut().unwrap().remove(*field);
                }
                if pair.iter().all(|f| top.contains_key(*f)) {
                    let Err(e) = decode::<T>(v.to_string().as_bytes()) else {
                        panic!("{pair:?} left out, and the record read");
                    };
                    assert!(e.message.ends_with(&format!("missing field `{}`", pair[0])));
                }
            }
        }
        let server = [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "pushed_authorization_request_endpoint",
        ];
        let session = [
            "did",
            "pds",
            "server",
            "scope",
            "access_token",
            "created_at",
            "updated_at",
        ];
        check::<Session>(SESSION_FULL, "server", &[&session[..], &server].concat());
        let pending = ["server", "verifier", "redirect_uri", "expires_at"];
        check::<PendingLogin>(PENDING_FULL, "server", &[&pending[..], &server].concat());
    }
}
