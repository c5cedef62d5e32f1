//! DPoP server nonces: cached in memory per origin, loaded from the store the first time a page
//! talks to an origin, and saved in the background whenever a server hands out a new one.

use std::cell::RefCell;

use crate::config::origin_of;
use crate::platform::{Spawn, Store, Table};
use crate::strmap::StrMap;

/// Server nonces by origin. The PDS and its authorization server share one nonce, so caching
/// by origin lets a nonce learned at the token endpoint save a round trip at the PDS.
#[derive(Default)]
pub(crate) struct NonceCache {
    nonces: RefCell<StrMap<String>>,
}

impl NonceCache {
    pub fn get(&self, origin: &str) -> Option<String> {
        self.nonces.borrow().get(origin).cloned()
    }

    /// Returns whether the value changed, so callers persist only real changes.
    pub fn set(&self, origin: &str, nonce: &str) -> bool {
        let mut nonces = self.nonces.borrow_mut();
        if nonces.get(origin).map(String::as_str) == Some(nonce) {
            return false;
        }
        nonces.insert(origin.to_string(), nonce.to_string());
        true
    }

    pub fn contains(&self, origin: &str) -> bool {
        self.nonces.borrow().contains_key(origin)
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
        let Some(parsed) = crate::url::Url::parse(url) else {
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
            if let Ok(nonce) = String::from_utf8(entry.data) {
                self.cache.set(&origin, &nonce);
            }
        }
    }

    /// Persists a changed nonce in the background, off the request's path.
    pub fn save<P: Store + Spawn + Clone + 'static>(
        &self,
        platform: &P,
        changed: Option<(String, String)>,
    ) {
        if let Some((origin, nonce)) = changed {
            let store = platform.clone();
            platform.spawn(Box::pin(async move {
                // A lost nonce costs one extra round trip later, nothing more.
                let _ = store
                    .put(Table::Nonces, &origin, nonce.as_bytes(), None)
                    .await;
            }));
        }
    }
}
