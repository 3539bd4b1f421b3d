//! Wrap, unwrap, rewrap and rotate: the envelope-encryption operations of root keys.

use keyward_crypto::{SecretBytes, encode_aad, peek_key_version, random_secret};

use crate::cache::{Entry, LoadedVersion};
use crate::create::GENERATED_KEY_BYTES;
use crate::error::KmsError;
use crate::ids::{InstanceId, KeyRef, KeyVersionId};
use crate::key::{Key, VersionInfo};
use crate::ports::{Access, KeyStore, MasterKey};
use crate::service::Kms;
use crate::state::Action;
use keyward_iam::Action as Op;

/// AAD domain of DEKs wrapped by root keys.
const WRAP_AAD: &str = "keyward.kms.wrap.v1";
/// Largest plaintext a root key wraps (Key Protect's 4096-character base64 limit).
pub const MAX_WRAP_PLAINTEXT: usize = 3_072;
/// Most `aad` strings.
pub const MAX_AAD_ITEMS: usize = 126;
/// Longest `aad` string.
pub const MAX_AAD_ITEM_CHARS: usize = 255;

/// Result of a wrap.
pub struct Wrapped {
    /// The versioned ciphertext.
    pub ciphertext: Vec<u8>,
    /// The version that wrapped it.
    pub version: KeyVersionId,
    /// The generated DEK, when the caller sent no plaintext.
    pub generated: Option<SecretBytes>,
}

/// Result of an unwrap.
pub struct Unwrapped {
    /// The DEK.
    pub plaintext: SecretBytes,
    /// The version that had wrapped it.
    pub version: KeyVersionId,
    /// When that version is not the newest: the DEK wrapped again under the newest.
    pub rewrapped: Option<(Vec<u8>, KeyVersionId)>,
}

/// Result of a rewrap.
pub struct Rewrapped {
    /// The new ciphertext.
    pub ciphertext: Vec<u8>,
    /// The version that had wrapped the input.
    pub version: KeyVersionId,
    /// The version that wrapped the output.
    pub rewrapped_version: KeyVersionId,
}

fn wrap_aad(key: &Key, aad: &[String]) -> Result<Vec<u8>, KmsError> {
    if aad.len() > MAX_AAD_ITEMS || aad.iter().any(|a| a.chars().count() > MAX_AAD_ITEM_CHARS) {
        return Err(KmsError::InvalidField {
            field: "aad",
            requirement: "at most 126 strings of at most 255 characters",
        });
    }
    let key_id = key.id.as_uuid();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(aad.len() + 1);
    parts.push(key_id.as_bytes());
    parts.extend(aad.iter().map(String::as_bytes));
    Ok(encode_aad(WRAP_AAD, &parts))
}

impl<S: KeyStore, M: MasterKey> Kms<S, M> {
    /// Takes one encryption from the version's budget; `Ok(false)` once it is spent.
    async fn take_budget(&self, version: KeyVersionId) -> Result<bool, KmsError> {
        if self.leases.try_take(version) {
            return Ok(true);
        }
        let size = self.config.lease_size.max(1);
        let total = self.store.reserve_encryptions(version, size).await?;
        let start = total.saturating_sub(size);
        if start >= self.config.encryption_limit {
            return Ok(false);
        }
        self.leases
            .install_and_take(version, start, total.min(self.config.encryption_limit));
        Ok(true)
    }

    /// The newest version with budget for one more encryption, rotating automatically once
    /// the budget of the current one is spent.
    async fn sealing_version(
        &self,
        instance: InstanceId,
        key_ref: &KeyRef,
        entry: std::sync::Arc<Entry>,
    ) -> Result<std::sync::Arc<Entry>, KmsError> {
        let current = entry.versions.current().ok_or(KmsError::Internal)?.id;
        if self.take_budget(current).await? {
            return Ok(entry);
        }
        if entry.key.imported {
            return Err(KmsError::EncryptionLimitReached);
        }
        self.rotate_inner(instance, key_ref, None, Rotation::BudgetSpent)
            .await?;
        let entry = self.loaded(instance, key_ref).await?;
        let current = entry.versions.current().ok_or(KmsError::Internal)?.id;
        if self.take_budget(current).await? {
            Ok(entry)
        } else {
            Err(KmsError::EncryptionLimitReached)
        }
    }

