//! IAM wire shapes (IBM's token endpoint and a small management API).

use serde::{Deserialize, Serialize};

/// Form of `POST /identity/token`.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    /// `urn:ibm:params:oauth:grant-type:apikey`.
    #[serde(default)]
    pub grant_type: Option<String>,
    /// The API key.
    #[serde(default)]
    pub apikey: Option<String>,
}

/// Response of `POST /identity/token`.
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IamErrorBody {
    /// e.g. `BXNIM0415E`.
    pub error_code: String,
    /// Message.
    pub error_message: String,
}
