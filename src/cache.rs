//! A tiny in-memory cache with expiry. Identity and metadata answers are kept for the 10
//! minutes the AT Protocol OAuth spec allows, so a refresh or a second login in the same page
//! does not repeat the resolution chain.

use std::cell::RefCell;

use crate::strmap::StrMap;

pub(crate) const RESOLUTION_TTL_SECS: i64 = 600;

pub(crate) struct TtlCache<V> {
    entries: RefCell<StrMap<(i64, V)>>,
}

impl<V> Default for TtlCache<V> {
    fn default() -> Self {
        TtlCache {
            entries: RefCell::default(),
        }
    }
}

impl<V: Clone> TtlCache<V> {
    pub fn get(&self, key: &str, now: i64) -> Option<V> {
        let entries = self.entries.borrow();
        entries
            .get(key)
            .filter(|(expires, _)| *expires > now)
            .map(|(_, v)| v.clone())
    }

    pub fn insert(&self, key: &str, value: V, now: i64) {
        let mut entries = self.entries.borrow_mut();
        entries.retain(|_, (expires, _)| *expires > now);
        entries.insert(key.to_string(), (now + RESOLUTION_TTL_SECS, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires() {
        let c = TtlCache::default();
        c.insert("a", 1, 100);
        assert_eq!(c.get("a", 100 + RESOLUTION_TTL_SECS - 1), Some(1));
        assert_eq!(c.get("a", 100 + RESOLUTION_TTL_SECS), None);
    }
}
