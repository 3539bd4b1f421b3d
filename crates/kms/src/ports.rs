//! The ports the KMS domain needs from the outside world. Nothing here performs I/O; adapters
//! (the `store` crate, the software or PKCS#11 master key) implement them.

use std::future::Future;

use keyward_crypto::SecretBytes;
use keyward_iam as iam;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::KmsError;
use crate::ids::{Alias, InstanceId, KeyId, KeyRef, KeyRingId, KeyVersionId};
use crate::import_token::ImportToken;
use crate::instance_policy::{InstancePolicies, InstancePolicy};
use crate::key::Key;
use crate::state::KeyState;

/// One version of a key's material, as persisted: sealed under the master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredVersion {
    /// Version id.
    pub id: KeyVersionId,
    /// The key it belongs to.
    pub key_id: KeyId,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// Material sealed by [`MasterKey::wrap`].
    pub wrapped_material: Vec<u8>,
}

/// Filters of `GET /keys` and `HEAD /keys`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyQuery {
    /// States to include (stored states; Deactivated is matched as Active past expiry).
    pub states: Vec<KeyState>,
    /// `Some(true)` standard keys only, `Some(false)` root keys only.
    pub extractable: Option<bool>,
    /// Only this ring.
    pub key_ring: Option<KeyRingId>,
    /// Only these rings (the caller's readable rings); `None` for all.
    pub rings: Option<Vec<KeyRingId>>,
    /// Page size.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u32,
}

/// A registration: a cloud resource that a root key protects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The key.
    pub key_id: KeyId,
    /// The key's instance.
    pub instance: InstanceId,
    /// The protected resource's CRN.
    pub resource_crn: String,
    /// Free text.
    pub description: Option<String>,
    /// When true, the key cannot be deleted, not even with `force`.
    pub prevent_key_deletion: bool,
    /// The key version the resource uses.
    pub key_version: KeyVersionId,
    /// Who registered it.
    pub created_by: String,
    /// When.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// What happened to a key (written with the change, in its transaction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyEventKind {
    /// A new version became current.
    Rotated,
    /// Active → Suspended: the key no longer wraps or unwraps.
    Disabled,
    /// Suspended → Active.
    Enabled,
    /// → Destroyed.
    Deleted,
    /// Destroyed → Active.
    Restored,
    /// Gone for good.
    Purged,
    /// Moved to another key ring.
    Moved,
    /// A key policy was set.
    PolicyChanged,
    /// A user authorized the key's deletion (dual authorization).
    DeletionAuthorized,
    /// The authorization to delete was withdrawn.
    DeletionCancelled,
    /// A user asked for the key's state to be told again to everything that uses it.
    Synced,
}

impl KeyEventKind {
    /// Stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Rotated => "rotated",
            Self::Disabled => "disabled",
            Self::Enabled => "enabled",
            Self::Deleted => "deleted",
            Self::Restored => "restored",
            Self::Purged => "purged",
            Self::Moved => "moved",
            Self::PolicyChanged => "policy_changed",
            Self::DeletionAuthorized => "deletion_authorized",
            Self::DeletionCancelled => "deletion_cancelled",
            Self::Synced => "synced",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Rotated,
            Self::Disabled,
            Self::Enabled,
            Self::Deleted,
            Self::Restored,
            Self::Purged,
            Self::Moved,
            Self::PolicyChanged,
            Self::DeletionAuthorized,
            Self::DeletionCancelled,
            Self::Synced,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Whether DEKs cached under the key must be dropped: it may no longer be usable, or a sync
    /// asks everything that uses it to look at its state again.
    pub const fn revokes(self) -> bool {
        matches!(
            self,
            Self::Disabled | Self::Deleted | Self::Purged | Self::Synced
        )
    }
}

/// A key event, numbered in commit order by the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    /// Its number (increasing).
    pub id: i64,
    /// The key.
    pub key: KeyId,
    /// The key's instance.
    pub instance: InstanceId,
    /// What happened.
    pub kind: KeyEventKind,
    /// When.
    pub at: OffsetDateTime,
}

/// Alias quotas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AliasLimits {
    /// Per key (Key Protect: 5).
    pub per_key: u32,
    /// Per instance (Key Protect: 1000).
    pub per_instance: u32,
}

/// A key ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRing {
    /// Its id.
    pub id: KeyRingId,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Creator.
    pub created_by: String,
}

