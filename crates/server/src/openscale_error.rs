//! Errors of the configuration-service API: `{"trace", "errors": [{"code", "message"}]}`, the
//! shape the OpenScale SDK parses. One mapping, like `error.rs` for the KMS.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_configsvc::ConfigError;
use keyward_secrets::{ProviderError, SecretsError};
use serde_json::json;

/// Everything a configuration-service handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum OsError {
    /// Domain refusal.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No or bad token.
    #[error("unauthorized")]
    Unauthorized,
    /// The authorization decision refused (also for an instance that does not exist).
    #[error("forbidden: {0}")]
    Denied(keyward_iam::Denial),
    /// A server failure; the detail goes to the log only.
    #[error("internal error: {0}")]
    Internal(String),
    /// The database cannot be reached; retry shortly. The detail goes to the log only.
    #[error("the database is unavailable: {0}")]
    DatabaseUnavailable(String),
    /// Too many requests from this caller.
    #[error("rate limited")]
    RateLimited(std::time::Duration),
    /// Bad request input outside the domain (ids, bodies).
    #[error("{0}")]
    BadRequest(&'static str),
    /// Unknown id.
    #[error("not found")]
    NotFound,
    /// A refusal from the HTTP layer itself (method, path, body size).
    #[error("{1}")]
    Http(StatusCode, String),
}

impl From<crate::error::ApiError> for OsError {
    /// Authentication failures of the shared extractor, in this API's shape.
    fn from(e: crate::error::ApiError) -> Self {
        match e {
            crate::error::ApiError::Unauthorized => Self::Unauthorized,
            crate::error::ApiError::Denied(denial) => Self::Denied(denial),
            crate::error::ApiError::RateLimited(wait) => Self::RateLimited(wait),
            crate::error::ApiError::DatabaseUnavailable(detail) => {
                Self::DatabaseUnavailable(detail)
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<keyward_iam::IamError> for OsError {
    fn from(e: keyward_iam::IamError) -> Self {
        match e {
            keyward_iam::IamError::StoreUnavailable(detail) => Self::DatabaseUnavailable(detail),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<SecretsError> for OsError {
    fn from(e: SecretsError) -> Self {
        Self::Config(ConfigError::Secrets(e))
    }
}

/// The status and code of a key provider's refusal (also the status its audit event records).
pub(crate) fn provider_status(e: &ProviderError) -> (StatusCode, &'static str) {
    match e {
        ProviderError::NotAuthorized { .. } => (StatusCode::FORBIDDEN, "KMS_NOT_AUTHORIZED"),
        ProviderError::KeyNotFound => (StatusCode::NOT_FOUND, "ROOT_KEY_NOT_FOUND"),
        ProviderError::KeyDisabled => (StatusCode::CONFLICT, "ROOT_KEY_DISABLED"),
        ProviderError::KeyDeleted => (StatusCode::CONFLICT, "ROOT_KEY_DELETED"),
        ProviderError::KeyExpired => (StatusCode::CONFLICT, "ROOT_KEY_EXPIRED"),
        ProviderError::NotRootKey => (StatusCode::BAD_REQUEST, "NOT_A_ROOT_KEY"),
        ProviderError::Unreachable(_) | ProviderError::UnknownEndpoint => {
            (StatusCode::SERVICE_UNAVAILABLE, "KMS_UNREACHABLE")
        }
        ProviderError::UnwrapFailed => (StatusCode::CONFLICT, "DATA_KEY_UNWRAP_FAILED"),
        ProviderError::AuditUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "AUDIT_UNAVAILABLE"),
        ProviderError::Other(_) => (StatusCode::BAD_GATEWAY, "KMS_ERROR"),
    }
}

impl OsError {
    fn wire(&self) -> (StatusCode, &'static str, String) {
        use StatusCode as S;
        match self {
            Self::Unauthorized => (
                S::UNAUTHORIZED,
                "UNAUTHORIZED",
                "a valid bearer token is required".into(),
            ),
            Self::Denied(denial) => (
                S::FORBIDDEN,
                "FORBIDDEN",
                format!("the caller may not do this on this service instance: {denial}"),
            ),
            Self::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "internal server error".into(),
            ),
            Self::DatabaseUnavailable(_)
            | Self::Config(
                ConfigError::StoreUnavailable(_)
                | ConfigError::Secrets(SecretsError::StoreUnavailable(_)),
            ) => (
                S::SERVICE_UNAVAILABLE,
                "DATABASE_UNAVAILABLE",
                "the database cannot be reached right now; retry after the time in Retry-After"
                    .into(),
            ),
            Self::RateLimited(_) => (
                S::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                "too many requests from this caller: retry after the time in Retry-After".into(),
            ),
            Self::BadRequest(m) => (S::BAD_REQUEST, "BAD_REQUEST", (*m).into()),
            Self::NotFound => (
                S::NOT_FOUND,
                "NOT_FOUND",
                "the resource does not exist".into(),
            ),
            Self::Http(status, what) => (*status, "BAD_REQUEST", what.clone()),
            Self::Config(e) => match e {
                ConfigError::Invalid(m) => (S::BAD_REQUEST, "BAD_REQUEST", (*m).into()),
                ConfigError::Unsupported(m) => (S::BAD_REQUEST, "UNSUPPORTED", (*m).into()),
                ConfigError::NotFound => (S::NOT_FOUND, "NOT_FOUND", e.to_string()),
                ConfigError::Exists => (S::CONFLICT, "ALREADY_EXISTS", e.to_string()),
                ConfigError::Store(_) | ConfigError::StoreUnavailable(_) => (
                    S::INTERNAL_SERVER_ERROR,
                    "INTERNAL_ERROR",
                    "internal server error".into(),
                ),
                ConfigError::Secrets(s) => match s {
                    SecretsError::InvalidCrn => {
                        (S::BAD_REQUEST, "INVALID_ROOT_KEY_CRN", s.to_string())
                    }
                    SecretsError::ReencryptionInProgress => {
                        (S::CONFLICT, "REENCRYPTION_IN_PROGRESS", s.to_string())
                    }
                    SecretsError::NotFound => (S::NOT_FOUND, "NOT_FOUND", s.to_string()),
                    SecretsError::Provider(p) => {
                        let (status, code) = provider_status(p);
                        let message = match p {
                            ProviderError::Other(_) => {
                                "the key management service failed".to_owned()
                            }
                            other => other.to_string(),
                        };
                        (status, code, message)
                    }
                    SecretsError::Undecryptable
                    | SecretsError::StaleGeneration
                    | SecretsError::LeaseLost
                    | SecretsError::Store(_)
                    | SecretsError::StoreUnavailable(_)
                    | SecretsError::Crypto => (
                        S::INTERNAL_SERVER_ERROR,
                        "INTERNAL_ERROR",
                        "internal server error".into(),
                    ),
                },
            },
        }
    }
}

impl IntoResponse for OsError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.wire();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %self, "configuration service request refused");
        } else if status.is_server_error() {
            tracing::error!(error = %self, "configuration service request failed");
        }
        let trace = uuid::Uuid::new_v4().simple().to_string();
        let mut response = (
            status,
            Json(json!({"trace": trace, "errors": [{"code": code, "message": message}]})),
        )
            .into_response();
        if let Self::RateLimited(wait) = self {
            crate::error::with_retry_after(&mut response, wait);
        } else if code == "DATABASE_UNAVAILABLE" {
            crate::error::with_retry_after(&mut response, std::time::Duration::from_secs(1));
        }
        response
    }
}
