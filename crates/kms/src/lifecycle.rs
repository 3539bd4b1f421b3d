//! State changes, aliases and key rings.

use crate::error::KmsError;
use crate::ids::{Alias, InstanceId, KeyRef, KeyRingId};
use crate::key::{Key, MAX_ALIASES_PER_KEY};
use crate::policy::PolicyChange;
use crate::ports::{Access, AliasLimits, KeyEventKind, KeyRing, KeyStore, MasterKey};
use crate::service::Kms;
use crate::state::Action;
use keyward_iam::Action as Op;

impl<S: KeyStore, M: MasterKey> Kms<S, M> {
    /// Active → Suspended.
    pub async fn disable(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key: &KeyRef,
    ) -> Result<Key, KmsError> {
        self.modify(
            access,
            instance,
            key,
            Op::KmsKeysDisable,
            KeyEventKind::Disabled,
            |k, now| k.disable(now),
        )
        .await
    }

    /// Suspended → Active.
    pub async fn enable(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key: &KeyRef,
    ) -> Result<Key, KmsError> {
        self.modify(
            access,
            instance,
            key,
            Op::KmsKeysEnable,
            KeyEventKind::Enabled,
            |k, now| k.enable(now),
        )
        .await
    }

    /// → Destroyed. Registrations block it unless `force` (then they are removed);
    /// `preventKeyDeletion` blocks it always.
    pub async fn delete(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key: &KeyRef,
        force: bool,
    ) -> Result<Key, KmsError> {
        Self::require_somewhere(access, Op::KmsKeysDelete)?;
        let found = self.fetch(instance, key).await?;
        Self::authorize(access, Op::KmsKeysDelete, &found)?;
        let by = access.principal().to_owned();
        let now = self.now();
        found.check(crate::state::Action::Delete, now)?;
        // Before registrations are released: a refused deletion changes nothing.
        found.check_deletion_authorized(&by, now)?;
        self.release_registrations(instance, key, force).await?;
        self.modify(
            access,
            instance,
            key,
            Op::KmsKeysDelete,
            KeyEventKind::Deleted,
            move |k, now| k.delete(now, &by),
        )
        .await
    }

    /// Destroyed → Active.
    pub async fn restore(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key: &KeyRef,
    ) -> Result<Key, KmsError> {
        self.modify(
            access,
            instance,
            key,
            Op::KmsKeysRestore,
            KeyEventKind::Restored,
            |k, now| k.restore(now),
        )
        .await
    }

    /// Authorizes (`set`) or withdraws the deletion of a key under a dual-authorization
    /// policy; [`KmsError::NotDualAuth`] for a key without one.
    pub async fn set_for_deletion(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key: &KeyRef,
        set: bool,
    ) -> Result<Key, KmsError> {
        let by = access.principal().to_owned();
        if set {
            self.modify(
                access,
                instance,
                key,
                Op::KmsKeysSetForDeletion,
                KeyEventKind::DeletionAuthorized,
                move |k, now| k.authorize_deletion(&by, now),
            )
            .await
        } else {
            self.modify(
                access,
                instance,
                key,
                Op::KmsKeysUnsetForDeletion,
                KeyEventKind::DeletionCancelled,
                |k, now| k.cancel_deletion_authorization(now),
            )
            .await
        }
    }

    /// Sets a key's policies (rotation schedule, dual authorization of deletion).
    pub async fn set_policies(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key: &KeyRef,
        change: PolicyChange,
    ) -> Result<Key, KmsError> {
        let by = access.principal().to_owned();
        self.modify(
            access,
            instance,
            key,
            Op::KmsPoliciesWrite,
            KeyEventKind::PolicyChanged,
            move |k, now| k.set_policies(change, &by, now),
        )
        .await
    }

    /// Tells the key's current state again to everything that uses it: a `Synced` key event,
    /// on which every node drops what it caches under the key and asks the KMS afresh.
    pub async fn sync(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key: &KeyRef,
    ) -> Result<Key, KmsError> {
        let key = self.key_for(access, instance, key, Op::KmsKeysSync).await?;
        self.store
            .record_key_event(&key, KeyEventKind::Synced)
            .await?;
        self.cache.invalidate(key.id);
        Ok(key)
    }

    /// The key, once the caller may perform `action` on it (for actions with nothing more to
    /// do here, such as `sync`).
    pub async fn key_for(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        action: Op,
    ) -> Result<Key, KmsError> {
        Self::require_somewhere(access, action)?;
        let key = self.fetch(instance, key_ref).await?;
        Self::authorize(access, action, &key)?;
        Ok(key)
    }