/// Persistence of keys, versions, aliases and rings.
///
/// Writes to a key use optimistic concurrency: `save_key` and `add_version` succeed only when
/// the stored revision equals `expected_revision`, and store the key's new revision.
pub trait KeyStore: Send + Sync + 'static {
    /// Inserts a new key with its first version and aliases. `AliasTaken` if an alias is used.
    fn create_key(
        &self,
        key: &Key,
        version: &StoredVersion,
    ) -> impl Future<Output = Result<(), KmsError>> + Send;

    /// Finds a key of the instance by id or alias (purged keys are gone).
    fn find_key(
        &self,
        instance: InstanceId,
        key: &KeyRef,
    ) -> impl Future<Output = Result<Option<Key>, KmsError>> + Send;

    /// One page of keys, in creation order.
    fn list_keys(
        &self,
        instance: InstanceId,
        query: &KeyQuery,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<Key>, KmsError>> + Send;

    /// How many keys match (ignoring limit and offset).
    fn count_keys(
        &self,
        instance: InstanceId,
        query: &KeyQuery,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, KmsError>> + Send;

    /// Saves metadata and state with the key event `event`, in one transaction; `Ok(false)` when
    /// the revision moved on meanwhile (nothing written).
    fn save_key(
        &self,
        key: &Key,
        expected_revision: i64,
        event: KeyEventKind,
    ) -> impl Future<Output = Result<bool, KmsError>> + Send;

    /// Saves the rotated key, its new version and a `Rotated` event in one transaction;
    /// `Ok(false)` on conflict.
    fn add_version(
        &self,
        key: &Key,
        expected_revision: i64,
        version: &StoredVersion,
    ) -> impl Future<Output = Result<bool, KmsError>> + Send;

    /// All versions of a key, newest first.
    fn versions(
        &self,
        key: KeyId,
    ) -> impl Future<Output = Result<Vec<StoredVersion>, KmsError>> + Send;

    /// Removes a destroyed key, its versions and aliases for good, with a `Purged` event, if its
    /// revision is still `expected_revision`; `Ok(false)` when it changed meanwhile (e.g.
    /// restored).
    fn purge_key(
        &self,
        key: &Key,
        expected_revision: i64,
    ) -> impl Future<Output = Result<bool, KmsError>> + Send;

    /// The key events after `after`, oldest first (at most `limit`): how a node that missed
    /// notifications catches up.
    fn key_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<KeyEvent>, KmsError>> + Send;

    /// Adds an alias atomically with its quotas: `AliasTaken` if another key of the instance
    /// has it, `AliasQuota` past `limits.per_key` or `limits.per_instance`.
    fn add_alias(
        &self,
        instance: InstanceId,
        key: KeyId,
        alias: &Alias,
        now: OffsetDateTime,
        by: &str,
        limits: AliasLimits,
    ) -> impl Future<Output = Result<(), KmsError>> + Send;

    /// Removes an alias; `Ok(false)` if the key did not have it.
    fn remove_alias(
        &self,
        instance: InstanceId,
        key: KeyId,
        alias: &Alias,
    ) -> impl Future<Output = Result<bool, KmsError>> + Send;

    /// Creates a ring (`KeyRingExists`, `KeyRingQuota`).
    fn create_key_ring(
        &self,
        instance: InstanceId,
        ring: &KeyRing,
        max_rings: usize,
    ) -> impl Future<Output = Result<(), KmsError>> + Send;

    /// The rings of an instance (without the implicit `default`).
    fn list_key_rings(
        &self,
        instance: InstanceId,
    ) -> impl Future<Output = Result<Vec<KeyRing>, KmsError>> + Send;

    /// Whether a (non-default) ring exists.
    fn key_ring_exists(
        &self,
        instance: InstanceId,
        ring: &KeyRingId,
    ) -> impl Future<Output = Result<bool, KmsError>> + Send;

    /// Deletes a ring: `KeyRingNotEmpty` while it holds keys that are not destroyed; with
    /// `force` the destroyed keys move to `default` first. `KeyRingNotFound` if absent.
    fn delete_key_ring(
        &self,
        instance: InstanceId,
        ring: &KeyRingId,
        force: bool,
    ) -> impl Future<Output = Result<(), KmsError>> + Send;

    /// Creates or replaces a registration.
    fn put_registration(
        &self,
        r: &Registration,
    ) -> impl Future<Output = Result<(), KmsError>> + Send;

    /// Removes a registration; `Ok(false)` if absent.
    fn remove_registration(
        &self,
        key: KeyId,
        resource_crn: &str,
    ) -> impl Future<Output = Result<bool, KmsError>> + Send;

    /// Registrations of one key, or of every key of the instance.
    fn registrations(
        &self,
        instance: InstanceId,
        key: Option<KeyId>,
    ) -> impl Future<Output = Result<Vec<Registration>, KmsError>> + Send;

    /// Removes every registration of a key.
    fn remove_registrations(&self, key: KeyId)
    -> impl Future<Output = Result<(), KmsError>> + Send;

    /// The policies of an instance.
    fn instance_policies(
        &self,
        instance: InstanceId,
    ) -> impl Future<Output = Result<InstancePolicies, KmsError>> + Send;

    /// Sets instance policies in one transaction: each replaces the policy of its kind, keeping
    /// who first set that kind and when.
    fn put_instance_policies(
        &self,
        instance: InstanceId,
        policies: &[InstancePolicy],
    ) -> impl Future<Output = Result<(), KmsError>> + Send;

    /// Stores the instance's import token, replacing any other.
    fn put_import_token(
        &self,
        token: &ImportToken,
    ) -> impl Future<Output = Result<(), KmsError>> + Send;

    /// The instance's import token, if any (expired or not).
    fn import_token(
        &self,
        instance: InstanceId,
    ) -> impl Future<Output = Result<Option<ImportToken>, KmsError>> + Send;

    /// Counts one retrieval of the instance's token and returns it, if it has retrievals left
    /// and has not expired at `now`; `None` otherwise (nothing counted).
    fn retrieve_import_token(
        &self,
        instance: InstanceId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<ImportToken>, KmsError>> + Send;

    /// Removes the instance's token made at `created_at`; `Ok(false)` if that token is gone
    /// (spent or replaced).
    fn delete_import_token(
        &self,
        instance: InstanceId,
        created_at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, KmsError>> + Send;

    /// Records `event` for `key` without changing it (a sync).
    fn record_key_event(
        &self,
        key: &Key,
        event: KeyEventKind,
    ) -> impl Future<Output = Result<(), KmsError>> + Send;

    /// Keys whose rotation policy is due at `now` (Active, not expired), soonest first.
    fn keys_due_for_rotation(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(InstanceId, KeyId)>, KmsError>> + Send;

    /// Takes or renews the lease `name` for `owner` until `until`, if it is free, expired at
    /// `now`, or already `owner`'s; `Ok(false)` while another owner holds it.
    fn try_lease(
        &self,
        name: &str,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, KmsError>> + Send;

    /// Adds `count` to the persisted encryption counter of a version and returns the new
    /// total. The counter only grows, so a crash can lose budget but never reuse it.
    fn reserve_encryptions(
        &self,
        version: KeyVersionId,
        count: u64,
    ) -> impl Future<Output = Result<u64, KmsError>> + Send;
}

/// The top of the key hierarchy: seals root-key material for storage.
pub trait MasterKey: Send + Sync + 'static {
    /// Identifies the master key (stored with the data so a wrong master key is detected).
    fn id(&self) -> Uuid;
    /// Seals material, binding it to `aad`.
    fn wrap(&self, aad: &[u8], material: &SecretBytes) -> Result<Vec<u8>, KmsError>;
    /// Opens sealed material; any failure is [`KmsError::Internal`].
    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, KmsError>;
}

/// The caller's permissions within one instance, possibly narrower in some rings. The server
/// implements it over IAM's decision; the KMS only names what it is about to do.
pub trait Access: Send + Sync {
    /// Whether the caller may perform `action` on keys in `ring` (or, for instance-wide actions
    /// such as key-ring management, on the whole instance when `ring` is `None`).
    fn allows(&self, action: iam::Action, ring: Option<&KeyRingId>) -> bool;
    /// Where in the instance the caller may perform `action`.
    fn rings(&self, action: iam::Action) -> iam::Rings;
    /// The caller's IAM id, recorded as creator/deleter.
    fn principal(&self) -> &str;
}

/// A shared master key (the KMS and IAM's token signing keys use the same one).
impl<M: MasterKey + ?Sized> MasterKey for std::sync::Arc<M> {
    fn id(&self) -> Uuid {
        (**self).id()
    }
    fn wrap(&self, aad: &[u8], material: &SecretBytes) -> Result<Vec<u8>, KmsError> {
        (**self).wrap(aad, material)
    }
    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, KmsError> {
        (**self).unwrap(aad, wrapped)
    }
}

/// Where root key versions are kept in the HSM's strict mode: each version is a key object in
/// the token, made there (generated or imported) and used there; the store keeps only a
/// reference to it. Without a vault, root key material is sealed under the master key and
/// opened into memory on use.
pub trait RootKeyVault: Send + Sync + 'static {
    /// Makes version `version` of root key `key` in the vault: generates 256 bits when
    /// `material` is `None`, else imports `material` (16, 24 or 32 bytes). Returns the reference
    /// the store keeps.
    fn create(
        &self,
        key: KeyId,
        version: KeyVersionId,
        material: Option<&SecretBytes>,
    ) -> Result<Vec<u8>, KmsError>;
    /// The version behind `reference`, ready to seal and open.
    fn cipher(
        &self,
        version: KeyVersionId,
        reference: &[u8],
    ) -> Result<std::sync::Arc<dyn VersionCipher>, KmsError>;
    /// Destroys the version's object (its key was purged, or never stored).
    fn destroy(&self, reference: &[u8]) -> Result<(), KmsError>;
}

/// A root key version held elsewhere: seals and opens in Keyward's ciphertext format with the
/// version's id in the header, so ciphertexts do not say where the version is kept.
pub trait VersionCipher: Send + Sync {
    /// Seals `plaintext`, binding it to `aad`.
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KmsError>;
    /// Opens a ciphertext made by [`VersionCipher::seal`]; any failure is
    /// [`KmsError::CiphertextInvalid`].
    fn open(&self, aad: &[u8], ciphertext: &[u8]) -> Result<SecretBytes, KmsError>;
}
