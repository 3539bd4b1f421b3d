//! Key Protect v2 wire shapes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `collectionType` of keys.
pub const KEY_TYPE: &str = "application/vnd.ibm.kms.key+json";
/// `collectionType` of key versions.
pub const KEY_VERSION_TYPE: &str = "application/vnd.ibm.kms.key.version+json";
/// `collectionType` of key rings.
pub const KEY_RING_TYPE: &str = "application/vnd.ibm.kms.key_ring+json";
/// `collectionType` of aliases (Key Protect reuses the key type).
pub const ALIAS_TYPE: &str = "application/vnd.ibm.kms.key+json";
/// `collectionType` of errors.
pub const ERROR_TYPE: &str = "application/vnd.ibm.kms.error+json";
/// `collectionType` of registrations.
pub const REGISTRATION_TYPE: &str = "application/vnd.ibm.kms.registration+json";
/// `collectionType` of key policies.
pub const POLICY_TYPE: &str = "application/vnd.ibm.kms.policy+json";
/// `collectionType` of `GET /instance/allowed_ip_port`.
pub const ALLOWED_IP_METADATA_TYPE: &str = "application/vnd.ibm.kms.allowed_ip_metadata+json";
/// `POST /import_token` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportTokenRequest {
    /// Seconds the token lives (300 to 86400; 600 when absent).
    #[serde(default)]
    pub expiration: Option<i64>,
    /// Retrievals allowed (1 to 500; 1 when absent).
    #[serde(default)]
    pub max_allowed_retrievals: Option<i64>,
}

/// An import token as returned; `payload` and `nonce` only by `GET /import_token`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportTokenResponse {
    /// RFC 3339.
    pub creation_date: String,
    /// RFC 3339.
    pub expiration_date: String,
    /// Retrievals allowed.
    pub max_allowed_retrievals: u32,
    /// Retrievals left.
    pub remaining_retrievals: u32,
    /// Base64 of the PEM public key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// Base64 of the nonce.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// `moreInfo` of every reason.
pub const MORE_INFO: &str = "https://cloud.ibm.com/apidocs/key-protect";

/// Collection metadata.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionMetadata {
    /// Media type of the resources.
    pub collection_type: String,
    /// Number of resources in this body.
    pub collection_total: u64,
    /// All matches, when the request asked for `totalCount=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u64>,
}

/// `{"metadata": ..., "resources": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Collection<T> {
    /// Metadata.
    pub metadata: CollectionMetadata,
    /// Items.
    pub resources: Vec<T>,
}

impl<T> Collection<T> {
    /// A collection of `resources` of `collection_type`.
    pub fn new(collection_type: &str, resources: Vec<T>) -> Self {
        Self {
            metadata: CollectionMetadata {
                collection_type: collection_type.to_owned(),
                collection_total: resources.len() as u64,
                total_count: None,
            },
            resources,
        }
    }
}

/// Incoming collection (metadata optional; we check `collectionTotal` when present).
#[derive(Debug, Deserialize, ToSchema)]
pub struct IncomingCollection<T> {
    /// Metadata, if sent.
    #[serde(default)]
    pub metadata: Option<IncomingMetadata>,
    /// Items.
    #[serde(default)]
    pub resources: Vec<T>,
}

/// Metadata of a request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncomingMetadata {
    /// Declared type.
    #[serde(default)]
    pub collection_type: Option<String>,
    /// Declared count.
    #[serde(default)]
    pub collection_total: Option<u64>,
}

/// A key to create or import.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateKey {
    /// Name (required).
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Standard (true) or root (false, default).
    #[serde(default)]
    pub extractable: Option<bool>,
    /// Material to import, base64.
    #[serde(default)]
    pub payload: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub expiration_date: Option<String>,
    /// Aliases.
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    /// Tags (the Go client writes `Tags`).
    #[serde(default, alias = "Tags")]
    pub tags: Option<Vec<String>>,
    /// Secure import: the algorithm used to encrypt `payload`.
    #[serde(default)]
    pub encryption_algorithm: Option<String>,
    /// Secure import: nonce encrypted under the key material.
    #[serde(default)]
    pub encrypted_nonce: Option<String>,
    /// Secure import: IV of `encryptedNonce`.
    #[serde(default)]
    pub iv: Option<String>,
    /// `keys_with_policy_overrides`: the key's own rotation schedule.
    #[serde(default)]
    pub rotation: Option<RotationSetting>,
    /// `keys_with_policy_overrides`: the key's own dual authorization.
    #[serde(default, rename = "dualAuthDelete")]
    pub dual_auth_delete: Option<DualAuthSetting>,
}

