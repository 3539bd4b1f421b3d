//! The one error type of this crate.
//!
//! Variants carry no detail on purpose: a decryption failure must not tell an
//! attacker *why* it failed (wrong key, wrong AAD, tampered bytes, ...).

/// Everything that can go wrong in `keyward-crypto`.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Key material was not 16, 24 or 32 bytes long.
    #[error("key material must be 16, 24 or 32 bytes")]
    KeyLength,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// A ciphertext could not be parsed (too short, or unknown format version).
    ///
    /// Only returned by functions that do not decrypt, such as
    /// [`peek_key_version`](crate::peek_key_version); [`open`](crate::open)
    /// reports every failure as [`CryptoError::Decrypt`].
    #[error("malformed ciphertext")]
    Malformed,
    /// Decryption failed. Deliberately opaque: malformed input, wrong key,
    /// wrong AAD, tampering and key-version mismatch all look the same.
    #[error("decryption failed")]
    Decrypt,
    /// The AEAD implementation refused to encrypt.
    #[error("encryption failed")]
    Encrypt,
}
