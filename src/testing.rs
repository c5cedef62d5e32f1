//! Fakes of the platform traits for native unit tests: a scripted HTTP layer that records what
//! was sent, an in-memory store, a settable clock, in-process locks and an event log.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::error::{err, ErrorCode, Result};
use crate::platform::{
    Clock, Entry, Events, Http, HttpRequest, HttpResponse, KeyMaterial, KeyType, Keys, Locks,
    SendWithProof, SessionEvent, Store, Table,
};

pub const ALICE_DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

/// Every string of up to `max` of `pieces`, for checking a rewritten function against its
/// earlier form on all the inputs its rules tell apart.
pub fn strings_of(pieces: &[&str], max: usize) -> Vec<String> {
    let mut all = vec![String::new()];
    let mut last = all.clone();
    for _ in 0..max {
        last = last
            .iter()
            .flat_map(|s| pieces.iter().map(move |p| format!("{s}{p}")))
            .collect();
        all.extend(last.iter().cloned());
    }
    all
}

/// [`strings_of`], each string once, sorted (pieces such as `""` or `"::"` next to `":"` make
/// the same string several ways).
pub fn distinct_strings_of(pieces: &[&str], max: usize) -> Vec<String> {
    let mut all = strings_of(pieces, max);
    all.sort();
    all.dedup();
    all
}

/// Alice's DID document: handle alice.example.com, PDS at `pds`.
pub fn alice_doc(pds: &str) -> String {
    format!(
        r##"{{"id":"{ALICE_DID}","alsoKnownAs":["at://alice.example.com"],"service":[{{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"{pds}"}}]}}"##
    )
}

pub fn text(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: body.as_bytes().to_vec(),
        redirected: false,
    }
}

pub fn json(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
        redirected: false,
    }
}

pub fn with_header(mut resp: HttpResponse, name: &str, value: &str) -> HttpResponse {
    resp.headers
        .push((name.to_ascii_lowercase(), value.to_string()));
    resp
}

type Handler = Box<dyn Fn(&HttpRequest) -> HttpResponse>;

/// Routes are matched on method and the exact URL; a route registered later wins, so a test can
/// change a server's answer mid-way. Unrouted requests fail as network errors.
#[derive(Default)]
pub struct MockHttp {
    routes: RefCell<Vec<(String, String, Handler)>>,
    pub log: RefCell<Vec<HttpRequest>>,
    /// Routes whose next answer is computed (the server acts) but never arrives.
    lose_next: RefCell<Vec<(String, String)>>,
    /// Routes whose next answer is computed (the server acts) but arrives with its body mangled.
    garble_next: RefCell<Vec<(String, String)>>,
    /// URL prefixes of servers that never answer: requests fail as the platform's deadline does.
    hung: RefCell<Vec<String>>,
}

impl MockHttp {
    pub fn on(&self, method: &str, url: &str, response: HttpResponse) {
        self.on_fn(method, url, move |_| response.clone());
    }

    pub fn on_fn(
        &self,
        method: &str,
        url: &str,
        f: impl Fn(&HttpRequest) -> HttpResponse + 'static,
    ) {
        self.routes
            .borrow_mut()
            .push((method.to_string(), url.to_string(), Box::new(f)));
    }

    /// The server handles the next request to this route, but its answer is lost on the way
    /// back: the caller sees a network error.
    pub fn lose_next_response(&self, method: &str, url: &str) {
        self.lose_next
            .borrow_mut()
            .push((method.to_string(), url.to_string()));
    }

    /// The server handles the next request to this route, but its answer's body arrives
    /// mangled (a proxy's fault): the status and headers are the server's.
    pub fn garble_next_response(&self, method: &str, url: &str) {
        self.garble_next
            .borrow_mut()
            .push((method.to_string(), url.to_string()));
    }

    /// Every request to a URL starting with `prefix` gets no answer in time (`Timeout`).
    pub fn hang(&self, prefix: &str) {
        self.hung.borrow_mut().push(prefix.to_string());
    }

    pub fn count(&self) -> usize {
        self.log.borrow().len()
    }

    pub fn requests_to(&self, url: &str) -> Vec<HttpRequest> {
        self.log
            .borrow()
            .iter()
            .filter(|r| r.url == url)
            .cloned()
            .collect()
    }
}

impl Http for MockHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        self.log.borrow_mut().push(request.clone());
        if self
            .hung
            .borrow()
            .iter()
            .any(|p| request.url.starts_with(p))
        {
            return err(ErrorCode::Timeout, "no answer in time");
        }
        let routes = self.routes.borrow();
        match routes
            .iter()
            .rev()
            .find(|(m, u, _)| *m == request.method && *u == request.url)
        {
            Some((_, _, f)) => {
                let mut response = f(&request);
                if take_next(&self.garble_next, &request) {
                    response.body.truncate(response.body.len() / 2);
                }
                if take_next(&self.lose_next, &request) {
                    return err(
                        ErrorCode::NetworkError,
                        "the answer was lost on the way back",
                    );
                }
                // The platform contract: an oversized body is refused while reading.
                if response.body.len() > request.max_body {
                    return err(ErrorCode::ResponseTooLarge, "response body too large");
                }
                Ok(response)
            }
            None => err(
                ErrorCode::NetworkError,
                format!("no route for {} {}", request.method, request.url),
            ),
        }
    }
}