    /// Removes a destroyed key for good, 4 hours or more after deletion.
    pub async fn purge(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
    ) -> Result<Key, KmsError> {
        Self::require_somewhere(access, Op::KmsKeysPurge)?;
        for _ in 0..8 {
            let key = self.fetch(instance, key_ref).await?;
            Self::authorize(access, Op::KmsKeysPurge, &key)?;
            key.check_purge(self.now())?;
            // Versions kept in the vault are destroyed there once the rows are gone.
            let versions = match self.vault {
                Some(_) => self.store.versions(key.id).await?,
                None => Vec::new(),
            };
            // Only if nothing (a restore, say) changed the key since it was checked.
            if self.store.purge_key(&key, key.revision).await? {
                versions.iter().for_each(|v| self.discard(v));
                self.cache.invalidate(key.id);
                return Ok(key);
            }
        }
        Err(KmsError::Conflict)
    }

    /// Moves a key to another (existing) ring.
    pub async fn move_key(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key: &KeyRef,
        ring: KeyRingId,
    ) -> Result<Key, KmsError> {
        if !access.allows(Op::KmsKeysMove, Some(&ring)) {
            return Err(KmsError::Forbidden(Op::KmsKeysMove));
        }
        if !ring.is_default() && !self.store.key_ring_exists(instance, &ring).await? {
            return Err(KmsError::KeyRingNotFound);
        }
        self.modify(
            access,
            instance,
            key,
            Op::KmsKeysMove,
            KeyEventKind::Moved,
            move |k, now| k.move_to(ring.clone(), now),
        )
        .await
    }

    /// Adds an alias.
    pub async fn add_alias(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        alias: &Alias,
    ) -> Result<Key, KmsError> {
        Self::require_somewhere(access, Op::KmsAliasesCreate)?;
        let key = self.fetch(instance, key_ref).await?;
        Self::authorize(access, Op::KmsAliasesCreate, &key)?;
        let now = self.now();
        key.check(Action::Manage, now)?;
        if key.aliases.contains(alias) {
            return Ok(key);
        }
        if key.aliases.len() >= MAX_ALIASES_PER_KEY {
            return Err(KmsError::AliasQuota);
        }
        let limits = AliasLimits {
            per_key: u32::try_from(MAX_ALIASES_PER_KEY).unwrap_or(u32::MAX),
            per_instance: self.config.max_aliases_per_instance,
        };
        self.store
            .add_alias(instance, key.id, alias, now, access.principal(), limits)
            .await?;
        self.cache.invalidate(key.id);
        Ok(key)
    }

    /// Removes an alias.
    pub async fn remove_alias(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        alias: &Alias,
    ) -> Result<(), KmsError> {
        Self::require_somewhere(access, Op::KmsAliasesDelete)?;
        let key = self.fetch(instance, key_ref).await?;
        Self::authorize(access, Op::KmsAliasesDelete, &key)?;
        if !self.store.remove_alias(instance, key.id, alias).await? {
            return Err(KmsError::AliasNotFound);
        }
        self.cache.invalidate(key.id);
        Ok(())
    }

    /// Creates a key ring.
    pub async fn create_key_ring(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        ring: KeyRingId,
    ) -> Result<KeyRing, KmsError> {
        if !access.allows(Op::KmsKeyRingsCreate, Some(&ring)) {
            return Err(KmsError::Forbidden(Op::KmsKeyRingsCreate));
        }
        if ring.is_default() {
            return Err(KmsError::KeyRingReserved);
        }
        let ring = KeyRing {
            id: ring,
            created_at: self.now(),
            created_by: access.principal().to_owned(),
        };
        // The implicit `default` ring counts toward the limit.
        let max = self.config.max_key_rings.saturating_sub(1);
        self.store.create_key_ring(instance, &ring, max).await?;
        Ok(ring)
    }

    /// The rings of an instance, `default` first.
    pub async fn list_key_rings(
        &self,
        access: &dyn Access,
        instance: InstanceId,
    ) -> Result<Vec<KeyRing>, KmsError> {
        Self::require_instance(access, Op::KmsKeyRingsList)?;
        let default = KeyRingId::default_ring();
        let mut rings = vec![KeyRing {
            id: default,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            created_by: String::new(),
        }];
        rings.extend(self.store.list_key_rings(instance).await?);
        Ok(rings)
    }

    /// Deletes a key ring.
    pub async fn delete_key_ring(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        ring: &KeyRingId,
        force: bool,
    ) -> Result<(), KmsError> {
        if !access.allows(Op::KmsKeyRingsDelete, Some(ring)) {
            return Err(KmsError::Forbidden(Op::KmsKeyRingsDelete));
        }
        if ring.is_default() {
            return Err(KmsError::KeyRingReserved);
        }
        self.store.delete_key_ring(instance, ring, force).await
    }
}