    fn seal_with(
        version: &LoadedVersion,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        let key = version.key.as_ref().ok_or(KmsError::RootKeyRequired)?;
        key.seal(version.id, aad, plaintext)
    }

    /// The cached root key, after checking the caller's permission and the key's state.
    async fn usable(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        action: Action,
    ) -> Result<std::sync::Arc<Entry>, KmsError> {
        let operation = match action {
            Action::Wrap => Op::KmsKeysWrap,
            Action::Unwrap => Op::KmsKeysUnwrap,
            Action::Rewrap => Op::KmsKeysRewrap,
            _ => return Err(KmsError::Internal),
        };
        Self::require_somewhere(access, operation)?;
        let entry = self.loaded(instance, key_ref).await?;
        Self::authorize(access, operation, &entry.key)?;
        entry.key.require_root()?;
        entry.key.check(action, self.now())?;
        Ok(entry)
    }

    /// Opens a caller's ciphertext for unwrap or rewrap.
    async fn open_for(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        action: Action,
        ciphertext: &[u8],
        aad: &[String],
    ) -> Result<(std::sync::Arc<Entry>, Vec<u8>, SecretBytes, KeyVersionId), KmsError> {
        let entry = self.usable(access, instance, key_ref, action).await?;
        let aad = wrap_aad(&entry.key, aad)?;
        let (plaintext, version) = Self::open_with(&entry, &aad, ciphertext)?;
        Ok((entry, aad, plaintext, version))
    }

    /// Wraps `plaintext`, or a fresh 32-byte DEK when it is `None`.
    pub async fn wrap(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        plaintext: Option<SecretBytes>,
        aad: &[String],
    ) -> Result<Wrapped, KmsError> {
        let entry = self.usable(access, instance, key_ref, Action::Wrap).await?;
        if plaintext
            .as_ref()
            .is_some_and(|p| p.is_empty() || p.len() > MAX_WRAP_PLAINTEXT)
        {
            return Err(KmsError::InvalidField {
                field: "plaintext",
                requirement: "base64 data of 1 to 3072 bytes",
            });
        }
        let aad = wrap_aad(&entry.key, aad)?;
        let entry = self.sealing_version(instance, key_ref, entry).await?;
        let version = entry.versions.current().ok_or(KmsError::Internal)?;
        let (dek, generated) = match plaintext {
            Some(p) => (p, false),
            None => (
                random_secret(GENERATED_KEY_BYTES).map_err(|_| KmsError::Internal)?,
                true,
            ),
        };
        let ciphertext = Self::seal_with(version, &aad, dek.expose_secret())?;
        Ok(Wrapped {
            ciphertext,
            version: version.id,
            generated: generated.then_some(dek),
        })
    }

