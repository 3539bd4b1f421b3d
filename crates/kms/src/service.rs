//! The KMS service: configuration, key lookup through the cache, and the write loop that every
//! state change goes through.

use std::sync::Arc;
use std::time::Duration;

use keyward_crypto::{AeadKey, SecretBytes, encode_aad, random_secret};
use time::OffsetDateTime;

use crate::cache::{Entry, KeyCache, Leases, LoadedVersion, Versions};
use crate::clock::Clock;
use crate::create::GENERATED_KEY_BYTES;
use crate::error::KmsError;
use crate::ids::{InstanceId, KeyId, KeyRef, KeyVersionId};
use crate::instance_policy_cache::InstancePolicyCache;
use crate::key::Key;
use crate::ports::{Access, KeyEventKind, KeyStore, MasterKey, RootKeyVault, StoredVersion};
use crate::version_key::{VersionKey, tagged, vault_reference};
use keyward_iam as iam;

/// Tunables of the KMS service.
#[derive(Clone, Debug)]
pub struct KmsConfig {
    /// How long cached key state may be used before it is read again (the bound within which
    /// a change made on another node is seen).
    pub cache_ttl: Duration,
    /// Encryptions allowed per key version before it is rotated (random 96-bit nonces).
    pub encryption_limit: u64,
    /// Encryptions reserved from the persisted counter at a time.
    pub lease_size: u64,
    /// Most rings per instance.
    pub max_key_rings: usize,
    /// Most aliases per instance (Key Protect: 1000).
    pub max_aliases_per_instance: u32,
    /// Most keys held in the in-memory key cache.
    pub key_cache_entries: usize,
}

impl Default for KmsConfig {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_secs(2),
            // NIST SP 800-38D §8.3: at most 2^32 invocations with random IVs; keep a margin.
            encryption_limit: (1u64 << 32) - (1u64 << 24),
            lease_size: 1 << 16,
            max_key_rings: 50,
            max_aliases_per_instance: crate::key::MAX_ALIASES_PER_INSTANCE,
            key_cache_entries: 100_000,
        }
    }
}

/// The KMS domain service.
pub struct Kms<S, M> {
    pub(crate) store: S,
    pub(crate) master: M,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: KmsConfig,
    pub(crate) cache: KeyCache,
    pub(crate) leases: Leases,
    pub(crate) instance_policies: InstancePolicyCache,
    /// Where root key versions are kept in strict mode; `None`: sealed under the master key.
    pub(crate) vault: Option<Arc<dyn RootKeyVault>>,
}

/// A version just made, not yet stored.
pub(crate) struct NewVersion {
    pub stored: StoredVersion,
    /// Its size in bits.
    pub bit_length: u32,
    /// A standard key's material (its owner reads it back); `None` for root keys.
    pub material: Option<SecretBytes>,
}

/// AAD domain for root-key material sealed under the master key.
const MATERIAL_AAD: &str = "keyward.kms.material.v1";

impl<S: KeyStore, M: MasterKey> Kms<S, M> {
    /// Builds the service over its ports.
    pub fn new(store: S, master: M, clock: Arc<dyn Clock>, config: KmsConfig) -> Self {
        let cache = KeyCache::new(config.cache_ttl, config.key_cache_entries);
        Self {
            store,
            master,
            clock,
            cache,
            leases: Leases::default(),
            instance_policies: InstancePolicyCache::new(config.cache_ttl),
            config,
            vault: None,
        }
    }

    /// Keeps every root key version made from now on in `vault` (the HSM's strict mode).
    /// Versions sealed under the master key before stay usable.
    #[must_use]
    pub fn with_vault(mut self, vault: Arc<dyn RootKeyVault>) -> Self {
        self.vault = Some(vault);
        self
    }

    /// Forgets a cached key (another node changed it).
    pub fn forget_key(&self, key: KeyId) {
        self.cache.invalidate(key);
    }

    /// The store (for composition and tests).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The master key (the composition root seals its own secrets with it too).
    pub fn master(&self) -> &M {
        &self.master
    }

    /// The clock every rule reads.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// What a key version's material is bound to when sealed under the master key.
    pub fn material_aad(key: KeyId, version: KeyVersionId) -> Vec<u8> {
        encode_aad(
            MATERIAL_AAD,
            &[key.as_uuid().as_bytes(), version.as_uuid().as_bytes()],
        )
    }

    /// A new version of `key`: a root key's is made in the vault when there is one (generated
    /// there, or `payload` imported); otherwise the material (`payload`, or 256 fresh bits) is
    /// sealed under the master key.
    pub(crate) fn new_version(
        &self,
        key: KeyId,
        extractable: bool,
        payload: Option<SecretBytes>,
        now: OffsetDateTime,
    ) -> Result<NewVersion, KmsError> {
        let id = KeyVersionId::new_random();
        let bits = |len: usize| u32::try_from(len * 8).unwrap_or(u32::MAX);
        if let (Some(vault), false) = (&self.vault, extractable) {
            let bit_length = payload
                .as_ref()
                .map_or(bits(GENERATED_KEY_BYTES), |p| bits(p.len()));
            let reference = vault.create(key, id, payload.as_ref())?;
            return Ok(NewVersion {
                stored: StoredVersion {
                    id,
                    key_id: key,
                    created_at: now,
                    wrapped_material: tagged(&reference),
                },
                bit_length,
                material: None,
            });
        }
        let material = match payload {
            Some(payload) => payload,
            None => random_secret(GENERATED_KEY_BYTES).map_err(|_| KmsError::Internal)?,
        };
        let wrapped_material = self.master.wrap(&Self::material_aad(key, id), &material)?;
        Ok(NewVersion {
            stored: StoredVersion {
                id,
                key_id: key,
                created_at: now,
                wrapped_material,
            },
            bit_length: bits(material.len()),
            material: extractable.then_some(material),
        })
    }