/// `algorithmMetadata` (deprecated but still sent).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlgorithmMetadata {
    /// e.g. `"256"`.
    pub bit_length: String,
    /// `"GCM"`.
    pub mode: String,
}

/// `{"id", "creationDate"}` of a version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyVersion {
    /// Version id.
    pub id: String,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
}

/// `dualAuthDelete` of a key.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DualAuthDelete {
    /// Whether the policy is on.
    pub enabled: bool,
    /// Whether a user authorized the deletion (shown when the policy is on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_set_for_deletion: Option<bool>,
    /// When that authorization lapses (shown while it counts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_expiration: Option<String>,
}

/// A rotation schedule, in a key, a key policy or a request (`interval_month` is Key
/// Protect's spelling).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationSetting {
    /// Whether the key is rotated on schedule.
    pub enabled: bool,
    /// Months between rotations; Key Protect's clients send -1 for "not given".
    #[serde(default = "RotationSetting::unset_interval")]
    pub interval_month: i64,
}

impl RotationSetting {
    fn unset_interval() -> i64 {
        -1
    }
}

/// `{"enabled": bool}` of a dual authorization policy.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DualAuthSetting {
    /// Whether deletion takes two users.
    pub enabled: bool,
}

/// One key policy in a `PUT /keys/{id}/policies` body: a rotation schedule or dual
/// authorization.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyPolicyRequest {
    /// [`POLICY_TYPE`] (optional).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// A rotation schedule.
    #[serde(default)]
    pub rotation: Option<RotationSetting>,
    /// Dual authorization of deletion.
    #[serde(default, rename = "dualAuthDelete")]
    pub dual_auth_delete: Option<DualAuthSetting>,
}

/// The attributes of an instance policy, in a request or a response; which fields belong to
/// which policy type is checked by the server.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstancePolicyAttributes {
    /// `rotation`: months between rotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_month: Option<i64>,
    /// `allowedNetwork`: `public-and-private` or `private-only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_network: Option<String>,
    /// `allowedIP`: CIDR blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ip: Option<Vec<String>>,
    /// `keyCreateImportAccess`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_root_key: Option<bool>,
    /// `keyCreateImportAccess`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_standard_key: Option<bool>,
    /// `keyCreateImportAccess`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_root_key: Option<bool>,
    /// `keyCreateImportAccess`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_standard_key: Option<bool>,
    /// `keyCreateImportAccess`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_token: Option<bool>,
}

/// `policy_data` of an instance policy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstancePolicyData {
    /// On or off.
    pub enabled: bool,
    /// The type's attributes, when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<InstancePolicyAttributes>,
}

/// One instance policy in a `PUT /instance/policies` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstancePolicyRequest {
    /// `dualAuthDelete`, `rotation`, `allowedNetwork`, `allowedIP`, `keyCreateImportAccess` or
    /// `metrics`.
    #[serde(default)]
    pub policy_type: Option<String>,
    /// The setting.
    #[serde(default)]
    pub policy_data: Option<InstancePolicyData>,
}

/// An instance policy as returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstancePolicyResource {
    /// Its type.
    pub policy_type: &'static str,
    /// Its setting.
    pub policy_data: InstancePolicyData,
    /// RFC 3339.
    #[serde(rename = "creationDate")]
    pub creation_date: String,
    /// Who first set it.
    #[serde(rename = "createdBy")]
    pub created_by: String,
    /// Who last set it.
    #[serde(rename = "updatedBy")]
    pub updated_by: String,
    /// RFC 3339.
    #[serde(rename = "lastUpdated")]
    pub last_updated: String,
}

/// A key policy as returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyPolicyResource {
    /// The key's id (Key Protect names a key's policies after the key).
    pub id: String,
    /// The key's CRN.
    pub crn: String,
    /// Always [`POLICY_TYPE`].
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Who set it first.
    pub created_by: String,
    /// RFC 3339.
    pub creation_date: String,
    /// Who set it last.
    pub updated_by: String,
    /// RFC 3339.
    pub last_update_date: String,
    /// The rotation schedule (a rotation policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationSetting>,
    /// Dual authorization (a dual authorization policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dual_auth_delete: Option<DualAuthSetting>,
}

