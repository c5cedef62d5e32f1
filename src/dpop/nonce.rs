//! What the client knows of each DPoP server: the nonce it last handed each session, and how
//! far its clock is from this device's. Cached in memory, loaded from the store the first time
//! a page talks to an origin, and saved in the background whenever it changes.
//!
//! Nonces are kept per session and per server, as the AT Protocol spec recommends: a server may
//! scope its nonces to a key, and one shared nonce per origin would then make two accounts
//! take turns being refused. A session that has no nonce of its own yet starts with the
//! server's latest, which is right for servers whose nonces are global (the official one) and
//! costs the usual single retry otherwise.

use std::cell::RefCell;

use crate::platform::{Spawn, Store, Table};
use crate::settled::Settled;
use crate::strmap::StrMap;
use crate::util::AsciiSplit;

/// How many sessions' nonces a server's record keeps; the least recently updated goes first.
/// A session that lost its entry falls back to the server's latest nonce.
const SESSIONS_KEPT: usize = 16;

/// One server's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Server {
    /// The nonce the server handed out last, to any session.
    latest: Option<String>,
    /// Server time minus device time, in seconds, once learned.
    offset: Option<i64>,
    /// The nonce of each session (by key thumbprint), least recently updated first.
    sessions: Vec<(String, String)>,
}

impl Server {
    fn nonce(&self, session: &str) -> Option<&str> {
        let own = self.sessions.iter().find(|(s, _)| s == session);
        own.map(|(_, n)| n.as_str()).or(self.latest.as_deref())
    }

    /// Returns whether anything changed. A session that already holds `nonce` is left as it
    /// is (its place in the order too): the official server hands every session the same
    /// nonce, and two accounts taking turns must not rewrite the record on every call.
    fn set_nonce(&mut self, session: &str, nonce: &str) -> bool {
        if self
            .sessions
            .iter()
            .any(|(s, n)| s == session && n == nonce)
        {
            return false;
        }
        self.latest = Some(nonce.to_string());
        self.sessions.retain(|(s, _)| s != session);
        if self.sessions.len() >= SESSIONS_KEPT {
            self.sessions.remove(0);
        }
        self.sessions.push((session.to_string(), nonce.to_string()));
        true
    }

    /// The stored form, a line each: the latest nonce, the offset (empty when unknown), then
    /// `thumbprint nonce` per session. Nonces are header values and thumbprints base64url: no
    /// line breaks or spaces. A record of an earlier version is the nonce alone, and still
    /// reads.
    fn encode(&self) -> String {
        let mut out = self.latest.clone().unwrap_or_default();
        out.push('\n');
        if let Some(offset) = self.offset {
            out.push_str(&crate::util::int(offset));
        }
        for (session, nonce) in &self.sessions {
            out.push('\n');
            out.push_str(session);
            out.push(' ');
            out.push_str(nonce);
        }
        out
    }

    fn decode(text: &str) -> Server {
        let mut lines = text.pieces(b'\n');
        let latest = lines.next().filter(|n| !n.is_empty()).map(String::from);
        let offset = lines.next().and_then(crate::util::parse_int);
        let mut sessions = Vec::new();
        for line in lines {
            match line.cut(b' ') {
                Some((s, n)) if !s.is_empty() && !n.is_empty() => {
                    if sessions.len() == SESSIONS_KEPT {
                        break;
                    }
                    sessions.push((s.to_string(), n.to_string()));
                }
                _ => {}
            }
        }
        Server {
            latest,
            offset,
            sessions,
        }
    }
}

/// Server state by origin. The PDS and its authorization server share one nonce, so caching
/// by origin lets a nonce learned at the token endpoint save a round trip at the PDS.
#[derive(Default)]
pub(crate) struct NonceCache {
    servers: RefCell<StrMap<Server>>,
    /// The offset learned last, from any server: the first guess for a server not heard from
    /// yet, since what is usually wrong is this device's clock, not the servers'. Only one the
    /// clock search can come back from ([`shareable`]).
    last_offset: RefCell<Option<i64>>,
}

/// Whether an offset may be the first guess for other servers: one beyond the clock search's
/// reach (a server's `Date` years off, which a hostile server may send) would have every other
/// server refuse the proofs with no way back.
fn shareable(offset: i64) -> bool {
    offset.unsigned_abs() <= super::clock::REACH
}

