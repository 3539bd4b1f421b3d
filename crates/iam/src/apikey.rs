//! API keys: generated from 32 random bytes, shown once, stored only as a SHA-256 hash.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyward_crypto::random_bytes;
use zeroize::Zeroizing;

use crate::error::IamError;

/// A plaintext API key. Not `Debug`, not `Clone`; zeroized on drop.
pub struct ApiKeySecret(Zeroizing<String>);

impl ApiKeySecret {
    /// A fresh random key (`kw_` + 43 base64url characters).
    pub fn generate() -> Result<Self, IamError> {
        let bytes = Zeroizing::new(random_bytes(32).map_err(|_| IamError::Crypto)?);
        Ok(Self(Zeroizing::new(format!(
            "kw_{}",
            URL_SAFE_NO_PAD.encode(bytes.as_slice())
        ))))
    }

    /// Wraps a key a client presented.
    pub fn from_presented(key: String) -> Self {
        Self(Zeroizing::new(key))
    }

    /// The key text: only to show it once to its owner, or write it to a 0600 file.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The stored form.
    pub fn hash(&self) -> ApiKeyHash {
        let d = digest(&SHA256, self.0.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        ApiKeyHash(out)
    }
}

/// SHA-256 of an API key (API keys carry 256 bits of entropy, so a fast hash is enough).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ApiKeyHash(pub [u8; 32]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_differ_and_hash_stably() -> Result<(), IamError> {
        let a = ApiKeySecret::generate()?;
        let b = ApiKeySecret::generate()?;
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(a.expose_secret().starts_with("kw_"));
        assert_eq!(a.expose_secret().len(), 46);
        let again = ApiKeySecret::from_presented(a.expose_secret().to_owned());
        assert_eq!(a.hash(), again.hash());
        assert_ne!(a.hash(), b.hash());
        Ok(())
    }
}
