//! Token signing keys: 32 random bytes each, stored sealed under the master key. The newest
//! signs; a new one is made once the newest is older than the rotation period; a key is dropped
//! once every token it signed has expired. Every node reads the same table, so a key made by
//! one node verifies on all.

use std::time::Duration;

use keyward_crypto::random_secret;
use keyward_iam::token::CLOCK_SKEW_SECONDS;
use keyward_iam::{IamError, IamStore, SigningKey, SigningKeyRecord, TOKEN_LIFETIME_SECONDS};
use keyward_kms::MasterKey;
use keyward_store::Store;
use time::OffsetDateTime;
use uuid::Uuid;

/// How often the signing key changes by default.
pub const DEFAULT_ROTATION: Duration = Duration::from_secs(24 * 3600);

/// What a signing key is bound to when sealed under the master key.
pub(crate) fn aad(kid: &str) -> Vec<u8> {
    format!("keyward.iam.token-signing-key.v2:{kid}").into_bytes()
}

fn sealing_failure(e: keyward_kms::KmsError) -> IamError {
    IamError::Store(format!("cannot seal or open a token signing key: {e}"))
}

/// Reads every signing key and opens it.
pub async fn load(store: &Store, master: &dyn MasterKey) -> Result<Vec<SigningKey>, IamError> {
    let mut keys = Vec::new();
    for record in store.signing_keys().await? {
        let secret = master
            .unwrap(&aad(&record.kid), &record.sealed)
            .map_err(sealing_failure)?;
        keys.push(SigningKey::new(record.kid, &secret, record.created_at)?);
    }
    Ok(keys)
}

/// Makes a new signing key and stores it sealed.
pub async fn create(
    store: &Store,
    master: &dyn MasterKey,
    now: OffsetDateTime,
) -> Result<(), IamError> {
    let kid = Uuid::new_v4().simple().to_string();
    let secret = random_secret(32).map_err(|_| IamError::Crypto)?;
    let sealed = master.wrap(&aad(&kid), &secret).map_err(sealing_failure)?;
    store
        .insert_signing_key(&SigningKeyRecord {
            kid,
            sealed,
            created_at: now,
        })
        .await
}

/// Rotates when the newest key is older than `rotation`, drops keys whose tokens have all
/// expired, and returns the keys in force (newest first).
pub async fn ensure(
    store: &Store,
    master: &dyn MasterKey,
    rotation: Duration,
    now: OffsetDateTime,
) -> Result<Vec<SigningKey>, IamError> {
    let records = store.signing_keys().await?;
    let rotation = time::Duration::try_from(rotation).unwrap_or(time::Duration::DAY);
    let due = records
        .first()
        .is_none_or(|newest| now - newest.created_at >= rotation);
    if due {
        create(store, master, now).await?;
    }
    let records = store.signing_keys().await?;
    // A key retired (superseded) at `next.created_at` signed its last token then; those tokens
    // are expired one lifetime (plus clock skew) later.
    let grace = time::Duration::seconds(TOKEN_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS);
    for pair in records.windows(2) {
        let (newer, older) = (&pair[0], &pair[1]);
        if now - newer.created_at > grace {
            store.delete_signing_key(&older.kid).await?;
        }
    }
    load(store, master).await
}

/// Revokes every token: makes a new key and drops all others (`keyward iam rotate-signing-key
/// --revoke-tokens`). Nodes refuse the old tokens once they reload the keys (at most a minute,
/// or at once when they meet a token of the new key).
pub async fn replace_all(
    store: &Store,
    master: &dyn MasterKey,
    now: OffsetDateTime,
) -> Result<(), IamError> {
    let old = store.signing_keys().await?;
    create(store, master, now).await?;
    for record in old {
        store.delete_signing_key(&record.kid).await?;
    }
    Ok(())
}