impl NonceCache {
    /// The nonce to send to `origin` for `session` (a DPoP key's thumbprint).
    pub fn get(&self, origin: &str, session: &str) -> Option<String> {
        let servers = self.servers.borrow();
        servers.get(origin)?.nonce(session).map(String::from)
    }

    /// Returns whether anything changed, so callers persist only real changes.
    pub fn set(&self, origin: &str, session: &str, nonce: &str) -> bool {
        self.update(origin, |s| s.set_nonce(session, nonce))
    }

    pub fn contains(&self, origin: &str) -> bool {
        self.servers.borrow().contains_key(origin)
    }

    /// How far ahead of this device the server's clock is, in seconds (what DPoP proofs for it
    /// add to `iat`).
    pub fn offset(&self, origin: &str) -> i64 {
        let known = self.servers.borrow().get(origin).and_then(|s| s.offset);
        known.or(*self.last_offset.borrow()).unwrap_or(0)
    }

    /// Records the server's clock offset; returns whether it changed.
    pub fn set_offset(&self, origin: &str, offset: i64) -> bool {
        if shareable(offset) {
            *self.last_offset.borrow_mut() = Some(offset);
        }
        self.update(origin, |s| s.offset.replace(offset) != Some(offset))
    }

    /// Applies `change` (which says whether it changed anything) to `origin`'s state, in place:
    /// this runs on every response that carries a nonce.
    fn update(&self, origin: &str, change: impl FnOnce(&mut Server) -> bool) -> bool {
        let mut servers = self.servers.borrow_mut();
        if let Some(server) = servers.get_mut(origin) {
            return change(server);
        }
        let mut server = Server::default();
        change(&mut server);
        servers.insert(origin.to_string(), server);
        true
    }

    /// Adopts a stored record for `origin`.
    fn load(&self, origin: &str, server: Server) {
        if let Some(offset) = server.offset.filter(|&o| shareable(o)) {
            self.last_offset.borrow_mut().get_or_insert(offset);
        }
        self.servers.borrow_mut().insert(origin.to_string(), server);
    }

    /// The stored form of `origin`'s state.
    fn encoded(&self, origin: &str) -> Option<String> {
        self.servers.borrow().get(origin).map(Server::encode)
    }
}

/// The cache plus its persistence: what a client holds.
#[derive(Default)]
pub(crate) struct PersistedNonces {
    cache: NonceCache,
    /// Origins whose stored nonce this page already looked up.
    loaded: RefCell<StrMap<()>>,
}

impl PersistedNonces {
    pub fn cache(&self) -> &NonceCache {
        &self.cache
    }

    /// Loads the persisted state of `origin` the first time this page talks to it.
    pub async fn load(&self, store: &impl Store, origin: &str) {
        if self
            .loaded
            .borrow_mut()
            .insert(origin.to_string(), ())
            .is_some()
            || self.cache.contains(origin)
        {
            return;
        }
        if let Ok(Some(entry)) = store.get(Table::Nonces, origin).settled().await {
            if let Ok(text) = std::str::from_utf8(&entry.data) {
                self.cache.load(origin, Server::decode(text));
            }
        }
    }

