//! Moving a deployment to another master key (the file key into a PKCS#11 token, or back): every
//! value sealed under the master key is opened with the old key and sealed with the new one, one
//! value at a time with a compare-and-set, while a marker in the database keeps servers from
//! starting; then the database is bound to the new key and the marker removed. Each value's
//! header names the key that sealed it, so a migration interrupted anywhere (a crash, a kill)
//! runs again, skips what is done, and finishes.

use keyward_crypto::peek_key_version;
use keyward_iam::IamStore;
use keyward_kms::{KeyId, KeyVersionId, MasterKey};
use keyward_store::{SealedPlace, Store};
use uuid::Uuid;

use crate::bootstrap::{CONFIGSVC_APIKEY_AAD, CONFIGSVC_APIKEY_SETTING, MASTER_KEY_SETTING};
use crate::state::KmsService;

/// The setting present while a migration runs: the id of the key being moved to.
pub const MIGRATION_SETTING: &str = "master_key_migration";

/// How a migration ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migrated {
    /// Values sealed again under the new key by this run.
    pub resealed: usize,
    /// Values found already under the new key (an earlier, interrupted run).
    pub already: usize,
}

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The database is bound to neither key.
    #[error(
        "the database is bound to master key {bound}, which is neither the key given as the current one ({from}) nor the target ({to})"
    )]
    Unbound {
        /// The database's key.
        bound: Uuid,
        /// The current key given.
        from: Uuid,
        /// The target.
        to: Uuid,
    },
    /// Another migration, to another key, was started and not finished.
    #[error(
        "a migration to master key {0} was started and not finished: finish it (the same command with that target) first"
    )]
    OtherMigration(String),
    /// A value is sealed by a key that is neither.
    #[error("{0:?} is sealed by master key {1}, which is neither the current key nor the target")]
    ForeignValue(SealedPlace, String),
    /// A value changed while it was being sealed again (a server is running).
    #[error("{0:?} changed during the migration: stop every node, then run the migration again")]
    Changed(SealedPlace),
    /// The old key could not open a value, or the new one seal it.
    #[error("{0:?}: {1}")]
    Crypto(SealedPlace, String),
    /// Root key versions made in strict mode are objects in the token and cannot move.
    #[error(
        "{0} root key versions are objects in the PKCS#11 token (made with --pkcs11-strict); they cannot leave it, so the master key cannot move"
    )]
    InToken(i64),
    /// The database failed.
    #[error("database: {0}")]
    Store(String),
}

fn store_error(e: impl std::fmt::Display) -> MigrationError {
    MigrationError::Store(e.to_string())
}

/// What a sealed value is bound to: the same associated data its owner seals it with.
fn aad(place: &SealedPlace) -> Vec<u8> {
    match place {
        SealedPlace::KeyVersion { key, version } => {
            KmsService::material_aad(KeyId::from_uuid(*key), KeyVersionId::from_uuid(*version))
        }
        SealedPlace::SigningKey { kid } => crate::signing_keys::aad(kid),
        SealedPlace::Setting { name } if name == crate::audit::key::SETTING => {
            crate::audit::key::AAD.to_vec()
        }
        SealedPlace::Setting { .. } => CONFIGSVC_APIKEY_AAD.to_vec(),
    }
}

/// Moves `store` from master key `from` to `to`; `progress(done, total)` is called after each
/// value. Every node must be stopped (a starting node refuses while the marker is present).
pub async fn migrate(
    store: &Store,
    from: &dyn MasterKey,
    to: &dyn MasterKey,
    mut progress: impl FnMut(usize, usize),
) -> Result<Migrated, MigrationError> {
    let (from_id, to_id) = (from.id(), to.id());
    let bound = store
        .setting(MASTER_KEY_SETTING)
        .await
        .map_err(store_error)?
        .and_then(|raw| Uuid::from_slice(&raw).ok());
    let marker = store
        .setting(MIGRATION_SETTING)
        .await
        .map_err(store_error)?;
    if bound == Some(to_id) && marker.is_none() {
        return Ok(Migrated {
            resealed: 0,
            already: 0,
        });
    }
    if bound != Some(from_id) && bound != Some(to_id) {
        return Err(MigrationError::Unbound {
            bound: bound.unwrap_or_default(),
            from: from_id,
            to: to_id,
        });
    }
    let in_token = store
        .key_versions_in_vault(keyward_kms::VAULT_TAG)
        .await
        .map_err(store_error)?;
    if in_token > 0 {
        return Err(MigrationError::InToken(in_token));
    }
    match &marker {
        Some(raw) if raw.as_slice() != to_id.as_bytes() => {
            return Err(MigrationError::OtherMigration(
                Uuid::from_slice(raw).map_or_else(|_| "?".into(), |id| id.to_string()),
            ));
        }
        Some(_) => {}
        None => {
            store
                .replace_setting(MIGRATION_SETTING, None, Some(to_id.as_bytes()))
                .await
                .map_err(store_error)?;
        }
    }

    let blobs = store
        .sealed_blobs(&[crate::audit::key::SETTING, CONFIGSVC_APIKEY_SETTING])
        .await
        .map_err(store_error)?;
    let total = blobs.len();
    let mut done = Migrated {
        resealed: 0,
        already: 0,
    };
    for (i, blob) in blobs.into_iter().enumerate() {
        let sealer = peek_key_version(&blob.sealed).ok();
        if sealer == Some(to_id) {
            done.already += 1;
        } else if sealer == Some(from_id) {
            let aad = aad(&blob.place);
            let crypto = |e: keyward_kms::KmsError| {
                MigrationError::Crypto(blob.place.clone(), e.to_string())
            };
            let plain = from.unwrap(&aad, &blob.sealed).map_err(crypto)?;
            let resealed = to.wrap(&aad, &plain).map_err(crypto)?;
            if !store
                .replace_sealed(&blob.place, &blob.sealed, &resealed)
                .await
                .map_err(store_error)?
            {
                return Err(MigrationError::Changed(blob.place));
            }
            done.resealed += 1;
        } else {
            return Err(MigrationError::ForeignValue(
                blob.place,
                sealer.map_or_else(|| "(unreadable header)".into(), |id| id.to_string()),
            ));
        }
        progress(i + 1, total);
    }

    if bound == Some(from_id) {
        store
            .replace_setting(
                MASTER_KEY_SETTING,
                Some(from_id.as_bytes()),
                Some(to_id.as_bytes()),
            )
            .await
            .map_err(store_error)?;
    }
    store
        .replace_setting(MIGRATION_SETTING, Some(to_id.as_bytes()), None)
        .await
        .map_err(store_error)?;
    Ok(done)
}
