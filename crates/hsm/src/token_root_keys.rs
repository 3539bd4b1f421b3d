//! The HSM's strict mode: every root key version is an AES key object in the token, generated
//! there (or imported once), never extractable; wrap and unwrap run in the token. The database
//! keeps only the object's `CKA_ID` (the version's id), so a copy of the database holds no key
//! material, sealed or otherwise.

use std::fmt;
use std::sync::Arc;

use cryptoki::object::{Attribute, ObjectHandle};
use keyward_crypto::SecretBytes;
use keyward_kms::{KeyId, KeyVersionId, KmsError, RootKeyVault, VersionCipher};
use uuid::Uuid;

use crate::error::HsmError;
use crate::key_objects::{self, KeyProtection};
use crate::pkcs11_master_key::Pkcs11Config;
use crate::token::Token;
use crate::token_aead;

/// Sessions wrap and unwrap take turns on: a session runs one operation at a time, and the
/// server has two worker threads per core at most busy on the token at once.
const SESSIONS: usize = 8;

/// Root key versions as token objects.
pub struct TokenRootKeys {
    token: Arc<Token>,
}

impl fmt::Debug for TokenRootKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRootKeys").finish_non_exhaustive()
    }
}

impl TokenRootKeys {
    /// Logs in to the token `config` names.
    pub fn open(config: &Pkcs11Config) -> Result<Self, HsmError> {
        Ok(Self {
            token: Arc::new(Token::open(config, SESSIONS)?),
        })
    }

    /// The object a stored reference names; `None` when the token holds none.
    fn object(&self, reference: &[u8]) -> Result<Option<ObjectHandle>, HsmError> {
        let found = self
            .token
            .with(|s| key_objects::find(s, Attribute::Id(reference.to_vec())))?;
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            many => Err(HsmError::AmbiguousKey(
                many.len(),
                format!("CKA_ID {}", hex(reference)),
            )),
        }
    }

    /// What the token reports about the version a stored reference names.
    pub fn protection(&self, reference: &[u8]) -> Result<Option<KeyProtection>, HsmError> {
        match self.object(reference)? {
            Some(key) => Ok(Some(self.token.with(|s| key_objects::protection(s, key))?)),
            None => Ok(None),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn failed(what: &'static str) -> impl Fn(HsmError) -> KmsError {
    move |e| {
        tracing::error!(error = %e, "PKCS#11 token: cannot {what} a root key version");
        KmsError::Internal
    }
}

impl RootKeyVault for TokenRootKeys {
    fn create(
        &self,
        key: KeyId,
        version: KeyVersionId,
        material: Option<&SecretBytes>,
    ) -> Result<Vec<u8>, KmsError> {
        // Some tokens take an AES key of any length; the KMS checked it, and so does this.
        if material.is_some_and(|m| ![16, 24, 32].contains(&m.len())) {
            return Err(KmsError::Internal);
        }
        let id = version.as_uuid().as_bytes().to_vec();
        let label = format!("keyward root key {key} version {version}").into_bytes();
        self.token
            .with(|s| match material {
                None => key_objects::generate(s, label, id.clone()),
                Some(material) => key_objects::import(s, label, id.clone(), material),
            })
            .map_err(|e| failed("make")(e.into()))?;
        Ok(id)
    }

    fn cipher(
        &self,
        version: KeyVersionId,
        reference: &[u8],
    ) -> Result<Arc<dyn VersionCipher>, KmsError> {
        if reference != version.as_uuid().as_bytes() {
            return Err(KmsError::Internal);
        }
        let key = self
            .object(reference)
            .map_err(failed("find"))?
            .ok_or_else(|| {
                tracing::error!(%version, "PKCS#11 token: the root key version's object is missing");
                KmsError::Internal
            })?;
        let protection = self
            .token
            .with(|s| key_objects::protection(s, key))
            .map_err(|e| failed("inspect")(e.into()))?;
        if !protection.sensitive || protection.extractable {
            tracing::error!(%version, "PKCS#11 token: the root key version's object can be read out of the token; refused");
            return Err(KmsError::Internal);
        }
        Ok(Arc::new(TokenVersion {
            token: Arc::clone(&self.token),
            key,
            id: version.as_uuid(),
        }))
    }

    fn destroy(&self, reference: &[u8]) -> Result<(), KmsError> {
        if let Some(key) = self.object(reference).map_err(failed("find"))? {
            self.token
                .with(|s| key_objects::destroy(s, key))
                .map_err(|e| failed("destroy")(e.into()))?;
        }
        Ok(())
    }
}

/// One version's object.
struct TokenVersion {
    token: Arc<Token>,
    key: ObjectHandle,
    id: Uuid,
}

impl VersionCipher for TokenVersion {
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
        self.token
            .with(|s| token_aead::seal(s, self.key, self.id, aad, plaintext))
            .map_err(|_| KmsError::Internal)
    }

    fn open(&self, aad: &[u8], ciphertext: &[u8]) -> Result<SecretBytes, KmsError> {
        self.token
            .with(|s| token_aead::open(s, self.key, self.id, aad, ciphertext))
            .map_err(|_| KmsError::CiphertextInvalid)
    }
}
