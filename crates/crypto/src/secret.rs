//! Secret byte strings and constant-time comparison.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Secret bytes (key material, DEKs, plaintexts) that are wiped from memory on drop.
///
/// Deliberately has no `Clone`, no `PartialEq` and a redacting `Debug`, so a
/// secret cannot be copied, compared in variable time or logged by accident.
/// The only way to read the bytes is [`SecretBytes::expose_secret`], so every
/// call site that declassifies is easy to find.
pub struct SecretBytes {
    bytes: Zeroizing<Vec<u8>>,
}

impl SecretBytes {
    /// Wraps `bytes`, taking ownership (no copy is made).
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            bytes: Zeroizing::new(bytes),
        }
    }

    /// Copies `bytes` into a new secret. The caller remains responsible for
    /// wiping its own copy.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// Reads the secret. This is the one named way to get at the bytes:
    /// call sites should make clear why the secret is needed.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        &self.bytes
    }

    /// Mutable access for code in this crate that fills or decrypts in place.
    pub(crate) fn expose_secret_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Shortens the secret to `len` bytes. The cut-off bytes stay in the
    /// buffer's capacity and are wiped with it on drop.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.bytes.truncate(len);
    }

    /// Number of secret bytes (the length is not considered secret).
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the secret is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Compares the secret with `other` in constant time (see [`ct_eq`]).
    #[must_use]
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        ct_eq(&self.bytes, other)
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([REDACTED; {} bytes])", self.bytes.len())
    }
}

/// Compares two byte strings in time that depends only on their lengths,
/// never on their contents. Returns `false` when the lengths differ.
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    // `subtle` returns 0 early on length mismatch; lengths are not secret.
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = SecretBytes::from_slice(b"hunter2");
        assert_eq!(format!("{secret:?}"), "SecretBytes([REDACTED; 7 bytes])");
    }

    #[test]
    fn accessors() {
        let secret = SecretBytes::new(vec![1, 2, 3]);
        assert_eq!(secret.expose_secret(), &[1, 2, 3]);
        assert_eq!(secret.len(), 3);
        assert!(!secret.is_empty());
        assert!(SecretBytes::new(Vec::new()).is_empty());
    }
}
