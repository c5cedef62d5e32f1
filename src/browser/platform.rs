//! The browser platform: the `Platform` traits assembled from the browser pieces (fetch,
//! IndexedDB + WebCrypto, Web Locks, BroadcastChannel, `Date.now`, `spawn_local`).

use std::cell::OnceCell;
use std::rc::Rc;

use web_sys::CryptoKey;

use super::{crypto, BroadcastEvents, BrowserClock, FetchHttp, IdbStore, SendSigned, WebLocks};
use crate::error::Result;
use crate::platform::{
    Clock, Entry, Events, Http, HttpRequest, HttpResponse, KeyMaterial, KeyType, Keys, Locks,
    SendWithProof, SessionEvent, Spawn, Store, Table,
};

/// The browser platform. The IndexedDB store opens lazily on first use, so the constructor stays
/// synchronous and restoring a session costs no work until it is asked for.
///
/// Generic over the HTTP layer only so that in-browser tests can drive the real storage, locks
/// and channels against a scripted server.
pub struct BrowserPlatform<H = FetchHttp> {
    /// HTTP (fetch, or a scripted server in tests).
    pub http: Rc<H>,
    /// IndexedDB, encrypted at rest.
    pub store: Rc<LazyStore>,
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

/// The IndexedDB store, opened on first use.
pub struct LazyStore {
    db_name: String,
    store: OnceCell<IdbStore>,
}

impl LazyStore {
    /// A store for the database `db_name`; nothing is opened yet.
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

impl BrowserPlatform {
    /// The platform of one `OAuthClient`: fetch (requests bounded by `timeout_ms`), the
    /// database `db_name`, Web Locks, and the events channel `events`.
    pub fn new(db_name: &str, timeout_ms: u32, events: Rc<BroadcastEvents>) -> Self {
        BrowserPlatform {
            http: Rc::new(FetchHttp::new(timeout_ms)),
            store: Rc::new(LazyStore::new(db_name)),
            locks: Rc::new(WebLocks::new()),
            events,
        }
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

impl<H> KeyType for BrowserPlatform<H> {
    type Key = CryptoKey;
}

impl<H: Http> Keys for BrowserPlatform<H> {
    async fn import_key(&self, material: KeyMaterial) -> Result<CryptoKey> {
        crypto::import_signing_key(material).await
    }
    async fn sign(&self, key: &CryptoKey, message: &[u8]) -> Result<Vec<u8>> {
        crypto::sign(key, message).await
    }
}

impl<H: SendSigned> SendWithProof for BrowserPlatform<H> {
    async fn send_with_proof(
        &self,
        request: HttpRequest,
        key: &CryptoKey,
        input: String,
    ) -> Result<HttpResponse> {
        self.http.send_signed(request, key, input).await
    }
}

impl<H: Http> Store for BrowserPlatform<H> {
    async fn get(&self, table: Table, key: &str) -> Result<Option<Entry<CryptoKey>>> {
        self.store.get().await?.get(table, key).await
    }
    async fn put(
        &self,
        table: Table,
        key: &str,
        value: &[u8],
        dpop: Option<&CryptoKey>,
    ) -> Result<()> {
        self.store.get().await?.put(table, key, value, dpop).await
    }
    async fn delete(&self, table: Table, key: &str) -> Result<()> {
        self.store.get().await?.delete(table, key).await
    }
    async fn take(&self, table: Table, key: &str) -> Result<Option<Entry<CryptoKey>>> {
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
    async fn try_lock(&self, name: &str) -> Result<Option<Self::Guard>> {
        self.locks.try_lock(name).await
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
