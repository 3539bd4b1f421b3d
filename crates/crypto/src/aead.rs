//! AES-GCM keys, prepared once and reused for many seal/open calls.

use aws_lc_rs::aead::{AES_128_GCM, AES_192_GCM, AES_256_GCM, LessSafeKey, UnboundKey};

use crate::CryptoError;

/// An AES-GCM key (128, 192 or 256 bits), with its key schedule expanded once.
///
/// No `Debug`, no `Clone`: the material lives inside aws-lc, which wipes it
/// when the key is dropped. Use [`seal`](crate::seal) and
/// [`open`](crate::open) to encrypt and decrypt with it.
pub struct AeadKey {
    key: LessSafeKey,
    bit_length: u32,
}

impl AeadKey {
    /// AES-128/192/256-GCM chosen by key length 16/24/32.
    ///
    /// The caller keeps its copy of `material` and should hold it in a
    /// [`SecretBytes`](crate::SecretBytes).
    ///
    /// # Errors
    /// [`CryptoError::KeyLength`] for any other length.
    pub fn new(material: &[u8]) -> Result<Self, CryptoError> {
        let algorithm = match material.len() {
            16 => &AES_128_GCM,
            24 => &AES_192_GCM,
            32 => &AES_256_GCM,
            _ => return Err(CryptoError::KeyLength),
        };
        let key = UnboundKey::new(algorithm, material).map_err(|_| CryptoError::KeyLength)?;
        Ok(Self {
            key: LessSafeKey::new(key),
            // 16, 24 or 32 bytes: the product is at most 256.
            bit_length: (material.len() * 8) as u32,
        })
    }

    /// Key size in bits: 128, 192 or 256.
    #[must_use]
    pub fn bit_length(&self) -> u32 {
        self.bit_length
    }

    /// The prepared aws-lc key, for the ciphertext formats in this crate.
    pub(crate) fn less_safe_key(&self) -> &LessSafeKey {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        for (len, bits) in [(16, 128), (24, 192), (32, 256)] {
            let key = AeadKey::new(&vec![7u8; len]).expect("valid length");
            assert_eq!(key.bit_length(), bits);
        }
        for len in [0, 1, 15, 17, 23, 25, 31, 33, 64] {
            assert!(matches!(
                AeadKey::new(&vec![7u8; len]),
                Err(CryptoError::KeyLength)
            ));
        }
    }
}
