//! A bounded map whose entries end after a fixed age or at the next invalidation, whichever
//! comes first. IAM caches lookups with it so that a change made on this node is seen at once
//! and a change made on another node within the age bound.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Entries older than `max_age`, or made before the last [`ExpiringMap::invalidate`], are
/// misses.
pub struct ExpiringMap<K, V> {
    max_age: Duration,
    max_entries: usize,
    generation: AtomicU64,
    map: RwLock<HashMap<K, Entry<V>>>,
}

struct Entry<V> {
    at: Instant,
    generation: u64,
    value: V,
}

impl<K: Eq + Hash, V: Clone> ExpiringMap<K, V> {
    /// A map of at most `max_entries`, each valid for `max_age`.
    pub fn new(max_age: Duration, max_entries: usize) -> Self {
        Self {
            max_age,
            max_entries: max_entries.max(1),
            generation: AtomicU64::new(0),
            map: RwLock::default(),
        }
    }

    /// A fresh value.
    pub fn get(&self, key: &K) -> Option<V> {
        let generation = self.generation.load(Ordering::Acquire);
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.get(key)
            .filter(|e| e.generation == generation && e.at.elapsed() < self.max_age)
            .map(|e| e.value.clone())
    }

    /// The generation to pass to [`ExpiringMap::insert`]: read it before the lookup whose
    /// result is inserted, so that an invalidation during the lookup is not lost.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores a value looked up during `generation`; ignored if an invalidation came since.
    pub fn insert(&self, key: K, value: V, generation: u64) {
        if generation != self.generation.load(Ordering::Acquire) {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.max_entries {
            let now = Instant::now();
            let current = self.generation.load(Ordering::Acquire);
            map.retain(|_, e| e.generation == current && now - e.at < self.max_age);
            if map.len() >= self.max_entries {
                map.clear();
            }
        }
        map.insert(
            key,
            Entry {
                at: Instant::now(),
                generation,
                value,
            },
        );
    }

    /// Ends every entry now.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_end_at_invalidation_and_after_their_age() {
        let m = ExpiringMap::new(Duration::from_millis(50), 10);
        let g = m.generation();
        m.insert(1, "a", g);
        assert_eq!(m.get(&1), Some("a"));
        m.invalidate();
        assert_eq!(m.get(&1), None);
        // A lookup that started before the invalidation is not stored.
        m.insert(1, "stale", g);
        assert_eq!(m.get(&1), None);
        m.insert(2, "b", m.generation());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(m.get(&2), None);
    }

    #[test]
    fn size_is_bounded() {
        let m = ExpiringMap::new(Duration::from_secs(60), 4);
        for i in 0..100 {
            m.insert(i, i, m.generation());
        }
        let held = (0..100).filter(|i| m.get(i).is_some()).count();
        assert!(held <= 4, "{held} entries held");
        assert_eq!(m.get(&99), Some(99));
    }
}
