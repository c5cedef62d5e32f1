//! What the client knows of each DPoP server: its current nonce, and how far its clock is from
//! this device's. Cached in memory per origin, loaded from the store the first time a page
//! talks to an origin, and saved in the background whenever either changes.

use std::cell::RefCell;

use crate::config::origin_of;
use crate::platform::{Spawn, Store, Table};
use crate::strmap::StrMap;

/// One server's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Server {
    nonce: Option<String>,
    /// Server time minus device time, in seconds, once learned.
    offset: Option<i64>,
}

impl Server {
    /// The stored form: the nonce, then the offset on a line of its own when there is one (a
    /// nonce is a header value and never holds a line break). A record of an earlier version is
    /// the nonce alone, and still reads.
    fn encode(&self) -> String {
        let nonce = self.nonce.as_deref().unwrap_or("");
        match self.offset {
            Some(offset) => format!("{nonce}\n{offset}"),
            None => nonce.to_string(),
        }
    }

    fn decode(text: &str) -> Server {
        let (nonce, offset) = match text.split_once('\n') {
            Some((nonce, offset)) => (nonce, offset.parse().ok()),
            None => (text, None),
        };
        Server {
            nonce: Some(nonce).filter(|n| !n.is_empty()).map(String::from),
            offset,
        }
    }
}

/// Server state by origin. The PDS and its authorization server share one nonce, so caching
/// by origin lets a nonce learned at the token endpoint save a round trip at the PDS.
#[derive(Default)]
pub(crate) struct NonceCache {
    servers: RefCell<StrMap<Server>>,
    /// The offset learned last, from any server: the first guess for a server not heard from
    /// yet, since what is usually wrong is this device's clock, not the servers'.
    last_offset: RefCell<Option<i64>>,
}

impl NonceCache {
    pub fn get(&self, origin: &str) -> Option<String> {
        self.servers.borrow().get(origin)?.nonce.clone()
    }

    /// Returns whether the value changed, so callers persist only real changes.
    pub fn set(&self, origin: &str, nonce: &str) -> bool {
        self.update(origin, |s| s.nonce = Some(nonce.to_string()))
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
        *self.last_offset.borrow_mut() = Some(offset);
        self.update(origin, |s| s.offset = Some(offset))
    }

    fn update(&self, origin: &str, change: impl FnOnce(&mut Server)) -> bool {
        let mut servers = self.servers.borrow_mut();
        let mut server = servers.get(origin).cloned().unwrap_or_default();
        let before = server.clone();
        change(&mut server);
        if server == before && servers.contains_key(origin) {
            return false;
        }
        servers.insert(origin.to_string(), server);
        true
    }

    /// Adopts a stored record for `origin`.
    fn load(&self, origin: &str, server: Server) {
        if let Some(offset) = server.offset {
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

    /// Loads the persisted nonce of the URL's origin the first time this page talks to it.
    pub async fn load(&self, store: &impl Store, url: &str) {
        let Ok(parsed) = url::Url::parse(url) else {
            return;
        };
        let origin = origin_of(&parsed);
        if self
            .loaded
            .borrow_mut()
            .insert(origin.clone(), ())
            .is_some()
            || self.cache.contains(&origin)
        {
            return;
        }
        if let Ok(Some(entry)) = store.get(Table::Nonces, &origin).await {
            if let Ok(text) = String::from_utf8(entry.data) {
                self.cache.load(&origin, Server::decode(&text));
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
        for server in [
            Server {
                nonce: Some("n-1_x".into()),
                offset: Some(-3600),
            },
            Server {
                nonce: Some("n".into()),
                offset: None,
            },
            Server {
                nonce: None,
                offset: Some(42),
            },
        ] {
            assert_eq!(Server::decode(&server.encode()), server);
        }
        // Version 0.2 stored the nonce alone.
        assert_eq!(
            Server::decode("abc"),
            Server {
                nonce: Some("abc".into()),
                offset: None
            }
        );
        assert_eq!(Server::decode("abc\nnot a number").offset, None);
    }

    #[test]
    fn the_offset_is_persisted_and_read_back_by_the_next_page() {
        let p = FakePlatform::default();
        let first = PersistedNonces::default();
        let origin = "https://pds.example";
        assert!(first.cache().set(origin, "n1"));
        assert!(first.cache().set_offset(origin, 600));
        assert!(!first.cache().set_offset(origin, 600));
        first.save(&p, Some(origin));
        let next = PersistedNonces::default();
        block_on(next.load(&p, "https://pds.example/xrpc/a.b.c"));
        assert_eq!(next.cache().get(origin).as_deref(), Some("n1"));
        assert_eq!(next.cache().offset(origin), 600);
        assert_eq!(next.cache().offset("https://elsewhere.example"), 600);
    }
}
