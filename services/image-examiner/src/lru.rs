//! A small least-recently-used cache by key, for the merged trees of images (a handful of
//! entries, each large: a linear scan is cheaper than any bookkeeping).

use std::collections::VecDeque;
use std::sync::Arc;

/// At most `capacity` values, the least recently used dropped first.
#[derive(Debug)]
pub struct Lru<T> {
    capacity: usize,
    /// Most recently used first.
    entries: VecDeque<(String, Arc<T>)>,
}

impl<T> Lru<T> {
    /// An empty cache of `capacity` values (0: keeps nothing).
    pub fn new(capacity: usize) -> Self {
        Lru {
            capacity,
            entries: VecDeque::with_capacity(capacity),
        }
    }

    /// The value under `key`, now the most recently used.
    pub fn get(&mut self, key: &str) -> Option<Arc<T>> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        let entry = self.entries.remove(at)?;
        let value = entry.1.clone();
        self.entries.push_front(entry);
        Some(value)
    }

    /// Keeps `value` under `key` as the most recently used; drops the least recently used
    /// beyond the capacity.
    pub fn put(&mut self, key: &str, value: Arc<T>) {
        self.entries.retain(|(k, _)| k != key);
        if self.capacity == 0 {
            return;
        }
        self.entries.push_front((key.to_owned(), value));
        self.entries.truncate(self.capacity);
    }

    /// How many values it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_goes_first() {
        let mut lru = Lru::new(2);
        lru.put("a", Arc::new(1));
        lru.put("b", Arc::new(2));
        assert_eq!(lru.get("a").as_deref(), Some(&1));
        lru.put("c", Arc::new(3));
        assert_eq!(lru.get("b"), None, "b was used least recently");
        assert_eq!(lru.get("a").as_deref(), Some(&1));
        assert_eq!(lru.get("c").as_deref(), Some(&3));
        assert_eq!(lru.len(), 2);
    }

    #[test]
    fn putting_a_key_again_replaces_its_value() {
        let mut lru = Lru::new(2);
        lru.put("a", Arc::new(1));
        lru.put("a", Arc::new(10));
        assert_eq!(lru.len(), 1);
        assert_eq!(lru.get("a").as_deref(), Some(&10));
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let mut lru = Lru::new(0);
        lru.put("a", Arc::new(1));
        assert_eq!(lru.len(), 0);
        assert_eq!(lru.get("a"), None);
    }
}
