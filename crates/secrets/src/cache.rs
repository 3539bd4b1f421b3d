//! Unwrapped DEKs, bounded in entries and age. Entries are dropped when their root key is
//! reported disabled or deleted, or when their generation is retired.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use keyward_crypto::AeadKey;
use uuid::Uuid;

use crate::model::{GenerationId, RootKey};

struct Entry {
    root: RootKey,
    key: Arc<AeadKey>,
    loaded: Instant,
}

/// The DEK cache.
pub struct DekCache {
    max_entries: usize,
    max_age: Duration,
    map: Mutex<HashMap<GenerationId, Entry>>,
    /// Bumped whenever DEKs are dropped for their root key, so that an unwrap that began before
    /// a revocation does not put its DEK back afterwards.
    revocations: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// What the cache has done since the process started (for metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DekCacheStats {
    /// Lookups that found a fresh DEK.
    pub hits: u64,
    /// Lookups that did not (absent or too old).
    pub misses: u64,
    /// DEKs evicted to make room for another.
    pub evictions: u64,
    /// DEKs held now.
    pub entries: u64,
}

impl DekCache {
    /// A cache of at most `max_entries`, each usable for `max_age`.
    pub fn new(max_entries: usize, max_age: Duration) -> Self {
        Self {
            max_entries: max_entries.max(1),
            max_age,
            map: Mutex::default(),
            revocations: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// Read before an unwrap; pass to [`DekCache::insert_unless_revoked`].
    pub fn revocation_epoch(&self) -> u64 {
        self.revocations.load(Ordering::Acquire)
    }

    /// Stores a DEK unwrapped since `epoch`, unless a root key was revoked meanwhile (the DEK is
    /// still returned, for the call that asked before the revocation).
    pub fn insert_unless_revoked(
        &self,
        epoch: u64,
        generation: GenerationId,
        root: RootKey,
        key: AeadKey,
    ) -> Arc<AeadKey> {
        let key = Arc::new(key);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        // Revocations bump the epoch under this lock, so the check and the insert are atomic.
        if self.revocations.load(Ordering::Acquire) == epoch {
            self.insert_locked(&mut map, generation, root, Arc::clone(&key));
        }
        key
    }

    /// A fresh DEK of the generation.
    pub fn get(&self, generation: GenerationId) -> Option<Arc<AeadKey>> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let found = match map.get(&generation) {
            Some(e) if e.loaded.elapsed() < self.max_age => Some(Arc::clone(&e.key)),
            Some(_) => {
                map.remove(&generation);
                None
            }
            None => None,
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores a DEK, evicting the oldest entry when full.
    pub fn insert(&self, generation: GenerationId, root: RootKey, key: AeadKey) -> Arc<AeadKey> {
        let key = Arc::new(key);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        self.insert_locked(&mut map, generation, root, Arc::clone(&key));
        key
    }

    fn insert_locked(
        &self,
        map: &mut HashMap<GenerationId, Entry>,
        generation: GenerationId,
        root: RootKey,
        key: Arc<AeadKey>,
    ) {
        if map.len() >= self.max_entries && !map.contains_key(&generation) {
            let oldest = map.iter().min_by_key(|(_, e)| e.loaded).map(|(g, _)| *g);
            if let Some(oldest) = oldest {
                map.remove(&oldest);
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        map.insert(
            generation,
            Entry {
                root,
                key,
                loaded: Instant::now(),
            },
        );
    }

    /// Drops one generation.
    pub fn forget_generation(&self, generation: GenerationId) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&generation);
    }

    /// Drops every DEK wrapped by `root` (reported disabled or deleted).
    pub fn forget_root(&self, root: &RootKey) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        self.revocations.fetch_add(1, Ordering::AcqRel);
        map.retain(|_, e| &e.root != root);
    }

    /// Drops every DEK wrapped by a customer key `key` of KMS instance `instance` (a key event
    /// said it was disabled, deleted or purged).
    pub fn forget_customer_key(&self, instance: Uuid, key: Uuid) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        self.revocations.fetch_add(1, Ordering::AcqRel);
        map.retain(|_, e| {
            !matches!(&e.root, RootKey::Customer(crn) if crn.instance == instance && crn.key == key)
        });
    }

    /// Hits, misses and evictions so far, and the entries held now.
    pub fn stats(&self) -> DekCacheStats {
        DekCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: u64::try_from(self.len()).unwrap_or(u64::MAX),
        }
    }

    /// Number of entries (for tests and metrics).
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn k() -> AeadKey {
        AeadKey::new(&[1u8; 32]).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn bounded_in_entries_and_age_and_dropped_by_root() {
        let c = DekCache::new(2, Duration::from_millis(50));
        let (a, b, d) = (
            GenerationId(Uuid::new_v4()),
            GenerationId(Uuid::new_v4()),
            GenerationId(Uuid::new_v4()),
        );
        c.insert(a, RootKey::Global, k());
        std::thread::sleep(Duration::from_millis(2));
        c.insert(b, RootKey::Global, k());
        c.insert(d, RootKey::Global, k());
        assert_eq!(c.len(), 2);
        assert!(c.get(a).is_none(), "the oldest entry is evicted");
        assert!(c.get(b).is_some());
        c.forget_root(&RootKey::Global);
        assert!(c.is_empty());
        c.insert(a, RootKey::Global, k());
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.get(a).is_none(), "entries expire");
    }

    #[test]
    fn stats_count_hits_misses_and_evictions() {
        let c = DekCache::new(1, Duration::from_secs(60));
        let (a, b) = (GenerationId(Uuid::new_v4()), GenerationId(Uuid::new_v4()));
        assert!(c.get(a).is_none());
        c.insert(a, RootKey::Global, k());
        assert!(c.get(a).is_some());
        c.insert(b, RootKey::Global, k());
        assert_eq!(
            c.stats(),
            DekCacheStats {
                hits: 1,
                misses: 1,
                evictions: 1,
                entries: 1
            }
        );
    }
}
