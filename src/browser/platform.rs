//! The browser platform: the `Platform` traits assembled from the browser pieces (fetch,
//! IndexedDB + WebCrypto, Web Locks, BroadcastChannel, `Date.now`, `spawn_local`).

use std::future::Future;
use std::rc::Rc;

use web_sys::CryptoKey;

use super::{crypto, BroadcastEvents, BrowserClock, FetchHttp, IdbStore, SendSigned, WebLocks};
use crate::error::Result;
use crate::platform::{
    Clock, Entry, Events, Http, HttpRequest, HttpResponse, KeyMaterial, KeyType, Keys, Locks,
    SendWithProof, SessionEvent, Spawn, Store, Table,
};

/// The browser platform. The IndexedDB store opens on first use, so the constructor stays
/// synchronous and restoring a session costs no work until it is asked for.
///
/// Generic over the HTTP layer only so that in-browser tests can drive the real storage, locks
/// and channels against a scripted server.
pub struct BrowserPlatform<H = FetchHttp> {
    /// HTTP (fetch, or a scripted server in tests).
    pub http: Rc<H>,
    /// IndexedDB, encrypted at rest (opened on first use).
    pub store: Rc<IdbStore>,
    /// Web Locks, or the in-tab fallback.
    pub locks: Rc<WebLocks>,
    /// Events for this tab's listeners and, through BroadcastChannel, the other tabs.
    pub events: Rc<BroadcastEvents>,
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

impl BrowserPlatform {
    /// The platform of one `OAuthClient`: fetch (requests bounded by `timeout_ms`), the
    /// database `db_name`, Web Locks (waited for as long as `timeout_ms` lets a holder keep
    /// one), and the events channel `events`.
    pub fn new(db_name: &str, timeout_ms: u32, events: Rc<BroadcastEvents>) -> Self {
        BrowserPlatform {
            http: Rc::new(FetchHttp::new(timeout_ms)),
            store: Rc::new(IdbStore::new(db_name)),
            locks: Rc::new(WebLocks::new().with_wait(super::locks::wait_for(timeout_ms))),
            events,
        }
    }
}

// The methods that only forward return the inner future itself (`fn … -> impl Future`, not
// `async fn`): an `async fn` wrapper is one more state machine, with its own poll and drop code,
// for each of them.
impl<H: Http> Http for BrowserPlatform<H> {
    fn send(&self, request: HttpRequest) -> impl Future<Output = Result<HttpResponse>> {
        self.http.send(request)
    }
}

impl<H: Http> Clock for BrowserPlatform<H> {
    fn now(&self) -> i64 {
        BrowserClock.now()
    }
    fn monotonic(&self) -> i64 {
        BrowserClock.monotonic()
    }
}

impl<H> KeyType for BrowserPlatform<H> {
    type Key = CryptoKey;
}

impl<H: Http> Keys for BrowserPlatform<H> {
    fn import_key(&self, material: KeyMaterial) -> impl Future<Output = Result<CryptoKey>> {
        crypto::import_signing_key(material)
    }
    fn sign(&self, key: &CryptoKey, message: &[u8]) -> impl Future<Output = Result<Vec<u8>>> {
        crypto::sign(key, message)
    }
}

impl<H: SendSigned> SendWithProof for BrowserPlatform<H> {
    fn send_with_proof(
        &self,
        request: HttpRequest,
        key: &CryptoKey,
        input: String,
    ) -> impl Future<Output = Result<HttpResponse>> {
        self.http.send_signed(request, key, input)
    }
}

impl<H: Http> Store for BrowserPlatform<H> {
    fn get(
        &self,
        table: Table,
        key: &str,
    ) -> impl Future<Output = Result<Option<Entry<CryptoKey>>>> {
        self.store.get(table, key)
    }
    fn put(
        &self,
        table: Table,
        key: &str,
        value: &[u8],
        dpop: Option<&CryptoKey>,
    ) -> impl Future<Output = Result<()>> {
        self.store.put(table, key, value, dpop)
    }
    fn delete(&self, table: Table, key: &str) -> impl Future<Output = Result<()>> {
        self.store.delete(table, key)
    }
    fn take(
        &self,
        table: Table,
        key: &str,
    ) -> impl Future<Output = Result<Option<Entry<CryptoKey>>>> {
        self.store.take(table, key)
    }
    fn keys(&self, table: Table) -> impl Future<Output = Result<Vec<String>>> {
        self.store.keys(table)
    }
}

impl<H: Http> Locks for BrowserPlatform<H> {
    type Guard = <WebLocks as Locks>::Guard;
    fn lock(&self, name: &str) -> impl Future<Output = Result<Self::Guard>> {
        self.locks.lock(name)
    }
    fn try_lock(&self, name: &str) -> impl Future<Output = Result<Option<Self::Guard>>> {
        self.locks.try_lock(name)
    }
}

impl<H: Http> Events for BrowserPlatform<H> {
    fn emit(&self, event: SessionEvent) {
        self.events.emit(event)
    }
}

impl<H: Http> Spawn for BrowserPlatform<H> {
    fn spawn(&self, task: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>) {
        super::task::spawn(task);
    }
}
