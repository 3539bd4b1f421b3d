//! Creating, importing, reading and listing keys.

use keyward_crypto::SecretBytes;
use time::OffsetDateTime;

use crate::error::KmsError;
use crate::ids::{Alias, InstanceId, KeyId, KeyRef, KeyRingId};
use crate::import_token::SecureImport;
use crate::instance_policy::InstancePolicies;
use crate::key::{Key, MAX_ALIASES_PER_KEY, VersionInfo};
use crate::policy::{KeyPolicies, PolicyChange, check_change};
use crate::ports::{Access, KeyQuery, KeyStore, MasterKey};
use crate::service::Kms;
use crate::state::{Action, KeyState};
use keyward_iam::Action as Op;

/// Largest standard-key payload.
pub const MAX_STANDARD_PAYLOAD: usize = 7_500;
/// Size of generated key material.
pub const GENERATED_KEY_BYTES: usize = 32;

/// A request to create or import a key.
pub struct NewKey {
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Standard (true) or root (false).
    pub extractable: bool,
    /// Material to import; generated when `None`.
    pub payload: Option<SecretBytes>,
    /// Expiration date.
    pub expiration: Option<OffsetDateTime>,
    /// Aliases to attach.
    pub aliases: Vec<Alias>,
    /// Ring to create it in.
    pub key_ring: KeyRingId,
    /// Policies of its own, in place of the instance's (`keys_with_policy_overrides`).
    pub policies: PolicyChange,
    /// Material brought through the instance's import token (secure import), in place of
    /// `payload`: opened, and the token spent, once every other check has passed.
    pub secure: Option<SecureImport>,
}

impl NewKey {
    /// A generated root key named `name` in the `default` ring, with nothing else set.
    pub fn root(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            description: None,
            tags: vec![],
            extractable: false,
            payload: None,
            expiration: None,
            aliases: vec![],
            key_ring: KeyRingId::default_ring(),
            policies: PolicyChange::default(),
            secure: None,
        }
    }
}

/// A key together with the material a reader may see (standard keys only).
pub struct KeyWithPayload {
    /// The key.
    pub key: Key,
    /// The payload, for a standard key when asked for.
    pub payload: Option<SecretBytes>,
}

fn invalid(field: &'static str, requirement: &'static str) -> KmsError {
    KmsError::InvalidField { field, requirement }
}

fn validate(new: &NewKey, now: OffsetDateTime) -> Result<(), KmsError> {
    if new.name.trim().is_empty() || new.name.chars().count() > 90 {
        return Err(invalid("name", "a string of 1 to 90 characters"));
    }
    if new.name.chars().any(char::is_control) {
        return Err(invalid("name", "a string without control characters"));
    }
    if new
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 240)
    {
        return Err(invalid("description", "at most 240 characters"));
    }
    let bad_tag = |t: &String| t.chars().count() > 30 || t.contains(['<', '>', ',', ':', '&', '|']);
    if new.tags.len() > 30 || new.tags.iter().any(bad_tag) {
        return Err(invalid(
            "tags",
            "at most 30 tags of at most 30 characters, without < > , : & |",
        ));
    }
    if new.aliases.len() > MAX_ALIASES_PER_KEY {
        return Err(KmsError::AliasQuota);
    }
    if new.expiration.is_some_and(|e| e <= now) {
        return Err(invalid("expirationDate", "a date in the future"));
    }
    if new.secure.is_some() && (new.extractable || new.payload.is_some()) {
        return Err(invalid(
            "extractable",
            "false, without a plain payload: secure import brings root keys",
        ));
    }
    if let Some(payload) = &new.payload {
        if new.extractable {
            if payload.is_empty() || payload.len() > MAX_STANDARD_PAYLOAD {
                return Err(invalid("payload", "base64 data of 1 to 7500 bytes"));
            }
        } else if ![16, 24, 32].contains(&payload.len()) {
            return Err(invalid(
                "payload",
                "base64 key material of 16, 24 or 32 bytes",
            ));
        }
    }
    Ok(())
}

/// The policies a new key starts with: its own (overrides), else the instance's dual
/// authorization, and the instance's rotation schedule for a generated root key.
fn initial_policies(instance: &InstancePolicies, new: &NewKey, imported: bool) -> PolicyChange {
    let instance_rotation = if new.extractable || imported {
        None
    } else {
        instance.rotation()
    };
    PolicyChange {
        rotation: new.policies.rotation.or(instance_rotation),
        dual_auth_delete: new
            .policies
            .dual_auth_delete
            .or(instance.dual_auth_delete().then_some(true)),
    }
}

