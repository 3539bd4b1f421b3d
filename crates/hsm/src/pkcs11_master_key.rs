//! `Pkcs11MasterKey`: the master key as an AES-256 key object in a PKCS#11 token, made there on
//! first use (sensitive, never extractable) and found again by its label. Sealing and opening
//! run in the token with AES-GCM; the sealed form is the same as the software master key's
//! (format v1: version byte, the master key's id, a 96-bit nonce, ciphertext and tag, with the
//! header authenticated), so data does not say which backend sealed it.

use std::fmt;
use std::path::PathBuf;

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectHandle};
use keyward_crypto::SecretBytes;
use keyward_kms::{KmsError, MasterKey};
use uuid::Uuid;

use crate::error::HsmError;
use crate::key_objects::{self, KeyProtection};
use crate::token::Token;
use crate::token_aead;

/// Where the master key lives.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The key object's label.
    pub key_label: String,
    /// The user PIN.
    pub pin: std::sync::Arc<SecretBytes>,
    /// Strict mode: every root key version is a key object in the token, and wrap and unwrap
    /// run there ([`crate::TokenRootKeys`]); otherwise root key material is sealed under the
    /// master key and opened into memory on use.
    pub strict: bool,
}

impl fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .field("pin", &"<redacted>")
            .field("strict", &self.strict)
            .finish()
    }
}

/// The master key in a PKCS#11 token.
pub struct Pkcs11MasterKey {
    id: Uuid,
    key: ObjectHandle,
    token: Token,
}

impl fmt::Debug for Pkcs11MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Pkcs11MasterKey {
    /// Logs in to the token and finds the key labelled `config.key_label`, making it first when
    /// there is none.
    pub fn open(config: &Pkcs11Config) -> Result<Self, HsmError> {
        let token = Token::open(config, 1)?;
        let label = config.key_label.as_bytes().to_vec();
        let found = token.with(|s| key_objects::find(s, Attribute::Label(label.clone())))?;
        let key = match found.as_slice() {
            [] => token
                .with(|s| key_objects::generate(s, label, Uuid::new_v4().as_bytes().to_vec()))?,
            [key] => *key,
            many => {
                return Err(HsmError::AmbiguousKey(many.len(), config.key_label.clone()));
            }
        };
        let unusable = |reason| HsmError::Unusable {
            label: config.key_label.clone(),
            reason,
        };
        let mut id = None;
        let mut length = None;
        let mut key_type = None;
        for attribute in token.with(|s| {
            s.get_attributes(
                key,
                &[
                    AttributeType::Id,
                    AttributeType::ValueLen,
                    AttributeType::KeyType,
                ],
            )
        })? {
            match attribute {
                Attribute::Id(bytes) => id = Uuid::from_slice(&bytes).ok(),
                Attribute::ValueLen(len) => length = Some(u64::from(len)),
                Attribute::KeyType(t) => key_type = Some(t),
                _ => {}
            }
        }
        if key_type != Some(KeyType::AES) || length != Some(32) {
            return Err(unusable("it is not an AES-256 key"));
        }
        let id = id.ok_or_else(|| unusable("its CKA_ID is not a 16-byte id"))?;
        let master = Self { id, key, token };
        if master.protection()?.extractable {
            return Err(unusable("it is extractable"));
        }
        Ok(master)
    }

    /// What the token reports about the key's protection.
    pub fn protection(&self) -> Result<KeyProtection, HsmError> {
        Ok(self.token.with(|s| key_objects::protection(s, self.key))?)
    }
}

impl MasterKey for Pkcs11MasterKey {
    fn id(&self) -> Uuid {
        self.id
    }

    fn wrap(&self, aad: &[u8], material: &SecretBytes) -> Result<Vec<u8>, KmsError> {
        self.token
            .with(|s| token_aead::seal(s, self.key, self.id, aad, material.expose_secret()))
            .map_err(|_| KmsError::Internal)
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, KmsError> {
        self.token
            .with(|s| token_aead::open(s, self.key, self.id, aad, wrapped))
            .map_err(|_| KmsError::Internal)
    }
}
