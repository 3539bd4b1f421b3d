//! The key that signs audit checkpoints: 32 random bytes made on first use, stored sealed under
//! the master key (so only a holder of the master key can sign or check a checkpoint).

use keyward_crypto::{SecretBytes, random_secret};
use keyward_iam::IamStore;
use keyward_kms::MasterKey;
use keyward_store::Store;

/// The setting that holds the sealed checkpoint key.
pub(crate) const SETTING: &str = "audit.checkpoint-key";
/// What it is bound to when sealed.
pub(crate) const AAD: &[u8] = b"keyward.audit.checkpoint-key.v1";

/// Reads the checkpoint key without making one: `None` before the server first started.
pub async fn load_checkpoint_key(
    store: &Store,
    master: &dyn MasterKey,
) -> Result<Option<SecretBytes>, String> {
    let fail = |e: &dyn std::fmt::Display| format!("audit checkpoint key: {e}");
    match store.setting(SETTING).await.map_err(|e| fail(&e))? {
        Some(sealed) => master.unwrap(AAD, &sealed).map(Some).map_err(|e| fail(&e)),
        None => Ok(None),
    }
}

/// Reads the checkpoint key, making it first if there is none (several nodes starting at once
/// agree on the first one written).
pub async fn checkpoint_key(store: &Store, master: &dyn MasterKey) -> Result<SecretBytes, String> {
    let fail = |e: &dyn std::fmt::Display| format!("audit checkpoint key: {e}");
    let sealed = match store.setting(SETTING).await.map_err(|e| fail(&e))? {
        Some(sealed) => sealed,
        None => {
            let fresh = random_secret(32).map_err(|e| fail(&e))?;
            let sealed = master.wrap(AAD, &fresh).map_err(|e| fail(&e))?;
            store
                .setting_insert_if_absent(SETTING, &sealed)
                .await
                .map_err(|e| fail(&e))?
        }
    };
    master.unwrap(AAD, &sealed).map_err(|e| fail(&e))
}