impl<S: KeyStore, M: MasterKey> Kms<S, M> {
    /// Creates (or imports) a key.
    pub async fn create_key(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        new: NewKey,
    ) -> Result<KeyWithPayload, KmsError> {
        if !access.allows(Op::KmsKeysCreate, Some(&new.key_ring)) {
            return Err(KmsError::Forbidden(Op::KmsKeysCreate));
        }
        let now = self.now();
        validate(&new, now)?;
        if !new.key_ring.is_default()
            && !self.store.key_ring_exists(instance, &new.key_ring).await?
        {
            return Err(KmsError::KeyRingNotFound);
        }
        let imported = new.payload.is_some() || new.secure.is_some();
        let instance_policies = self.store.instance_policies(instance).await?;
        instance_policies.key_create_import_access().check(
            new.extractable,
            imported,
            new.secure.is_some(),
        )?;
        let policies = initial_policies(&instance_policies, &new, imported);
        check_change(policies, new.extractable, imported, false)?;
        // Overriding the instance's dual authorization away takes the right to set policies.
        if policies.dual_auth_delete == Some(false)
            && instance_policies.dual_auth_delete()
            && !access.allows(Op::KmsPoliciesWrite, Some(&new.key_ring))
        {
            return Err(KmsError::Forbidden(Op::KmsPoliciesWrite));
        }
        // Last, as it spends the token: every refusal above leaves it for another try.
        let payload = match &new.secure {
            Some(import) => Some(self.open_and_spend(instance, import).await?),
            None => new.payload,
        };
        let id = KeyId::new_random();
        let made = self.new_version(id, new.extractable, payload, now)?;
        let version = made.stored;
        let key = Key {
            id,
            instance,
            name: new.name,
            description: new.description,
            tags: new.tags,
            extractable: new.extractable,
            imported,
            state: KeyState::Active,
            bit_length: made.bit_length,
            expiration: new.expiration,
            key_ring: new.key_ring,
            aliases: new.aliases,
            created_at: now,
            created_by: access.principal().to_owned(),
            updated_at: now,
            last_rotated_at: None,
            state_changed_at: now,
            deleted_at: None,
            deleted_by: None,
            current_version: VersionInfo {
                id: version.id,
                created_at: now,
            },
            policies: KeyPolicies::default(),
            deletion_authorization: None,
            revision: 0,
        };
        let mut key = key;
        if policies != PolicyChange::default()
            && let Err(refused) = key.set_policies(policies, access.principal(), now)
        {
            self.discard(&version);
            return Err(refused);
        }
        // On an error the row may still have committed (a connection lost during COMMIT): the
        // version's object stays; if it was not stored, nothing names it.
        self.store.create_key(&key, &version).await?;
        Ok(KeyWithPayload {
            key,
            payload: made.material,
        })
    }

    /// Reads a key; with `with_payload`, a standard key's material too (needs ReadPayload).
    pub async fn get_key(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        with_payload: bool,
    ) -> Result<KeyWithPayload, KmsError> {
        Self::require_somewhere(access, Op::KmsKeysReadMetadata)?;
        let key = self.fetch(instance, key_ref).await?;
        Self::authorize(access, Op::KmsKeysReadMetadata, &key)?;
        key.check(Action::Get, self.now())?;
        let payload = if with_payload && key.extractable && key.state != KeyState::Destroyed {
            Self::authorize(access, Op::KmsKeysRead, &key)?;
            let versions = self.store.versions(key.id).await?;
            let current = versions.first().ok_or(KmsError::Internal)?;
            Some(self.open_version(current)?)
        } else {
            None
        };
        Ok(KeyWithPayload { key, payload })
    }

    /// The query narrowed to the rings the caller may list; `Forbidden` when there are none.
    fn visible(access: &dyn Access, query: &KeyQuery) -> Result<KeyQuery, KmsError> {
        let mut query = query.clone();
        if let keyward_iam::Rings::Only(rings) = access.rings(Op::KmsKeysList) {
            if rings.is_empty() {
                return Err(KmsError::Forbidden(Op::KmsKeysList));
            }
            // A ring name that is not a valid id cannot hold keys; it is simply not listed.
            query.rings = Some(rings.iter().filter_map(|r| r.parse().ok()).collect());
        }
        Ok(query)
    }

    /// One page of the keys the caller may see.
    pub async fn list_keys(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        query: &KeyQuery,
    ) -> Result<Vec<Key>, KmsError> {
        let query = Self::visible(access, query)?;
        self.store.list_keys(instance, &query, self.now()).await
    }

    /// How many of the keys the caller may see match the query (ignoring paging).
    pub async fn count_keys(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        query: &KeyQuery,
    ) -> Result<u64, KmsError> {
        let query = Self::visible(access, query)?;
        self.store.count_keys(instance, &query, self.now()).await
    }

    /// The versions of a key, newest first. Without `all_key_states` only an Active key's.
    pub async fn key_versions(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        all_key_states: bool,
    ) -> Result<Vec<VersionInfo>, KmsError> {
        Self::require_somewhere(access, Op::KmsKeyVersionsList)?;
        let key = self.fetch(instance, key_ref).await?;
        Self::authorize(access, Op::KmsKeyVersionsList, &key)?;
        let state = key.effective_state(self.now());
        if !all_key_states && state != KeyState::Active {
            return Err(KmsError::InvalidState {
                action: Action::Manage,
                state,
            });
        }
        let versions = self.store.versions(key.id).await?;
        Ok(versions
            .into_iter()
            .map(|v| VersionInfo {
                id: v.id,
                created_at: v.created_at,
            })
            .collect())
    }
}