/// Whether `list` (of `garble_next` / `lose_next`) names `request`'s route; the entry is used up.
fn take_next(list: &RefCell<Vec<(String, String)>>, request: &HttpRequest) -> bool {
    let mut list = list.borrow_mut();
    let at = list
        .iter()
        .position(|(m, u)| *m == request.method && *u == request.url);
    at.map(|i| list.remove(i)).is_some()
}

/// The fake platform's key handle: p256's ECDSA signing key, standing in for a CryptoKey.
pub type FakeKey = Rc<p256::ecdsa::SigningKey>;

pub type MemoryTables = HashMap<(Table, String), Entry<FakeKey>>;

/// The whole platform for client tests. `Rc` fields let two clients (two "tabs") share the
/// store and the HTTP fake.
#[derive(Clone)]
pub struct FakePlatform {
    pub http: Rc<MockHttp>,
    pub store: Rc<RefCell<MemoryTables>>,
    pub now: Rc<Cell<i64>>,
    /// How far the device's clock was set, in all (`set_clock`): `monotonic()` is `now` without
    /// these steps.
    pub clock_steps: Rc<Cell<i64>>,
    pub events: Rc<RefCell<Vec<SessionEvent>>>,
    /// How many times a lock was waited for (`lock`; not `try_lock`), all tabs together.
    pub lock_waits: Rc<Cell<u32>>,
    pub locks: Rc<RefCell<BTreeMap<String, bool>>>,
    /// How many keys were imported.
    pub imports: Rc<Cell<u32>>,
    /// Session writes made without holding that session's lock (must stay empty).
    pub unlocked_writes: Rc<RefCell<Vec<String>>>,
    /// This tab's storage writes: `Some(n)` lets `n` more succeed, then every one fails (a full
    /// quota, a connection closed by a version change); `None` lets all succeed.
    pub writes_left: Rc<Cell<Option<u32>>>,
    /// This tab's reads of the sessions table: that many more fail (a read that timed out
    /// behind another transaction), then they succeed again.
    pub session_reads_failing: Rc<Cell<u32>>,
}

impl Default for FakePlatform {
    fn default() -> Self {
        FakePlatform {
            http: Rc::new(MockHttp::default()),
            store: Rc::default(),
            now: Rc::new(Cell::new(1_700_000_000)),
            clock_steps: Rc::default(),
            events: Rc::default(),
            lock_waits: Rc::default(),
            locks: Rc::default(),
            imports: Rc::default(),
            unlocked_writes: Rc::default(),
            writes_left: Rc::default(),
            session_reads_failing: Rc::default(),
        }
    }
}

impl FakePlatform {
    /// A second "tab": same HTTP server, storage and locks; its own event log and its own
    /// storage connection (whose writes fail or not independently).
    pub fn another_tab(&self) -> Self {
        FakePlatform {
            events: Rc::default(),
            writes_left: Rc::default(),
            session_reads_failing: Rc::default(),
            ..self.clone()
        }
    }

    /// Storage writes fail after `n` more succeed; `None`: they succeed again.
    pub fn fail_writes_after(&self, n: Option<u32>) {
        self.writes_left.set(n);
    }

