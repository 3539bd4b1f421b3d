//! Schemas of bodies the handlers build as JSON values (resource instances, the configuration
//! service, health, the audit trail) and of query strings read as maps. They describe the wire;
//! the schemathesis run in CI checks every response against them, so a drift fails there.

use std::collections::BTreeMap;

use keyward_api::keyprotect::{Collection, ErrorResource};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::audit::AuditEvent;

/// Key Protect's error envelope, answered by the KMS, the IAM's management routes and the
/// operations routes.
pub type KeyProtectError = Collection<ErrorResource>;

/// The name [`KeyProtectError`] has in the document.
pub(super) const KEY_PROTECT_ERROR: &str = "KeyProtectError";

/// The name of IAM's token error in the document.
pub(super) const IAM_ERROR: &str = "IamErrorBody";

/// One error of the configuration service.
#[derive(ToSchema)]
pub struct ConfigurationErrorItem {
    /// e.g. `AIQC0001E`, `NOT_FOUND`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// The configuration service's error envelope.
#[derive(ToSchema)]
pub struct ConfigurationError {
    /// An id to quote when reporting the error.
    pub trace: String,
    /// The errors.
    pub errors: Vec<ConfigurationErrorItem>,
}

/// `GET /healthz`.
#[derive(ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` (with 503) when the database does not answer.
    pub status: String,
}

/// An instance, in the shape of IBM's Resource Controller.
#[derive(ToSchema)]
pub struct ResourceInstance {
    /// The instance's id, used in `bluemix-instance` and in configuration-service paths.
    pub guid: String,
    /// Its CRN.
    pub id: String,
    /// Its CRN.
    pub crn: String,
    /// Its name.
    pub name: String,
    /// `kms` or `configsvc`.
    pub service: String,
    /// The account it belongs to.
    pub account_id: String,
    /// Always `active`.
    pub state: String,
    /// RFC 3339.
    pub created_at: String,
}

/// `GET /v2/resource_instances`.
#[derive(ToSchema)]
pub struct ResourceInstanceList {
    /// How many.
    pub rows_count: u64,
    /// The instances.
    pub resources: Vec<ResourceInstance>,
}

/// `POST /v2/resource_instances`.
#[derive(ToSchema)]
pub struct NewResourceInstance {
    /// A name.
    pub name: String,
    /// `kms` or `configsvc`.
    pub service: String,
}

/// `GET /v2/fairness/heartbeat`.
#[derive(ToSchema)]
pub struct Heartbeat {
    /// Always true.
    pub is_cloud: bool,
    /// `ok`.
    pub status: String,
}

/// A configuration-service instance the caller may use.
#[derive(ToSchema)]
pub struct Entitlement {
    /// The instance's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `standard`.
    pub plan_name: String,
}

/// The instances of `GET /v1/entitlements`.
#[derive(ToSchema)]
pub struct EntitlementSet {
    /// The configuration-service instances.
    pub ai_openscale: Vec<Entitlement>,
}

/// `GET /v1/entitlements`.
#[derive(ToSchema)]
pub struct Entitlements {
    /// By service.
    pub entitlements: EntitlementSet,
}

/// `GET .../monitor_definitions`.
#[derive(ToSchema)]
pub struct MonitorDefinitions {
    /// None are defined.
    pub monitor_definitions: Vec<Value>,
}

/// Metadata of a configuration-service resource.
#[derive(ToSchema)]
pub struct ResourceMetadata {
    /// Its id.
    pub id: String,
    /// Its path.
    pub url: String,
    /// RFC 3339.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339.
    pub modified_at: String,
}

/// A data mart, service provider, integrated system or subscription. The entity is what the
/// client sent, with every secret field kept encrypted and answered masked, and its `status`.
#[derive(ToSchema)]
pub struct ConfigResource {
    /// Its metadata.
    pub metadata: ResourceMetadata,
    /// Its fields.
    #[schema(value_type = Object)]
    pub entity: Value,
}

/// A list of configuration-service resources, under the name of their kind.
#[derive(ToSchema)]
pub struct ConfigResourceList(pub BTreeMap<String, Vec<ConfigResource>>);

/// Fields done of a root key switch.
#[derive(ToSchema)]
pub struct Progress {
    /// Fields re-encrypted.
    pub done: u64,
    /// Fields in all.
    pub total: u64,
}

/// Which key protects the instance's secrets, and the switch under way.
#[derive(ToSchema)]
pub struct KeyProtection {
    /// `global` or the customer's root key CRN.
    pub root_key: String,
    /// The key being switched to.
    pub switching_to: Option<String>,
    /// The switch's progress.
    pub progress: Option<Progress>,
    /// `running` or `paused`.
    pub state: Option<String>,
    /// Why the switch is paused.
    pub reason: Option<String>,
}

/// `GET .../user_preferences`.
#[derive(ToSchema)]
pub struct UserPreferences {
    /// The customer's root key CRN, when set.
    pub user_root_key_crn: Option<String>,
    /// The protection state.
    pub key_protection: KeyProtection,
}

/// A root key preference in a request: `{"user_root_key_crn": crn}`, `{"value": crn}` or the
/// bare CRN.
#[derive(ToSchema)]
pub struct RootKeyPreference {
    /// The CRN of a root key the configuration service may use.
    pub user_root_key_crn: String,
}

