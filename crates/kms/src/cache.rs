//! The in-memory view of keys used on the hot path: metadata plus prepared AES keys per version,
//! refreshed from the store after a bounded age so that changes made by other nodes are seen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::ids::{Alias, InstanceId, KeyId, KeyVersionId};
use crate::key::Key;
use crate::version_key::VersionKey;

/// One version, ready to use.
pub(crate) struct LoadedVersion {
    pub id: KeyVersionId,
    /// The usable key; `None` for standard keys, whose material is only read on request.
    pub key: Option<VersionKey>,
}

/// All versions of a key, newest first.
pub(crate) struct Versions {
    pub list: Vec<LoadedVersion>,
}

impl Versions {
    pub fn current(&self) -> Option<&LoadedVersion> {
        self.list.first()
    }

    pub fn find(&self, id: KeyVersionId) -> Option<&LoadedVersion> {
        self.list.iter().find(|v| v.id == id)
    }
}

/// A cached key.
pub(crate) struct Entry {
    pub key: Key,
    pub versions: Arc<Versions>,
    fetched: Instant,
}

/// Keys by id, with an alias index; at most `max_entries` keys.
pub(crate) struct KeyCache {
    ttl: Duration,
    max_entries: usize,
    keys: RwLock<HashMap<KeyId, Arc<Entry>>>,
    aliases: RwLock<HashMap<(InstanceId, Alias), KeyId>>,
}

impl KeyCache {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries: max_entries.max(1),
            keys: RwLock::default(),
            aliases: RwLock::default(),
        }
    }

    /// Makes room for one more key: drops stale entries, then the oldest tenth.
    fn make_room(&self, keys: &mut HashMap<KeyId, Arc<Entry>>) {
        if keys.len() < self.max_entries {
            return;
        }
        keys.retain(|_, e| e.fetched.elapsed() < self.ttl);
        if keys.len() < self.max_entries {
            return;
        }
        let mut by_age: Vec<(Instant, KeyId)> =
            keys.iter().map(|(id, e)| (e.fetched, *id)).collect();
        by_age.sort_unstable_by_key(|(at, _)| *at);
        let evict = (self.max_entries / 10).max(1);
        for (_, id) in by_age.into_iter().take(evict) {
            keys.remove(&id);
        }
        let mut aliases = self.aliases.write().unwrap_or_else(PoisonError::into_inner);
        aliases.retain(|_, id| keys.contains_key(id));
    }

    /// How many keys are cached.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// A fresh entry, if there is one.
    pub fn get(&self, id: KeyId) -> Option<Arc<Entry>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.get(&id)
            .filter(|e| e.fetched.elapsed() < self.ttl)
            .cloned()
    }

    /// The versions cached for `id` (fresh or not), reusable when the key did not rotate.
    pub fn versions_if_current(&self, id: KeyId, current: KeyVersionId) -> Option<Arc<Versions>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.get(&id)
            .filter(|e| e.versions.current().is_some_and(|v| v.id == current))
            .map(|e| Arc::clone(&e.versions))
    }

    pub fn alias(&self, instance: InstanceId, alias: &Alias) -> Option<KeyId> {
        let aliases = self.aliases.read().unwrap_or_else(PoisonError::into_inner);
        aliases.get(&(instance, alias.clone())).copied()
    }

    pub fn insert(&self, key: Key, versions: Arc<Versions>) -> Arc<Entry> {
        {
            let mut aliases = self.aliases.write().unwrap_or_else(PoisonError::into_inner);
            for alias in &key.aliases {
                aliases.insert((key.instance, alias.clone()), key.id);
            }
        }
        let id = key.id;
        let entry = Arc::new(Entry {
            key,
            versions,
            fetched: Instant::now(),
        });
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        if !keys.contains_key(&id) {
            self.make_room(&mut keys);
        }
        keys.insert(id, Arc::clone(&entry));
        entry
    }

    /// Forgets a key and its aliases (after any local write).
    pub fn invalidate(&self, id: KeyId) {
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        self.aliases
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, key| *key != id);
    }
}

/// Encryption budget leased from the persisted per-version counter.
#[derive(Default)]
pub(crate) struct Leases {
    map: Mutex<HashMap<KeyVersionId, (u64, u64)>>,
}

impl Leases {
    /// Takes one encryption from the lease, if any is left.
    pub fn try_take(&self, version: KeyVersionId) -> bool {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get_mut(&version) {
            Some((next, end)) if *next < *end => {
                *next += 1;
                true
            }
            _ => false,
        }
    }

    /// Installs a freshly reserved range `[start, end)` and takes its first encryption.
    pub fn install_and_take(&self, version: KeyVersionId, start: u64, end: u64) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.insert(version, (start + 1, end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::sample_key;

    fn versions() -> Arc<Versions> {
        Arc::new(Versions { list: vec![] })
    }

    #[test]
    fn the_cache_holds_at_most_its_bound() {
        let cache = KeyCache::new(Duration::from_secs(60), 20);
        let first = sample_key();
        let first_id = first.id;
        cache.insert(first, versions());
        for _ in 0..100 {
            cache.insert(sample_key(), versions());
        }
        assert!(cache.len() <= 20, "{} keys cached", cache.len());
        assert!(cache.get(first_id).is_none(), "the oldest went first");
    }
}
