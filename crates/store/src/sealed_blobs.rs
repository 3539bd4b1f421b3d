//! Every value sealed under the master key, where it lives, and a compare-and-set replacement of
//! each: what `keyward master-key migrate` reads and rewrites, one value at a time, so that a
//! migration interrupted anywhere can run again and finish.

use uuid::Uuid;

use crate::db::{Store, StoreError, with_pool};

/// Where a sealed value lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SealedPlace {
    /// A KMS key version's material.
    KeyVersion {
        /// The key.
        key: Uuid,
        /// The version.
        version: Uuid,
    },
    /// A token signing key.
    SigningKey {
        /// Its key id.
        kid: String,
    },
    /// A setting (the audit checkpoint key, the configuration service's API key).
    Setting {
        /// Its name.
        name: String,
    },
}

/// A sealed value and its place.
#[derive(Clone, Debug)]
pub struct SealedBlob {
    /// Where it lives.
    pub place: SealedPlace,
    /// The sealed bytes.
    pub sealed: Vec<u8>,
}

impl Store {
    /// How many key versions are vault references (their first byte `tag`) rather than
    /// material sealed under the master key.
    pub async fn key_versions_in_vault(&self, tag: u8) -> Result<i64, StoreError> {
        let count: i64 = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT count(*) FROM key_versions WHERE substr(wrapped_material, 1, 1) = $1",
        )
        .bind([tag].as_slice())
        .fetch_one(pool)
        .await)?;
        Ok(count)
    }

    /// Every key version's sealed material, every token signing key, and the named settings
    /// that exist.
    pub async fn sealed_blobs(&self, settings: &[&str]) -> Result<Vec<SealedBlob>, StoreError> {
        let versions: Vec<(String, String, Vec<u8>)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT key_id, id, wrapped_material FROM key_versions ORDER BY key_id, id",
        )
        .fetch_all(pool)
        .await)?;
        let mut blobs = Vec::with_capacity(versions.len());
        for (key, version, sealed) in versions {
            let parse = |s: &str| {
                Uuid::parse_str(s).map_err(|_| {
                    StoreError::Query(sqlx::Error::Decode("a key version id is not a UUID".into()))
                })
            };
            blobs.push(SealedBlob {
                place: SealedPlace::KeyVersion {
                    key: parse(&key)?,
                    version: parse(&version)?,
                },
                sealed,
            });
        }
        let signing: Vec<(String, Vec<u8>)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT kid, sealed FROM token_signing_keys ORDER BY kid",
        )
        .fetch_all(pool)
        .await)?;
        blobs.extend(signing.into_iter().map(|(kid, sealed)| SealedBlob {
            place: SealedPlace::SigningKey { kid },
            sealed,
        }));
        for name in settings {
            let value: Option<Vec<u8>> = with_pool!(self, pool =>
                sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                    .bind(*name)
                    .fetch_optional(pool)
                    .await)?;
            blobs.extend(value.map(|sealed| SealedBlob {
                place: SealedPlace::Setting {
                    name: (*name).to_owned(),
                },
                sealed,
            }));
        }
        Ok(blobs)
    }

    /// Replaces the value at `place` with `new` if it is still `old`; `false` when it is not
    /// (changed or gone meanwhile).
    pub async fn replace_sealed(
        &self,
        place: &SealedPlace,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let n = match place {
            SealedPlace::KeyVersion { key, version } => with_pool!(self, pool => sqlx::query(
                "UPDATE key_versions SET wrapped_material = $1 \
                 WHERE key_id = $2 AND id = $3 AND wrapped_material = $4",
            )
            .bind(new)
            .bind(key.to_string())
            .bind(version.to_string())
            .bind(old)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?,
            SealedPlace::SigningKey { kid } => with_pool!(self, pool => sqlx::query(
                "UPDATE token_signing_keys SET sealed = $1 WHERE kid = $2 AND sealed = $3",
            )
            .bind(new)
            .bind(kid)
            .bind(old)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?,
            SealedPlace::Setting { name } => {
                self.replace_setting(name, Some(old), Some(new)).await?
            }
        };
        Ok(n == 1)
    }

    /// Sets, replaces or deletes a setting, if its value is still `old` (`None`: absent).
    /// Returns the rows changed (0 when `old` did not hold).
    pub async fn replace_setting(
        &self,
        name: &str,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<u64, StoreError> {
        let n = match (old, new) {
            (None, Some(new)) => with_pool!(self, pool => sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(new)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?,
            (Some(old), Some(new)) => with_pool!(self, pool => sqlx::query(
                "UPDATE settings SET value = $1 WHERE name = $2 AND value = $3",
            )
            .bind(new)
            .bind(name)
            .bind(old)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?,
            (Some(old), None) => with_pool!(self, pool => sqlx::query(
                "DELETE FROM settings WHERE name = $1 AND value = $2",
            )
            .bind(name)
            .bind(old)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?,
            (None, None) => 0,
        };
        Ok(n)
    }
}