/// A DEK generation's state in a secrets check.
#[derive(ToSchema)]
pub struct GenerationCheck {
    /// The generation's status.
    pub status: String,
    /// `global` or the root key CRN wrapping it.
    pub root_key: String,
}

/// `GET .../secrets_check`: counts, never values.
#[derive(ToSchema)]
pub struct SecretsCheck {
    /// Resources holding secrets.
    pub secrets: u64,
    /// Secret fields decrypted.
    pub fields_decrypted: u64,
    /// What did not decrypt (resource and field, never a value).
    pub failures: Vec<String>,
    /// The instance's DEK generations.
    pub generations: Vec<GenerationCheck>,
}

/// One audit event with its place in the chain.
#[derive(ToSchema)]
pub struct AuditRecord {
    /// Its number.
    pub seq: i64,
    /// The chain hash, hex.
    pub hash: String,
    /// The event.
    pub event: AuditEvent,
}

/// Metadata of an audit page.
#[derive(ToSchema)]
#[allow(non_snake_case)]
pub struct AuditPageMetadata {
    /// `application/vnd.keyward.audit-event+json`.
    pub collectionType: String,
    /// Events in this page.
    pub collectionTotal: u64,
    /// The `start` of the next page.
    pub next: i64,
}

/// `GET /api/v2/audit/events`.
#[derive(ToSchema)]
pub struct AuditPage {
    /// Metadata.
    pub metadata: AuditPageMetadata,
    /// The events, oldest first.
    pub resources: Vec<AuditRecord>,
}

/// Paging of audit events.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditPaging {
    /// The number of the last event already read (0: from the start).
    pub start: Option<i64>,
    /// 1 to 1000 (100).
    pub limit: Option<u32>,
}

/// Paging of Key Protect lists.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(non_snake_case)]
pub struct Paging {
    /// 1 to 5000 (200).
    pub limit: Option<u32>,
    /// Resources to skip.
    pub offset: Option<u32>,
    /// Add `totalCount` to the metadata.
    pub totalCount: Option<bool>,
}

/// Filters of `GET /api/v2/keys`, beside [`Paging`].
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyFilters {
    /// Comma-separated states (0, 1, 2, 3, 5).
    pub state: Option<String>,
    /// Standard keys (true) or root keys (false).
    pub extractable: Option<bool>,
}

/// `force` of a delete.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Force {
    /// Delete even if registrations or keys are attached.
    pub force: Option<bool>,
}

/// `?policy=` of the policy routes.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PolicyFilter {
    /// One policy type.
    pub policy: Option<String>,
}

/// A Key Protect collection that may be empty, when Key Protect leaves `resources` out.
#[derive(ToSchema)]
pub struct SparseCollection<T: ToSchema> {
    /// Metadata.
    pub metadata: keyward_api::keyprotect::CollectionMetadata,
    /// The resources, absent when there are none.
    pub resources: Option<Vec<T>>,
}

/// A registration of a cloud resource with a root key.
#[derive(ToSchema)]
#[allow(non_snake_case)]
pub struct RegistrationResource {
    /// The key's id.
    pub keyId: String,
    /// The registered resource's CRN.
    pub resourceCrn: String,
    /// Who registered it.
    pub createdBy: String,
    /// RFC 3339.
    pub creationDate: String,
    /// Who changed it last.
    pub updatedBy: String,
    /// RFC 3339.
    pub lastUpdated: String,
    /// Free text.
    pub description: String,
    /// Whether the key may not be deleted while the registration exists.
    pub preventKeyDeletion: bool,
    /// The key version the resource uses.
    pub keyVersion: keyward_api::keyprotect::KeyVersion,
}

/// A registration request: its first resource's fields.
#[derive(ToSchema)]
pub struct RegistrationBody {
    /// One resource.
    pub resources: Vec<keyward_api::keyprotect::RegistrationRequest>,
}

/// `GET /api/v2/instance/allowed_ip_port`.
#[derive(ToSchema)]
pub struct AllowedIpPort {
    /// The port of the private endpoint.
    pub private_endpoint_port: u16,
}

/// `GET /v1/users`, `GET /v1/serviceids`.
#[derive(ToSchema)]
pub struct IdentityList {
    /// The identities.
    pub items: Vec<keyward_api::iam::Identity>,
}

/// The body of a key action: wrap takes `plaintext` and `aad`, unwrap and rewrap
/// `ciphertext` and `aad`, rotate of an imported key `payload` (and the secure import fields);
/// the others none.
#[derive(ToSchema)]
#[allow(non_snake_case)]
pub struct ActionBody {
    /// wrap: the DEK, base64 (generated when absent).
    pub plaintext: Option<String>,
    /// unwrap, rewrap: the wrapped DEK.
    pub ciphertext: Option<String>,
    /// wrap, unwrap, rewrap: additional authenticated data.
    pub aad: Option<Vec<String>>,
    /// rotate: new material of an imported key, base64.
    pub payload: Option<String>,
    /// rotate, secure import: `RSAES_OAEP_SHA_256`.
    pub encryptionAlgorithm: Option<String>,
    /// rotate, secure import: the token's nonce encrypted under the material.
    pub encryptedNonce: Option<String>,
    /// rotate, secure import: the IV of `encryptedNonce`.
    pub iv: Option<String>,
}