/// A key as returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyResource {
    /// Always [`KEY_TYPE`].
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Key id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Aliases.
    pub aliases: Vec<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// State integer.
    pub state: i64,
    /// Expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    /// Standard key?
    pub extractable: bool,
    /// Key CRN.
    pub crn: String,
    /// Imported material?
    pub imported: bool,
    /// RFC 3339.
    pub creation_date: String,
    /// Creator.
    pub created_by: String,
    /// Deprecated: `AES`.
    pub algorithm_type: &'static str,
    /// Deprecated.
    pub algorithm_metadata: AlgorithmMetadata,
    /// Deprecated.
    pub algorithm_bit_size: u32,
    /// Deprecated: `GCM`.
    pub algorithm_mode: &'static str,
    /// RFC 3339.
    pub last_update_date: String,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rotate_date: Option<String>,
    /// Current version.
    pub key_version: KeyVersion,
    /// Ring.
    #[serde(rename = "keyRingID")]
    pub key_ring_id: String,
    /// Dual authorization.
    pub dual_auth_delete: DualAuthDelete,
    /// The rotation schedule, once a rotation policy is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationSetting>,
    /// Destroyed?
    pub deleted: bool,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<String>,
    /// Who deleted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<String>,
    /// Whether a restore is possible now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_allowed: Option<bool>,
    /// End of the restore window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_expiration_date: Option<String>,
    /// Whether a purge is possible now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purge_allowed: Option<bool>,
    /// Start of the purge window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purge_allowed_from: Option<String>,
    /// Automatic purge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purge_scheduled_on: Option<String>,
    /// Standard-key material, base64 (GET /keys/{id} only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

/// Body of wrap.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct WrapRequest {
    /// DEK to wrap, base64; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<String>,
    /// Additional authenticated data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad: Option<Vec<String>>,
}

/// Body of unwrap and rewrap.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct CiphertextRequest {
    /// Wrapped DEK, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<String>,
    /// Additional authenticated data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad: Option<Vec<String>>,
}

/// One resource of a registration's body (`POST /keys/{id}/registrations/{crn}`).
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationRequest {
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the key may not be deleted while the registration exists.
    pub prevent_key_deletion: bool,
}

/// What a client reads of a key's metadata to know whether it may use it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct KeyStateView {
    /// Key Protect's state number: 0 pre-activation, 1 active, 2 suspended, 3 deactivated,
    /// 5 destroyed.
    pub state: i64,
    /// A standard key (not a root key).
    pub extractable: bool,
}

/// Body of rotate (imported keys).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotateRequest {
    /// New material, base64.
    #[serde(default)]
    pub payload: Option<String>,
    /// Secure import: the algorithm used to encrypt `payload`.
    #[serde(default)]
    pub encryption_algorithm: Option<String>,
    /// Secure import: nonce encrypted under the key material.
    #[serde(default)]
    pub encrypted_nonce: Option<String>,
    /// Secure import: IV of `encryptedNonce`.
    #[serde(default)]
    pub iv: Option<String>,
}

/// Body of PATCH /keys/{id}.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PatchKey {
    /// Target ring (Go sends `KeyRingID`).
    #[serde(
        default,
        rename = "keyRingID",
        alias = "KeyRingID",
        alias = "keyRingId"
    )]
    pub key_ring_id: Option<String>,
}

/// Wrap response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WrapResponse {
    /// Generated DEK, when none was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<String>,
    /// Wrapped DEK.
    pub ciphertext: String,
    /// Version used.
    pub key_version: KeyVersion,
}

/// Unwrap response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnwrapResponse {
    /// DEK.
    pub plaintext: String,
    /// Version that had wrapped it.
    pub key_version: KeyVersion,
    /// Rewrapped under the newest version, when the key was rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<String>,
    /// The newest version, with `ciphertext`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrapped_key_version: Option<KeyVersion>,
}

/// Rewrap response.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RewrapResponse {
    /// New ciphertext.
    pub ciphertext: String,
    /// Original version.
    pub key_version: KeyVersion,
    /// New version.
    pub rewrapped_key_version: KeyVersion,
}

/// A key ring.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyRingResource {
    /// Ring id.
    pub id: String,
    /// RFC 3339.
    pub creation_date: String,
    /// Creator.
    pub created_by: String,
}

/// An alias.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AliasResource {
    /// Key id.
    pub key_id: String,
    /// Alias.
    pub alias: String,
    /// RFC 3339.
    pub creation_date: String,
    /// Creator.
    pub created_by: String,
}

/// Target of a field error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorTarget {
    /// `field`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Field name.
    pub name: String,
}

/// One reason of an error.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReason {
    /// Reason code, e.g. `KEY_ROTATION_NOT_PERMITTED`.
    pub code: String,
    /// Human message.
    pub message: String,
    /// HTTP status.
    pub status: u16,
    /// Docs link.
    pub more_info: &'static str,
    /// Field, for field errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<ErrorTarget>,
}

/// One error resource.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResource {
    /// `"<Reason phrase>: <what>: Please see `reasons` for more details (<CODE>)"`.
    pub error_msg: String,
    /// Reasons.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<ErrorReason>,
}