    /// Opens a ciphertext under the version named in it.
    fn open_with(
        entry: &Entry,
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<(SecretBytes, KeyVersionId), KmsError> {
        let version_id = peek_key_version(ciphertext)
            .map(KeyVersionId::from_uuid)
            .map_err(|_| KmsError::CiphertextInvalid)?;
        let version = entry
            .versions
            .find(version_id)
            .ok_or(KmsError::CiphertextInvalid)?;
        let key = version.key.as_ref().ok_or(KmsError::RootKeyRequired)?;
        let plaintext = key.open(version_id, aad, ciphertext)?;
        Ok((plaintext, version_id))
    }

    /// Unwraps a ciphertext; when it was made by an older version, also returns it wrapped
    /// under the newest version.
    pub async fn unwrap(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        ciphertext: &[u8],
        aad: &[String],
    ) -> Result<Unwrapped, KmsError> {
        let (entry, aad, plaintext, version) = self
            .open_for(access, instance, key_ref, Action::Unwrap, ciphertext, aad)
            .await?;
        let current = entry.versions.current().ok_or(KmsError::Internal)?.id;
        let rewrapped = if version == current {
            None
        } else {
            let entry = self.sealing_version(instance, key_ref, entry).await?;
            let newest = entry.versions.current().ok_or(KmsError::Internal)?;
            Some((
                Self::seal_with(newest, &aad, plaintext.expose_secret())?,
                newest.id,
            ))
        };
        Ok(Unwrapped {
            plaintext,
            version,
            rewrapped,
        })
    }

    /// Re-encrypts a ciphertext under the newest version without revealing the plaintext.
    pub async fn rewrap(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        ciphertext: &[u8],
        aad: &[String],
    ) -> Result<Rewrapped, KmsError> {
        let (entry, aad, plaintext, version) = self
            .open_for(access, instance, key_ref, Action::Rewrap, ciphertext, aad)
            .await?;
        let entry = self.sealing_version(instance, key_ref, entry).await?;
        let newest = entry.versions.current().ok_or(KmsError::Internal)?;
        Ok(Rewrapped {
            ciphertext: Self::seal_with(newest, &aad, plaintext.expose_secret())?,
            version,
            rewrapped_version: newest.id,
        })
    }

    /// Manual rotation (at most once an hour). Imported keys need new material.
    pub async fn rotate(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        payload: Option<SecretBytes>,
    ) -> Result<Key, KmsError> {
        Self::require_somewhere(access, Op::KmsKeysRotate)?;
        let key = self.fetch(instance, key_ref).await?;
        Self::authorize(access, Op::KmsKeysRotate, &key)?;
        self.rotate_inner(instance, key_ref, payload, Rotation::Manual)
            .await?
            .ok_or(KmsError::Internal)
    }

    /// Rotates the key for `why`; `Ok(None)` when a scheduled rotation is no longer due (another
    /// node rotated it first, or its policy changed).
    pub(crate) async fn rotate_inner(
        &self,
        instance: InstanceId,
        key_ref: &KeyRef,
        payload: Option<SecretBytes>,
        why: Rotation,
    ) -> Result<Option<Key>, KmsError> {
        for _ in 0..8 {
            let mut key = self.fetch(instance, key_ref).await?;
            let now = self.now();
            if why == Rotation::Scheduled && !key.is_rotation_due(now) {
                return Ok(None);
            }
            key.check_rotate(now, why == Rotation::Manual)?;
            let payload = match (payload.as_ref(), key.imported) {
                (None, true) => return Err(KmsError::PayloadRequired),
                (Some(p), true) if ![16, 24, 32].contains(&p.len()) => {
                    return Err(KmsError::InvalidField {
                        field: "payload",
                        requirement: "base64 key material of 16, 24 or 32 bytes",
                    });
                }
                (Some(p), true) => Some(SecretBytes::from_slice(p.expose_secret())),
                (Some(_), false) => {
                    return Err(KmsError::InvalidField {
                        field: "payload",
                        requirement: "absent: the key was generated by the service",
                    });
                }
                (None, false) => None,
            };
            let made = self.new_version(key.id, key.extractable, payload, now)?;
            let version = made.stored;
            let expected = key.revision;
            key.bit_length = made.bit_length;
            key.rotated(
                VersionInfo {
                    id: version.id,
                    created_at: now,
                },
                now,
            );
            // Not added (another change came first): nothing names the version's object. On
            // an error it may still have committed, so the object stays.
            let added = self.store.add_version(&key, expected, &version).await?;
            if !added {
                self.discard(&version);
            }
            if added {
                self.cache.invalidate(key.id);
                return Ok(Some(key));
            }
        }
        Err(KmsError::Conflict)
    }
}

/// Why a key is rotated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rotation {
    /// A caller asked (once an hour at most).
    Manual,
    /// The current version's encryption budget is spent.
    BudgetSpent,
    /// Its rotation policy's interval has passed.
    Scheduled,
}
