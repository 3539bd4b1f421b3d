//! Sealing one field of one secret under a generation's DEK. The AAD binds the ciphertext to its
//! tenant, secret and field, so a ciphertext copied anywhere else does not open.

use keyward_crypto::{AeadKey, SecretBytes, encode_aad, open, seal};

use crate::error::SecretsError;
use crate::model::{GenerationId, SecretId, TenantId};

const FIELD_AAD: &str = "keyward.secrets.field.v1";

fn aad(tenant: TenantId, secret: SecretId, field: &str) -> Vec<u8> {
    encode_aad(
        FIELD_AAD,
        &[tenant.0.as_bytes(), secret.0.as_bytes(), field.as_bytes()],
    )
}

/// Seals a field value.
pub fn seal_field(
    dek: &AeadKey,
    generation: GenerationId,
    tenant: TenantId,
    secret: SecretId,
    field: &str,
    value: &[u8],
) -> Result<Vec<u8>, SecretsError> {
    seal(dek, generation.0, &aad(tenant, secret, field), value).map_err(|_| SecretsError::Crypto)
}

/// Opens a field value; any mismatch (other tenant, secret, field or generation) fails.
pub fn open_field(
    dek: &AeadKey,
    generation: GenerationId,
    tenant: TenantId,
    secret: SecretId,
    field: &str,
    ciphertext: &[u8],
) -> Result<SecretBytes, SecretsError> {
    open(dek, generation.0, &aad(tenant, secret, field), ciphertext)
        .map_err(|_| SecretsError::Undecryptable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn key() -> AeadKey {
        AeadKey::new(&[7u8; 32]).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn a_ciphertext_opens_only_where_it_was_sealed() {
        let (t, s, g) = (
            TenantId(Uuid::new_v4()),
            SecretId(Uuid::new_v4()),
            GenerationId(Uuid::new_v4()),
        );
        let ct = seal_field(&key(), g, t, s, "password", b"hunter2").unwrap_or_default();
        let ok = open_field(&key(), g, t, s, "password", &ct).map(|p| p.expose_secret().to_vec());
        assert_eq!(ok.ok(), Some(b"hunter2".to_vec()));
        let other_tenant = TenantId(Uuid::new_v4());
        let other_secret = SecretId(Uuid::new_v4());
        assert!(open_field(&key(), g, other_tenant, s, "password", &ct).is_err());
        assert!(open_field(&key(), g, t, other_secret, "password", &ct).is_err());
        assert!(open_field(&key(), g, t, s, "username", &ct).is_err());
        assert!(open_field(&key(), GenerationId(Uuid::new_v4()), t, s, "password", &ct).is_err());
        let other_key = AeadKey::new(&[8u8; 32]).unwrap_or_else(|_| unreachable!());
        assert!(open_field(&other_key, g, t, s, "password", &ct).is_err());
    }
}