    /// Counts a write down; an error once none is left.
    fn write_allowed(&self) -> Result<()> {
        match self.writes_left.get() {
            Some(0) => err(ErrorCode::StorageError, "QuotaExceededError (injected)"),
            Some(n) => {
                self.writes_left.set(Some(n - 1));
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Http for FakePlatform {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        self.http.send(request).await
    }
}

impl Clock for FakePlatform {
    fn now(&self) -> i64 {
        self.now.get()
    }
    fn monotonic(&self) -> i64 {
        self.now.get() - self.clock_steps.get()
    }
}

impl FakePlatform {
    /// The device's clock set by `secs` (back, when negative): `now` moves, time does not.
    pub fn set_clock(&self, secs: i64) {
        self.now.set(self.now.get() + secs);
        self.clock_steps.set(self.clock_steps.get() + secs);
    }
}

impl KeyType for FakePlatform {
    type Key = FakeKey;
}

impl Keys for FakePlatform {
    async fn import_key(&self, material: KeyMaterial) -> Result<FakeKey> {
        self.imports.set(self.imports.get() + 1);
        let key = p256::ecdsa::SigningKey::from_slice(material.scalar())
            .map_err(|_| crate::error::Error::new(ErrorCode::CryptoError, "bad scalar"))?;
        Ok(Rc::new(key))
    }

    async fn sign(&self, key: &FakeKey, message: &[u8]) -> Result<Vec<u8>> {
        use p256::ecdsa::signature::Signer;
        let signature: p256::ecdsa::Signature = key.sign(message);
        Ok(signature.to_bytes().to_vec())
    }
}

impl SendWithProof for FakePlatform {}

impl FakePlatform {
    /// The bytes stored under `id`.
    pub fn data(&self, table: Table, id: &str) -> Option<Vec<u8>> {
        self.store
            .borrow()
            .get(&(table, id.to_string()))
            .map(|e| e.data.clone())
    }

    /// Replaces what is stored under `id`, without a key (as version 0.1 stored everything).
    pub fn put_raw(&self, table: Table, id: &str, data: Vec<u8>) {
        self.store
            .borrow_mut()
            .insert((table, id.to_string()), Entry { data, key: None });
    }
}

impl FakePlatform {
    /// Records a session write made while its lock is not held.
    fn check_locked(&self, table: Table, id: &str) {
        if table != Table::Sessions {
            return;
        }
        // Version 0.1 ids are the DID alone; they are written (deleted) under the new id's lock.
        let locked = self.locks.borrow().iter().any(|(name, held)| {
            *held
                && name.starts_with("atproto-oauth:session:")
                && name.contains(id.split('|').next().unwrap_or(id))
        });
        if !locked {
            self.unlocked_writes.borrow_mut().push(id.to_string());
        }
    }
}

impl Store for FakePlatform {
    async fn get(&self, table: Table, key: &str) -> Result<Option<Entry<FakeKey>>> {
        let failing = self.session_reads_failing.get();
        if table == Table::Sessions && failing > 0 {
            self.session_reads_failing.set(failing - 1);
            return err(ErrorCode::StorageError, "read timed out (injected)");
        }
        Ok(self.store.borrow().get(&(table, key.to_string())).cloned())
    }
    async fn put(
        &self,
        table: Table,
        key: &str,
        data: &[u8],
        dpop: Option<&FakeKey>,
    ) -> Result<()> {
        self.write_allowed()?;
        self.check_locked(table, key);
        self.store.borrow_mut().insert(
            (table, key.to_string()),
            Entry {
                data: data.to_vec(),
                key: dpop.cloned(),
            },
        );
        Ok(())
    }
    async fn delete(&self, table: Table, key: &str) -> Result<()> {
        self.check_locked(table, key);
        self.store.borrow_mut().remove(&(table, key.to_string()));
        Ok(())
    }
    async fn take(&self, table: Table, key: &str) -> Result<Option<Entry<FakeKey>>> {
        Ok(self.store.borrow_mut().remove(&(table, key.to_string())))
    }
    async fn keys(&self, table: Table) -> Result<Vec<String>> {
        Ok(self
            .store
            .borrow()
            .keys()
            .filter(|(t, _)| *t == table)
            .map(|(_, k)| k.clone())
            .collect())
    }
}

pub struct FakeGuard {
    name: String,
    locks: Rc<RefCell<BTreeMap<String, bool>>>,
}

impl Drop for FakeGuard {
    fn drop(&mut self) {
        self.locks.borrow_mut().insert(self.name.clone(), false);
    }
}

impl Locks for FakePlatform {
    type Guard = FakeGuard;
    /// Single-threaded tests never contend; taking a held lock is a bug the test should see.
    async fn lock(&self, name: &str) -> Result<FakeGuard> {
        self.lock_waits.set(self.lock_waits.get() + 1);
        self.take_lock(name)
    }

    async fn try_lock(&self, name: &str) -> Result<Option<FakeGuard>> {
        if self.locks.borrow().get(name).copied().unwrap_or(false) {
            return Ok(None);
        }
        self.take_lock(name).map(Some)
    }
}

impl FakePlatform {
    /// The lock `name`, now (held already: the same tab asked twice, a bug).
    fn take_lock(&self, name: &str) -> Result<FakeGuard> {
        let mut locks = self.locks.borrow_mut();
        if locks.get(name).copied().unwrap_or(false) {
            return err(ErrorCode::Internal, format!("lock {name} taken twice"));
        }
        locks.insert(name.to_string(), true);
        Ok(FakeGuard {
            name: name.to_string(),
            locks: self.locks.clone(),
        })
    }
}

impl crate::platform::Spawn for FakePlatform {
    /// The fake store completes at once, so one poll runs a background write to the end.
    fn spawn(&self, task: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>) {
        use futures::FutureExt;
        assert!(
            task.now_or_never().is_some(),
            "a background task did not complete at once"
        );
    }
}

impl Events for FakePlatform {
    fn emit(&self, event: SessionEvent) {
        self.events.borrow_mut().push(event);
    }
}