    /// Destroys what a version that is not (or no longer) stored left in the vault; the vault
    /// logs a failure (the object then stays, unreachable: nothing names it).
    pub(crate) fn discard(&self, version: &StoredVersion) {
        if let (Some(vault), Some(reference)) =
            (&self.vault, vault_reference(&version.wrapped_material))
        {
            // An object left behind is unreachable (nothing stored names it), not a leak of
            // material: the token never lets it out.
            let _ = vault.destroy(reference);
        }
    }

    /// Opens a version's material.
    pub(crate) fn open_version(&self, version: &StoredVersion) -> Result<SecretBytes, KmsError> {
        self.master.unwrap(
            &Self::material_aad(version.key_id, version.id),
            &version.wrapped_material,
        )
    }

    /// A root key version, ready to use: opened into memory, or found in the vault.
    fn version_key(&self, version: &StoredVersion) -> Result<VersionKey, KmsError> {
        match vault_reference(&version.wrapped_material) {
            Some(reference) => {
                // Made in strict mode: without the vault (a node started without it) the
                // version cannot be used.
                let vault = self.vault.as_ref().ok_or(KmsError::Internal)?;
                Ok(VersionKey::Vault(vault.cipher(version.id, reference)?))
            }
            None => {
                let material = self.open_version(version)?;
                Ok(VersionKey::Memory(
                    AeadKey::new(material.expose_secret()).map_err(|_| KmsError::Internal)?,
                ))
            }
        }
    }

    /// Reads a key from the store, treating auto-purged keys as absent.
    pub(crate) async fn fetch(&self, instance: InstanceId, key: &KeyRef) -> Result<Key, KmsError> {
        let now = self.now();
        self.store
            .find_key(instance, key)
            .await?
            .filter(|k| !k.is_auto_purged(now))
            .ok_or(KmsError::KeyNotFound)
    }

    /// The cached key with prepared versions, loading it when absent or stale.
    pub(crate) async fn loaded(
        &self,
        instance: InstanceId,
        key_ref: &KeyRef,
    ) -> Result<Arc<Entry>, KmsError> {
        let cached_id = match key_ref {
            KeyRef::Id(id) => Some(*id),
            KeyRef::Alias(alias) => self.cache.alias(instance, alias),
        };
        if let Some(entry) = cached_id.and_then(|id| self.cache.get(id)) {
            let alias_still_there = match key_ref {
                KeyRef::Id(_) => true,
                KeyRef::Alias(alias) => entry.key.aliases.contains(alias),
            };
            if entry.key.instance == instance
                && alias_still_there
                && !entry.key.is_auto_purged(self.now())
            {
                return Ok(entry);
            }
        }
        let key = self.fetch(instance, key_ref).await?;
        let versions = match self
            .cache
            .versions_if_current(key.id, key.current_version.id)
        {
            Some(versions) => versions,
            None => Arc::new(self.load_versions(&key).await?),
        };
        Ok(self.cache.insert(key, versions))
    }

    async fn load_versions(&self, key: &Key) -> Result<Versions, KmsError> {
        let stored = self.store.versions(key.id).await?;
        let mut list = Vec::with_capacity(stored.len());
        for version in &stored {
            let key = if key.extractable {
                None
            } else {
                Some(self.version_key(version)?)
            };
            list.push(LoadedVersion {
                id: version.id,
                key,
            });
        }
        Ok(Versions { list })
    }

    /// Refuses unless the caller may perform `action` in the key's ring.
    pub(crate) fn authorize(
        access: &dyn Access,
        action: iam::Action,
        key: &Key,
    ) -> Result<(), KmsError> {
        if access.allows(action, Some(&key.key_ring)) {
            Ok(())
        } else {
            Err(KmsError::Forbidden(action))
        }
    }

    /// Refuses, before any key is looked up, unless the caller may perform `action` somewhere
    /// in the instance: a caller without permission learns nothing about which keys exist.
    pub(crate) fn require_somewhere(
        access: &dyn Access,
        action: iam::Action,
    ) -> Result<(), KmsError> {
        if access.rings(action).any() {
            Ok(())
        } else {
            Err(KmsError::Forbidden(action))
        }
    }

    /// Refuses unless the caller may perform the instance-wide `action`.
    pub(crate) fn require_instance(
        access: &dyn Access,
        action: iam::Action,
    ) -> Result<(), KmsError> {
        if access.allows(action, None) {
            Ok(())
        } else {
            Err(KmsError::Forbidden(action))
        }
    }

    /// Read-modify-write of one key with optimistic concurrency; `change` sees the fresh key.
    pub(crate) async fn modify<F>(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        action: iam::Action,
        event: KeyEventKind,
        change: F,
    ) -> Result<Key, KmsError>
    where
        F: Fn(&mut Key, OffsetDateTime) -> Result<(), KmsError> + Send + Sync,
    {
        Self::require_somewhere(access, action)?;
        for _ in 0..8 {
            let mut key = self.fetch(instance, key_ref).await?;
            Self::authorize(access, action, &key)?;
            let expected = key.revision;
            change(&mut key, self.now())?;
            if self.store.save_key(&key, expected, event).await? {
                self.cache.invalidate(key.id);
                return Ok(key);
            }
        }
        Err(KmsError::Conflict)
    }
}
