//! PostgreSQL's SCRAM-SHA-256 password verifier (RFC 5802, RFC 7677), computed here so that a
//! role's password never reaches the database server in a `CREATE ROLE` statement (where
//! statement logging would record it): the server stores and checks only the verifier.

use std::num::NonZeroU32;

use aws_lc_rs::{digest, hmac, pbkdf2};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::CryptoError;
use crate::random::random_bytes;

/// PostgreSQL's default iteration count.
const ITERATIONS: u32 = 4096;

/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` for `password`, with a fresh salt.
pub fn scram_sha256_verifier(password: &str) -> Result<String, CryptoError> {
    let salt = random_bytes(16)?;
    Ok(verifier_with_salt(password, &salt, ITERATIONS))
}

fn verifier_with_salt(password: &str, salt: &[u8], iterations: u32) -> String {
    let mut salted = [0u8; 32];
    let rounds = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        password.as_bytes(),
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key.as_ref()),
        STANDARD.encode(server_key.as_ref())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        STANDARD.decode(s).unwrap_or_default()
    }

    /// RFC 7677's example exchange (user `user`, password `pencil`): the server signature
    /// computed from our ServerKey, and the StoredKey recovered from the client's proof, match.
    #[test]
    fn matches_the_rfc_7677_example() {
        let verifier = verifier_with_salt("pencil", &b64("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
        let (_, keys) = verifier.split_once('$').unwrap_or_default();
        let (_, keys) = keys.split_once('$').unwrap_or_default();
        let (stored_key, server_key) = keys.split_once(':').unwrap_or_default();
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
            r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
            c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let server_signature = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &b64(server_key)),
            auth_message.as_bytes(),
        );
        assert_eq!(
            STANDARD.encode(server_signature.as_ref()),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let client_signature = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &b64(stored_key)),
            auth_message.as_bytes(),
        );
        let client_key: Vec<u8> = b64("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .iter()
            .zip(client_signature.as_ref())
            .map(|(p, s)| p ^ s)
            .collect();
        assert_eq!(
            digest::digest(&digest::SHA256, &client_key).as_ref(),
            b64(stored_key).as_slice()
        );
    }

    #[test]
    fn fresh_salts_give_different_verifiers() -> Result<(), CryptoError> {
        let a = scram_sha256_verifier("same")?;
        let b = scram_sha256_verifier("same")?;
        assert_ne!(a, b);
        assert!(a.starts_with("SCRAM-SHA-256$4096:"));
        assert!(!a.contains("same"));
        Ok(())
    }
}