    /// Persists an origin's changed state in the background, off the request's path.
    pub fn save<P: Store + Spawn + Clone + 'static>(&self, platform: &P, changed: Option<&str>) {
        let Some(origin) = changed else {
            return;
        };
        let Some(record) = self.cache.encoded(origin) else {
            return;
        };
        let store = platform.clone();
        let origin = origin.to_string();
        platform.spawn(Box::pin(async move {
            // A lost record costs an extra round trip or two later, nothing more.
            let _ = store
                .put(Table::Nonces, &origin, record.as_bytes(), None)
                .settled()
                .await;
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakePlatform;
    use futures::executor::block_on;

    #[test]
    fn stored_state_round_trips_and_old_records_still_read() {
        let mut busy = Server {
            latest: None,
            offset: Some(-3600),
            sessions: Vec::new(),
        };
        busy.set_nonce("jkt-a", "n-1_x");
        busy.set_nonce("jkt-b", "n2");
        for server in [
            busy,
            Server {
                latest: Some("n".into()),
                ..Server::default()
            },
            Server {
                offset: Some(42),
                ..Server::default()
            },
        ] {
            assert_eq!(Server::decode(&server.encode()), server);
        }
        // Version 0.2 stored the nonce alone.
        assert_eq!(
            Server::decode("abc"),
            Server {
                latest: Some("abc".into()),
                ..Server::default()
            }
        );
        assert_eq!(Server::decode("abc\nnot a number").offset, None);
        assert_eq!(Server::decode("abc\n\nno-space\n \nx ").sessions, vec![]);
    }

    #[test]
    fn a_server_keeps_the_most_recent_sessions() {
        let mut server = Server::default();
        for i in 0..SESSIONS_KEPT + 3 {
            server.set_nonce(&format!("k{i}"), &format!("n{i}"));
        }
        // The oldest sessions fall back to the latest nonce.
        assert_eq!(server.sessions.len(), SESSIONS_KEPT);
        assert_eq!(
            server.nonce("k0"),
            Some(format!("n{}", SESSIONS_KEPT + 2).as_str())
        );
        assert_eq!(server.nonce("k5"), Some("n5"));
        // Updating a session moves it to the end.
        server.set_nonce("k5", "again");
        assert_eq!(server.sessions.last().unwrap().0, "k5");
        assert_eq!(Server::decode(&server.encode()), server);
    }

    #[test]
    fn sessions_taking_turns_with_the_same_nonce_change_nothing() {
        let cache = NonceCache::default();
        let origin = "https://pds.example";
        assert!(cache.set(origin, "jkt-a", "n"));
        assert!(cache.set(origin, "jkt-b", "n"));
        for _ in 0..3 {
            assert!(!cache.set(origin, "jkt-a", "n"), "nothing to persist");
            assert!(!cache.set(origin, "jkt-b", "n"), "nothing to persist");
        }
        assert!(cache.set(origin, "jkt-a", "n2"));
        assert_eq!(cache.get(origin, "jkt-new").as_deref(), Some("n2"));
        assert!(cache.set_offset(origin, 5));
        assert!(!cache.set_offset(origin, 5));
    }

    #[test]
    fn the_offset_is_persisted_and_read_back_by_the_next_page() {
        let p = FakePlatform::default();
        let first = PersistedNonces::default();
        let origin = "https://pds.example";
        assert!(first.cache().set(origin, "jkt-a", "n1"));
        assert!(first.cache().set(origin, "jkt-b", "n2"));
        assert!(!first.cache().set(origin, "jkt-b", "n2"));
        assert!(first.cache().set_offset(origin, 600));
        assert!(!first.cache().set_offset(origin, 600));
        first.save(&p, Some(origin));
        let next = PersistedNonces::default();
        block_on(next.load(&p, origin));
        assert_eq!(next.cache().get(origin, "jkt-a").as_deref(), Some("n1"));
        assert_eq!(next.cache().get(origin, "jkt-b").as_deref(), Some("n2"));
        // A session the server has not handed a nonce yet starts with its latest.
        assert_eq!(next.cache().get(origin, "jkt-new").as_deref(), Some("n2"));
        assert_eq!(next.cache().offset(origin), 600);
        assert_eq!(next.cache().offset("https://elsewhere.example"), 600);
    }

    /// An offset beyond what the clock search reaches (a server whose `Date` is years off, as a
    /// hostile one may send) is that server's alone: as the first guess elsewhere, every other
    /// server would refuse the proofs and the search could never come back.
    #[test]
    fn an_offset_beyond_the_search_is_not_the_guess_for_other_servers() {
        let cache = NonceCache::default();
        assert!(cache.set_offset("https://near.example", -7200));
        let far = 250_000_000_000; // a `Date` in the year 9999
        assert!(cache.set_offset("https://far.example", far));
        assert_eq!(cache.offset("https://far.example"), far);
        assert_eq!(cache.offset("https://other.example"), -7200);
        assert!(cache.set_offset("https://far.example", -far));
        assert_eq!(cache.offset("https://other.example"), -7200);

        // Nor when read back from storage by the next page.
        let p = FakePlatform::default();
        let first = PersistedNonces::default();
        assert!(first.cache().set_offset("https://far.example", far));
        first.save(&p, Some("https://far.example"));
        let next = PersistedNonces::default();
        block_on(next.load(&p, "https://far.example"));
        assert_eq!(next.cache().offset("https://far.example"), far);
        assert_eq!(next.cache().offset("https://other.example"), 0);
    }
}
