//! Keys in a PKCS#11 token (an HSM, or SoftHSM2 in development): the master key, an AES-256 key
//! that never leaves the token, and in strict mode every root key version too; sealing, wrapping
//! and unwrapping run inside the token.

#![forbid(unsafe_code)]

mod error;
mod key_objects;
mod pkcs11_master_key;
mod token;
mod token_aead;
mod token_root_keys;

pub use error::HsmError;
pub use key_objects::KeyProtection;
pub use pkcs11_master_key::{Pkcs11Config, Pkcs11MasterKey};
pub use token_root_keys::TokenRootKeys;
