//! IAM wire shapes (IBM's token endpoint and a small management API).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Form of `POST /identity/token`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenForm {
    /// `urn:ibm:params:oauth:grant-type:apikey`.
    #[serde(default)]
    pub grant_type: Option<String>,
    /// The API key.
    #[serde(default)]
    pub apikey: Option<String>,
    /// For Keyward's own services only: the instance of the service the token acts for.
    #[serde(default)]
    pub source_instance: Option<String>,
}

/// Response of `POST /identity/token`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// Opaque; refresh is done by presenting the API key again.
    pub refresh_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds.
    pub expires_in: i64,
    /// Unix seconds.
    pub expiration: i64,
    /// `ibm openid`.
    pub scope: String,
}

/// IAM error body, as IBM IAM writes it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IamErrorBody {
    /// e.g. `BXNIM0415E`.
    pub error_code: String,
    /// Message.
    pub error_message: String,
}

/// `POST /v1/users` and `POST /v1/serviceids`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateIdentity {
    /// Display name.
    pub name: String,
}

/// A user or service id as returned.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Identity {
    /// IAM id (also `id`).
    pub id: String,
    /// IAM id.
    pub iam_id: String,
    /// Display name.
    pub name: String,
    /// `user` or `service_id`.
    pub kind: String,
    /// Account.
    pub account_id: String,
    /// RFC 3339.
    pub created_at: String,
}

/// `POST /v1/apikeys`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateApiKey {
    /// Display name.
    pub name: String,
    /// Owner (the caller when absent).
    #[serde(default)]
    pub iam_id: Option<String>,
}

/// An API key as listed: never the key itself.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyInfo {
    /// Key id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Owner.
    pub iam_id: String,
    /// Owner's account.
    pub account_id: String,
    /// Whether it is locked (no tokens until unlocked).
    pub locked: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// `GET /v1/apikeys`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyList {
    /// The keys.
    pub apikeys: Vec<ApiKeyInfo>,
}

/// A new API key: the only time the key is shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    /// Key id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Owner.
    pub iam_id: String,
    /// The key itself.
    pub apikey: String,
}

/// `{"name": ..., "value": ...}` of IBM's policy attributes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Attribute {
    /// e.g. `iam_id`, `serviceName`, `serviceInstance`, `keyRing`, `accountId`.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A subject or resource: a list of attributes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Attributes {
    /// The attributes.
    pub attributes: Vec<Attribute>,
}

/// A role reference.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleRef {
    /// `crn:v1:bluemix:public:iam::::serviceRole:<Name>` (service roles),
    /// `crn:v1:bluemix:public:iam::::role:<Name>` (platform roles) or the bare name.
    pub role_id: String,
}

/// A policy in IBM's IAM Policy Management shape.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyBody {
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `access` or `authorization`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Exactly one subject.
    pub subjects: Vec<Attributes>,
    /// Roles.
    pub roles: Vec<RoleRef>,
    /// Exactly one resource.
    pub resources: Vec<Attributes>,
    /// RFC 3339, set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// `GET /v1/policies`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyList {
    /// Policies of the account.
    pub policies: Vec<PolicyBody>,
}
