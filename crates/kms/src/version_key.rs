//! A root key version ready for the hot path: its AES key in memory (material sealed under the
//! master key, opened when the key is loaded) or an object in the HSM (strict mode), and how a
//! stored version says which.

use std::sync::Arc;

use keyward_crypto::{AeadKey, FORMAT_V1, SecretBytes, open, seal};

use crate::error::KmsError;
use crate::ids::KeyVersionId;
use crate::ports::VersionCipher;

/// First byte of a stored version that is a vault reference rather than sealed material
/// (sealed material begins with the ciphertext format's version byte).
pub const VAULT_TAG: u8 = 0x52;
const _: () = assert!(VAULT_TAG != FORMAT_V1);

/// The reference a vault returned, as the store keeps it.
pub(crate) fn tagged(reference: &[u8]) -> Vec<u8> {
    [&[VAULT_TAG], reference].concat()
}

/// The vault reference in a stored version, or `None` when it holds sealed material.
pub fn vault_reference(stored: &[u8]) -> Option<&[u8]> {
    match stored.split_first() {
        Some((&VAULT_TAG, reference)) => Some(reference),
        _ => None,
    }
}

/// A usable root key version.
pub(crate) enum VersionKey {
    /// Material opened into memory (zeroized by the AES implementation when dropped).
    Memory(AeadKey),
    /// An object in the vault; the material never leaves it.
    Vault(Arc<dyn VersionCipher>),
}

impl VersionKey {
    /// Seals `plaintext` under version `id`.
    pub fn seal(
        &self,
        id: KeyVersionId,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        match self {
            Self::Memory(key) => {
                seal(key, id.as_uuid(), aad, plaintext).map_err(|_| KmsError::Internal)
            }
            Self::Vault(cipher) => cipher.seal(aad, plaintext),
        }
    }

    /// Opens a ciphertext of version `id`.
    pub fn open(
        &self,
        id: KeyVersionId,
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, KmsError> {
        match self {
            Self::Memory(key) => {
                open(key, id.as_uuid(), aad, ciphertext).map_err(|_| KmsError::CiphertextInvalid)
            }
            Self::Vault(cipher) => cipher.open(aad, ciphertext),
        }
    }
}
