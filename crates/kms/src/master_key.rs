//! The software master key: a 256-bit AES key read from a 0600 file by the composition root.

use keyward_crypto::{AeadKey, SecretBytes, open, seal};
use uuid::Uuid;

use crate::error::KmsError;
use crate::ports::MasterKey;

/// A master key held in process memory.
pub struct SoftwareMasterKey {
    id: Uuid,
    key: AeadKey,
}

impl SoftwareMasterKey {
    /// Prepares the key; its id is derived from the material so that a different file is
    /// detected instead of silently failing every unwrap.
    pub fn new(material: &SecretBytes) -> Result<Self, KmsError> {
        if material.len() != 32 {
            return Err(KmsError::Internal);
        }
        let key = AeadKey::new(material.expose_secret()).map_err(|_| KmsError::Internal)?;
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &[
                b"keyward master key id v1".as_slice(),
                material.expose_secret(),
            ]
            .concat(),
        );
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest.as_ref()[..16]);
        Ok(Self {
            id: Uuid::from_bytes(id),
            key,
        })
    }
}

impl MasterKey for SoftwareMasterKey {
    fn id(&self) -> Uuid {
        self.id
    }

    fn wrap(&self, aad: &[u8], material: &SecretBytes) -> Result<Vec<u8>, KmsError> {
        seal(&self.key, self.id, aad, material.expose_secret()).map_err(|_| KmsError::Internal)
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<SecretBytes, KmsError> {
        open(&self.key, self.id, aad, wrapped).map_err(|_| KmsError::Internal)
    }
}
