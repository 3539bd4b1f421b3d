//! Randomness from the operating system, via aws-lc-rs.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::{CryptoError, SecretBytes};

/// Fills `dest` with cryptographically secure random bytes.
///
/// # Errors
/// [`CryptoError::Random`] if the system random number generator fails.
pub fn fill_random(dest: &mut [u8]) -> Result<(), CryptoError> {
    SystemRandom::new()
        .fill(dest)
        .map_err(|_| CryptoError::Random)
}

/// Returns `n` cryptographically secure random bytes (for public values such
/// as nonces, salts and identifiers; use [`random_secret`] for key material).
///
/// # Errors
/// [`CryptoError::Random`] if the system random number generator fails.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, CryptoError> {
    let mut bytes = vec![0u8; n];
    fill_random(&mut bytes)?;
    Ok(bytes)
}

/// Returns `n` cryptographically secure random bytes as a secret (for keys).
///
/// # Errors
/// [`CryptoError::Random`] if the system random number generator fails.
pub fn random_secret(n: usize) -> Result<SecretBytes, CryptoError> {
    // Wrap before filling so the buffer is wiped even on the error path.
    let mut secret = SecretBytes::new(vec![0u8; n]);
    fill_random(secret.expose_secret_mut())?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_distinctness() {
        assert!(random_bytes(0).expect("rng works in tests").is_empty());
        let a = random_bytes(32).expect("rng works in tests");
        let b = random_bytes(32).expect("rng works in tests");
        assert_eq!(a.len(), 32);
        assert_ne!(a, b, "two 256-bit random strings collided");
        let s = random_secret(24).expect("rng works in tests");
        assert_eq!(s.len(), 24);
        assert!(!s.ct_eq(&[0u8; 24]));
    }
}
