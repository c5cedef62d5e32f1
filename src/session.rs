//! What is stored: a login in progress (`PendingLogin`) and a signed-in session (`Session`).
//! Both hold secrets (PKCE verifier, tokens) as redacted newtypes; the browser store encrypts
//! every record, and `SessionInfo` is the secret-free view handed to JavaScript. Neither holds
//! the DPoP private key: that is the platform's key stored beside the record (a non-extractable
//! `CryptoKey` in the browser); the record keeps only its public JWK.

use serde::{Deserialize, Serialize};

use crate::dpop::PublicJwk;
use crate::error::{Error, ErrorCode, Result};
use crate::identity::Identity;
use crate::oauth::AuthServerMetadata;
use crate::platform::{Store, Table};
use crate::secret::{AccessToken, KeySecret, PkceVerifier, RefreshToken};

/// How long a login may take between `startLogin` and `handleCallback`.
pub(crate) const PENDING_LIFETIME_SECS: i64 = 600;

/// A login between `startLogin` and `handleCallback`, stored under its `state`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PendingLogin {
    pub server: AuthServerMetadata,
    pub verifier: PkceVerifier,
    /// The public half of the login's DPoP key.
    #[serde(default)]
    pub dpop_jwk: Option<PublicJwk>,
    /// Version 0.1 kept the private scalar here. Read only to migrate; never written.
    #[serde(default, skip_serializing)]
    pub dpop_key: Option<KeySecret>,
    /// The account resolved at login (absent when the user started from a server URL).
    pub identity: Option<Identity>,
    pub redirect_uri: String,
    pub app_state: Option<String>,
    pub expires_at: i64,
}

/// Where a client's login attempt is stored: its `state` within the client's own namespace, so
/// another app on the origin can never take it.
pub(crate) fn pending_id(state: &str, client_id: &str) -> String {
    format!("{state}|{client_id}")
}

/// Where a client's session of `did` is stored. Sessions belong to the client id that created
/// them: another client (another app on the same origin, sharing the database) has its own
/// records and never lists, refreshes or deletes these.
pub(crate) fn session_id(did: &str, client_id: &str) -> String {
    format!("{did}|{client_id}")
}

/// The DID and client id of a session's storage id (`None` for a version 0.1 id, the DID alone).
pub(crate) fn split_session_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('|')
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
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
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
    #[serde(default)]
    pub dpop_jwk: Option<PublicJwk>,
    /// Version 0.1 kept the private scalar here. Read only to migrate; never written.
    #[serde(default, skip_serializing)]
    pub dpop_key: Option<KeySecret>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The client that signed in (absent in version 0.1 records).
    #[serde(default)]
    pub client_id: Option<String>,
    /// When a refresh request was sent whose answer has not arrived (yet, or ever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_sent_at: Option<i64>,
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
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
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

/// The values of a space-separated scope, each once, in order.
fn scope_values(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in scope.split(' ').filter(|v| !v.is_empty()) {
        if !out.iter().any(|v2| v2 == value) {
            out.push(value.into());
        }
    }
    out
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| Error::new(ErrorCode::StorageError, format!("cannot serialize: {e}")))
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            ErrorCode::StorageError,
            format!("stored record is unreadable: {e}"),
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
    if let Some(mut entry) = store
        .get(Table::Sessions, &session_id(did, client_id))
        .await?
    {
        return Ok(Some(Stored {
            record: decode(&entry.data)?,
            key: entry.key.take(),
            legacy: false,
        }));
    }
    let Some(mut entry) = store.get(Table::Sessions, did).await? else {
        return Ok(None);
    };
    let record: Session = decode(&entry.data)?;
    if record_of_another(&record, client_id) {
        return Ok(None);
    }
    Ok(Some(Stored {
        record,
        key: entry.key.take(),
        legacy: true,
    }))
}
