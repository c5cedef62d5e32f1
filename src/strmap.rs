//! A map from strings, as a vector. The maps of this crate hold a handful of entries (origins,
//! DIDs, lock names); `HashMap` would link hashbrown and a hasher into the .wasm (about 4 KB)
//! for no gain at that size.

/// Keys are unique; order is insertion order (with removals).
#[derive(Debug)]
pub(crate) struct StrMap<V>(Vec<(String, V)>);

impl<V> Default for StrMap<V> {
    fn default() -> Self {
        StrMap(Vec::new())
    }
}

impl<V> StrMap<V> {
    fn index(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.index(key).map(|i| &self.0[i].1)
    }

    // Only the browser's in-tab locks take a value out to change it.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.index(key).map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.index(key).is_some()
    }

    /// Sets `key`'s value; returns the value it replaces.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        match self.index(&key) {
            Some(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.index(key).map(|i| self.0.swap_remove(i).1)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut V) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
    }
}

/// `map[key]` in tests, like `HashMap`'s (panics when the key is missing).
#[cfg(test)]
impl<V> std::ops::Index<&str> for StrMap<V> {
    type Output = V;
    fn index(&self, key: &str) -> &V {
        self.get(key).expect("key in map")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_map() {
        let mut m = StrMap::default();
        assert_eq!(m.insert("a".into(), 1), None);
        assert_eq!(m.insert("b".into(), 2), None);
        assert_eq!(m.insert("a".into(), 3), Some(1));
        assert_eq!(m.get("a"), Some(&3));
        assert!(m.contains_key("b") && !m.contains_key("c"));
        *m.get_mut("b").unwrap() += 10;
        assert_eq!(m.get("b"), Some(&12));
        m.retain(|k, v| k != "a" && *v > 0);
        assert_eq!(m.get("a"), None);
        assert_eq!(m.remove("b"), Some(12));
        assert_eq!(m.remove("b"), None);
        assert!(m.get_mut("b").is_none());
    }
}
