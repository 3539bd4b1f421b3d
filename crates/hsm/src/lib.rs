//! The master key in a PKCS#11 token (an HSM, or SoftHSM2 in development): an AES-256 key that
//! never leaves the token; sealing and opening run inside it.

#![forbid(unsafe_code)]

mod error;
mod pkcs11_master_key;

pub use error::HsmError;
pub use pkcs11_master_key::{KeyProtection, Pkcs11Config, Pkcs11MasterKey};
