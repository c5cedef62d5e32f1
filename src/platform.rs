//! The small set of capabilities the protocol logic needs from its host. The browser implements
//! them in `browser/` (fetch, IndexedDB + WebCrypto, Web Locks, BroadcastChannel); native tests
//! implement them with in-memory fakes, so every protocol rule runs under plain `cargo test`.
//!
//! Futures are not `Send`: in a browser everything runs on one thread.
#![allow(async_fn_in_trait)]

use crate::error::Result;

/// An HTTP request, as the protocol code builds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    /// A GET request without headers.
    pub fn get(url: impl Into<String>) -> Self {
        HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The first value of a header (case-insensitive name).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// An HTTP response, body read in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names are lower-case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Sends one HTTP request. Network failures (including CORS refusals) are `NetworkError`;
/// any HTTP status, even 500, is a response.
pub trait Http {
    /// Sends the request and reads the whole response.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse>;
}

/// Wall-clock time in whole seconds since the Unix epoch.
pub trait Clock {
    /// Now, in Unix seconds.
    fn now(&self) -> i64;
}

/// Where records live. `Store` implementations persist opaque bytes; the browser one encrypts
/// every value with AES-GCM under a non-extractable key before it reaches IndexedDB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// Login attempts between `startLogin` and `handleCallback`, keyed by `state`.
    Pending,
    /// Signed-in sessions, keyed by DID.
    Sessions,
    /// DPoP nonces, keyed by server origin.
    Nonces,
}

impl Table {
    /// The table's storage name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Pending => "pending",
            Table::Sessions => "sessions",
            Table::Nonces => "nonces",
        }
    }
}

/// A key-value store with a few tables, shared by every tab of the origin.
pub trait Store {
    /// The value under `key`, if any.
    async fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>>;
    /// Writes `value` under `key`, replacing what was there.
    async fn put(&self, table: Table, key: &str, value: &[u8]) -> Result<()>;
    /// Removes `key` (no error if absent).
    async fn delete(&self, table: Table, key: &str) -> Result<()>;
    /// Reads and deletes in one transaction, so two callers can never both get the value.
    async fn take(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>>;
    /// Every key of a table.
    async fn keys(&self, table: Table) -> Result<Vec<String>>;
}

/// A mutual-exclusion lock shared by every tab of the origin (Web Locks), released when the
/// guard drops.
pub trait Locks {
    /// Holds the lock until dropped.
    type Guard;
    /// Waits for the lock `name`.
    async fn lock(&self, name: &str) -> Result<Self::Guard>;
}

/// A change to a stored session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The stored session changed (new tokens after a refresh, or a new sign-in).
    Updated {
        /// The account.
        did: String,
    },
    /// The session is gone: signed out, or its refresh token was refused.
    Deleted {
        /// The account.
        did: String,
        /// Why, for humans.
        reason: String,
    },
}

/// Tells the app (and the other tabs) about session changes.
pub trait Events {
    /// Tells every listener, here and in other tabs.
    fn emit(&self, event: SessionEvent);
}

/// Runs work off the caller's path (persisting a new DPoP nonce must not delay the request
/// that learned it).
pub trait Spawn {
    /// Runs `task` to completion in the background.
    fn spawn(&self, task: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>);
}

/// Everything the client needs, in one bound. `Clone` must be cheap (handles, not data): a
/// background task holds its own copy.
pub trait Platform: Http + Clock + Store + Locks + Events + Spawn + Clone + 'static {}
impl<T: Http + Clock + Store + Locks + Events + Spawn + Clone + 'static> Platform for T {}
