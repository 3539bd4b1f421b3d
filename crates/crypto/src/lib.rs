//! Keyward's cryptography: secret types, AES-GCM seal/open, the versioned
//! ciphertext format and canonical AAD encoding. No I/O.
//!
//! See `README.md` for the module map and `docs/adr/0001-ciphertext-format.md`
//! for the ciphertext format.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod aad;
mod aead;
pub mod audit_chain;
mod ciphertext;
mod error;
mod random;
mod scram;
mod secret;

pub use aad::encode_aad;
pub use aead::AeadKey;
pub use ciphertext::{FORMAT_V1, HEADER_LEN, OVERHEAD, TAG_LEN, open, peek_key_version, seal};
pub use error::CryptoError;
pub use random::{fill_random, random_bytes, random_secret};
pub use scram::scram_sha256_verifier;
pub use secret::{SecretBytes, ct_eq};
