//! Domain → wire conversions for the Key Protect API.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyward_api::keyprotect::{
    AlgorithmMetadata, DualAuthDelete, KEY_TYPE, KeyResource, KeyVersion, RotationSetting,
};
use keyward_crypto::SecretBytes;
use keyward_kms::{CrnScheme, InstanceId, Key, KeyState, KeyVersionId, RotationSchedule};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ApiError;

/// RFC 3339 in UTC with whole seconds, as Key Protect writes dates.
pub fn date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// Parses a client date.
pub fn parse_date(s: &str, field: &'static str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| ApiError::InvalidField {
        field,
        requirement: "an RFC 3339 date such as 2030-01-01T00:00:00Z",
    })
}

/// Decodes base64 sent by a client into a secret.
pub fn decode_secret(b64: &str, field: &'static str) -> Result<SecretBytes, ApiError> {
    STANDARD
        .decode(b64.trim())
        .map(SecretBytes::new)
        .map_err(|_| ApiError::InvalidField {
            field,
            requirement: "base64 encoded data",
        })
}

/// Decodes base64 that is not secret (encrypted material, a nonce, an IV).
pub fn decode_field(b64: &str, field: &'static str) -> Result<Vec<u8>, ApiError> {
    STANDARD
        .decode(b64.trim())
        .map_err(|_| ApiError::InvalidField {
            field,
            requirement: "base64 encoded data",
        })
}

/// Decodes base64 ciphertext.
pub fn decode_ciphertext(b64: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD
        .decode(b64.trim())
        .map_err(|_| ApiError::InvalidField {
            field: "ciphertext",
            requirement: "the original base64 encoded ciphertext from the wrap operation",
        })
}

/// Encodes bytes as base64.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A version reference.
pub fn version(id: KeyVersionId) -> KeyVersion {
    KeyVersion {
        id: id.to_string(),
        creation_date: None,
    }
}

/// A key as Key Protect shows it, at time `now`.
pub fn key_resource(
    key: &Key,
    crn: &CrnScheme,
    account: &str,
    instance: InstanceId,
    now: OffsetDateTime,
    payload: Option<&SecretBytes>,
) -> KeyResource {
    let deleted = key.state == KeyState::Destroyed;
    let restore_expiration = key.restore_expiration();
    let purge_from = key.purge_allowed_from();
    KeyResource {
        kind: KEY_TYPE,
        id: key.id.to_string(),
        name: key.name.clone(),
        aliases: key.aliases.iter().map(|a| a.as_str().to_owned()).collect(),
        description: key.description.clone(),
        tags: key.tags.clone(),
        state: key.effective_state(now).code(),
        expiration_date: key.expiration.map(date),
        extractable: key.extractable,
        crn: crn.key_crn(account, instance, key.id),
        imported: key.imported,
        creation_date: date(key.created_at),
        created_by: key.created_by.clone(),
        algorithm_type: "AES",
        algorithm_metadata: AlgorithmMetadata {
            bit_length: key.bit_length.to_string(),
            mode: "GCM".into(),
        },
        algorithm_bit_size: key.bit_length,
        algorithm_mode: "GCM",
        last_update_date: date(key.updated_at),
        last_rotate_date: key.last_rotated_at.map(date),
        key_version: KeyVersion {
            id: key.current_version.id.to_string(),
            creation_date: Some(date(key.current_version.created_at)),
        },
        key_ring_id: key.key_ring.to_string(),
        dual_auth_delete: dual_auth_delete(key, now),
        rotation: key.policies.rotation.as_ref().map(|p| rotation(p.value)),
        deleted,
        deletion_date: key.deleted_at.map(date),
        deleted_by: key.deleted_by.clone(),
        restore_allowed: deleted
            .then(|| restore_expiration.is_some_and(|e| now <= e) && !key.is_expired(now)),
        restore_expiration_date: restore_expiration.filter(|_| deleted).map(date),
        purge_allowed: deleted.then(|| purge_from.is_some_and(|p| now >= p)),
        purge_allowed_from: purge_from.filter(|_| deleted).map(date),
        purge_scheduled_on: key.purge_scheduled_on().filter(|_| deleted).map(date),
        payload: payload.map(|p| b64(p.expose_secret())),
    }
}

/// A key's `dualAuthDelete`: whether the policy is on and, if so, whether a deletion
/// authorization counts now and until when.
fn dual_auth_delete(key: &Key, now: OffsetDateTime) -> DualAuthDelete {
    if !key.dual_auth_delete() {
        return DualAuthDelete {
            enabled: false,
            key_set_for_deletion: None,
            auth_expiration: None,
        };
    }
    let authorization = key.deletion_authorization_at(now);
    DualAuthDelete {
        enabled: true,
        key_set_for_deletion: Some(authorization.is_some()),
        auth_expiration: authorization.map(|a| date(a.expires_at())),
    }
}

/// A rotation schedule on the wire.
pub fn rotation(schedule: RotationSchedule) -> RotationSetting {
    RotationSetting {
        enabled: schedule.enabled,
        interval_month: i64::from(schedule.interval_month),
    }
}
