//! The one mapping from every error to an HTTP status and a Key Protect error body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_api::keyprotect::{
    Collection, ERROR_TYPE, ErrorReason, ErrorResource, ErrorTarget, MORE_INFO,
};
use keyward_kms::{KmsError, StoreFailure};

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A domain refusal.
    #[error(transparent)]
    Kms(#[from] KmsError),
    /// No, malformed, expired or forged bearer token.
    #[error("unauthorized")]
    Unauthorized,
    /// `Bluemix-Instance` missing or not a UUID.
    #[error("bad instance header")]
    InstanceHeader,
    /// The instance does not exist, belongs to another account, or grants the caller nothing
    /// (one answer for all three, so existence is not revealed).
    #[error("no access to instance")]
    NoInstanceAccess,
    /// A body was required and none was sent.
    #[error("missing body")]
    NoBody,
    /// The body is not what the endpoint takes.
    #[error("bad body: {0}")]
    BadBody(&'static str),
    /// `?policy=` with more than one resource.
    #[error("only one policy per query parameter")]
    NumCollectionResource,
    /// The instance's allowedNetwork policy accepts requests on the private endpoint only.
    #[error("private endpoint required")]
    PrivateEndpointRequired,
    /// The instance's allowedIP policy does not list the client's address.
    #[error("client address not allowed")]
    ClientAddressNotAllowed,
    /// `?policy=` names another kind of policy than the body holds.
    #[error("the body does not match the policy query parameter")]
    BodyQueryParamMismatch,
    /// `collectionTotal` differs from the number of resources.
    #[error("collection total mismatch")]
    CollectionTotalMismatch,
    /// A field is invalid.
    #[error("invalid field {field}")]
    InvalidField {
        /// Field name.
        field: &'static str,
        /// What it must be.
        requirement: &'static str,
    },
    /// Unknown route or action.
    #[error("not found")]
    NotFound,
    /// A feature this server does not offer yet.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The caller sent more requests than its rate allows; retry after the duration.
    #[error("rate limited")]
    RateLimited(std::time::Duration),
    /// The request took longer than the server allows.
    #[error("request timed out")]
    Timeout,
    /// The authorization decision refused; the denial says what is missing.
    #[error("forbidden: {0}")]
    Denied(keyward_iam::Denial),
    /// The request's audit event could not be written: its answer is withheld.
    #[error("the audit trail is unavailable")]
    AuditUnavailable,
    /// The database cannot be reached (down, restarting, connection cut); retry shortly.
    #[error("the database is unavailable: {0}")]
    DatabaseUnavailable(String),
    /// A server-side failure; the detail goes to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

struct Wire {
    status: StatusCode,
    code: Option<&'static str>,
    what: String,
    target: Option<&'static str>,
}

fn wire(status: StatusCode, code: &'static str, what: impl Into<String>) -> Wire {
    Wire {
        status,
        code: Some(code),
        what: what.into(),
        target: None,
    }
}

impl ApiError {
    fn wire(&self) -> Wire {
        use StatusCode as S;
        match self {
            Self::Kms(e) => kms_wire(e),
            Self::Unauthorized => Wire {
                status: S::UNAUTHORIZED,
                code: None,
                what: "The user does not have access to the specified resource".into(),
                target: None,
            },
            Self::InstanceHeader => Wire {
                status: S::BAD_REQUEST,
                code: None,
                what: "Request requires valid Bluemix-Instance Header containing a valid UUID"
                    .into(),
                target: None,
            },
            Self::NoInstanceAccess => wire(
                S::FORBIDDEN,
                "FORBIDDEN_ERR",
                "The user does not have access to the specified instance",
            ),
            Self::NoBody => wire(S::BAD_REQUEST, "NO_BODY_ERR", "Missing body in request"),
            Self::BadBody(why) => wire(
                S::BAD_REQUEST,
                "BAD_BODY_ERR",
                format!("Invalid body data was passed: {why}"),
            ),
            Self::NumCollectionResource => wire(
                S::BAD_REQUEST,
                "NUM_COLLECTION_RESOURCE_ERR",
                "Only a single instance policy may be created per query parameter",
            ),
            Self::PrivateEndpointRequired => wire(
                S::FORBIDDEN,
                "PRIVATE_ENDPOINT_REQUIRED_ERR",
                "The instance's allowedNetwork policy accepts its requests on the private endpoint only",
            ),
            Self::ClientAddressNotAllowed => wire(
                S::FORBIDDEN,
                "IP_NOT_ALLOWED_ERR",
                "The request's client address is not allowed by the instance's allowedIP policy",
            ),
            Self::BodyQueryParamMismatch => wire(
                S::BAD_REQUEST,
                "BODY_QUERY_PARAM_MISMATCH_ERR",
                "Data in body does not match data required by query parameter",
            ),
            Self::CollectionTotalMismatch => wire(
                S::BAD_REQUEST,
                "COLLECTION_TOTAL_MISMATCH_ERR",
                "Collection total does not match number of resources",
            ),
            Self::InvalidField { field, requirement } => Wire {
                status: S::BAD_REQUEST,
                code: Some("INVALID_FIELD_ERR"),
                what: format!("The field `{field}` must be: {requirement}"),
                target: Some(field),
            },
            Self::NotFound => wire(
                S::NOT_FOUND,
                "NOT_FOUND_ERR",
                "The requested resource could not be found",
            ),
            Self::Unsupported(what) => wire(
                S::BAD_REQUEST,
                "FEATURE_UNSUPPORTED_ERR",
                format!("Not supported by this server: {what}"),
            ),
            Self::RateLimited(_) => wire(
                S::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS_ERR",
                "Too many requests from this caller: retry after the time in Retry-After",
            ),
            Self::Timeout => wire(
                S::REQUEST_TIMEOUT,
                "REQUEST_TIMEOUT_ERR",
                "The request took too long",
            ),
            Self::Denied(denial) => wire(
                S::FORBIDDEN,
                "FORBIDDEN_ERR",
                format!("The user is not allowed to perform this action: {denial}"),
            ),
            Self::AuditUnavailable => wire(
                S::SERVICE_UNAVAILABLE,
                "AUDIT_UNAVAILABLE_ERR",
                "The request's audit event could not be recorded, so its result is withheld; retry later",
            ),
            Self::DatabaseUnavailable(_) => database_unavailable(),
            Self::Internal(_) => wire(
                S::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERR",
                "Internal server error",
            ),
        }
    }

    /// Whether the database could not be reached: the answer is 503 with `Retry-After`.
    fn database_unavailable(&self) -> bool {
        matches!(
            self,
            Self::DatabaseUnavailable(_)
                | Self::Kms(KmsError::Store(StoreFailure {
                    unavailable: true,
                    ..
                }))
        )
    }
}

fn database_unavailable() -> Wire {
    wire(
        StatusCode::SERVICE_UNAVAILABLE,
        "DATABASE_UNAVAILABLE_ERR",
        "The database cannot be reached right now; retry after the time in Retry-After",
    )
}

fn kms_wire(e: &KmsError) -> Wire {
    use StatusCode as S;
    match e {
        KmsError::KeyNotFound => wire(S::NOT_FOUND, "KEY_NOT_FOUND_ERR", "Key does not exist"),
        KmsError::KeyDeleted => wire(S::GONE, "KEY_DELETED_ERR", "The key has been deleted"),
        KmsError::InvalidState { .. } => wire(
            S::CONFLICT,
            "KEY_ACTION_INVALID_STATE_ERR",
            "Key is not in a valid state",
        ),
        KmsError::RootKeyRequired => wire(
            S::BAD_REQUEST,
            "KEY_ROOT_REQ_ERR",
            "Requested action can only be completed with a root key",
        ),
        KmsError::NotDualAuth => wire(
            S::CONFLICT,
            "NOT_DUAL_AUTH_ERR",
            "The key is not dual auth enabled and cannot be set for deletion",
        ),
        KmsError::AuthorizationsNotMet => wire(
            S::CONFLICT,
            "AUTHORIZATIONS_NOT_MET",
            "1 prior authorization(s) are required for deletion",
        ),
        KmsError::SameAuthorizer => wire(
            S::CONFLICT,
            "AUTHORIZATIONS_NOT_MET",
            "1 prior authorization(s) are required for deletion: the key must be deleted by a user other than the one who set it for deletion",
        ),
        KmsError::KeyCreateImportAccess => wire(
            S::CONFLICT,
            "KEY_CREATE_IMPORT_ACCESS_ERR",
            "KeyCreateImportAccess instance policy does not allow this action",
        ),
        KmsError::ImportTokenNotFound => wire(
            S::NOT_FOUND,
            "IMPORT_TOKEN_NOT_FOUND_ERR",
            "The instance has no import token: create one with POST /api/v2/import_token",
        ),
        KmsError::ImportTokenExpired => wire(
            S::CONFLICT,
            "IMPORT_TOKEN_EXPIRED_ERR",
            "The import token has expired",
        ),
        KmsError::NonceIvMismatch => wire(
            S::BAD_REQUEST,
            "INCORRECT_NONCE_IV_ERR",
            "The provided encrypted nonce was not encrypted with the key material given OR the provided IV does not match the encrypted nonce",
        ),
        KmsError::NonceMismatch => wire(
            S::BAD_REQUEST,
            "INCORRECT_NONCE_ERR",
            "The encrypted nonce given does not match existing record",
        ),
        KmsError::RotationPolicyNeedsRootKey => wire(
            S::BAD_REQUEST,
            "KEY_ROOT_REQ_ERR",
            "Rotation policy cannot be set on a standard key",
        ),
        KmsError::RotationNotPermitted => wire(
            S::CONFLICT,
            "KEY_ROTATION_NOT_PERMITTED",
            "This root key has been rotated within the last hour: Only one 'rotate' action per hour is permitted",
        ),
        KmsError::UpdatedRecently => wire(
            S::CONFLICT,
            "REQ_TOO_EARLY_ERR",
            "The key was updated recently: Please wait and try again",
        ),
        KmsError::PurgeTooEarly => wire(
            S::CONFLICT,
            "REQ_TOO_EARLY_ERR",
            "The key can be purged only 4 hours after it was deleted",
        ),
        KmsError::RestoreExpired => wire(
            S::BAD_REQUEST,
            "KEY_RESTORE_EXPIRED",
            "Key restoration has expired",
        ),
        KmsError::KeyExpired => wire(S::BAD_REQUEST, "KEY_EXPIRED_ERR", "The key is expired"),
        KmsError::PayloadRequired => wire(
            S::BAD_REQUEST,
            "KEY_PAYLOAD_REQ_ERR",
            "Key material is required to perform a 'rotate' action",
        ),
        KmsError::InvalidField { field, requirement } => Wire {
            status: S::BAD_REQUEST,
            code: Some("INVALID_FIELD_ERR"),
            what: format!("The field `{field}` must be: {requirement}"),
            target: Some(field),
        },
        KmsError::CiphertextInvalid => wire(
            S::UNPROCESSABLE_ENTITY,
            "CIPHERTEXT_INVALID_ERR",
            "The provided ciphertext is invalid or corrupted",
        ),
        KmsError::AliasTaken => wire(
            S::CONFLICT,
            "KEY_ALIAS_NOT_UNIQUE_ERR",
            "The alias already exists in this instance",
        ),
        KmsError::AliasQuota => wire(
            S::BAD_REQUEST,
            "KEY_ALIAS_QUOTA_ERR",
            "A key can have at most 5 aliases",
        ),
        KmsError::AliasNotFound => wire(
            S::NOT_FOUND,
            "KEY_ALIAS_NOT_FOUND_ERR",
            "The alias does not exist on this key",
        ),
        KmsError::KeyRingNotFound => wire(
            S::NOT_FOUND,
            "KEY_RING_NOT_FOUND_ERR",
            "The key ring does not exist",
        ),
        KmsError::KeyRingExists => wire(
            S::CONFLICT,
            "KEY_RING_EXISTS_ERR",
            "The key ring already exists",
        ),
        KmsError::KeyRingNotEmpty => wire(
            S::CONFLICT,
            "KEY_RING_KEYS_NOT_DELETED",
            "The key ring contains keys that must be deleted or moved first",
        ),
        KmsError::KeyRingReserved => wire(
            S::BAD_REQUEST,
            "KEY_RING_RESERVED_ERR",
            "The default key ring cannot be created or deleted",
        ),
        KmsError::KeyRingQuota => wire(
            S::BAD_REQUEST,
            "KEY_RING_QUOTA_ERR",
            "An instance can have at most 50 key rings",
        ),
        KmsError::Forbidden(action) => wire(
            S::FORBIDDEN,
            "FORBIDDEN_ERR",
            format!(
                "The user is not allowed to perform this action on the key: {}",
                keyward_iam::Denial::MissingRole(*action)
            ),
        ),
        KmsError::EncryptionLimitReached => wire(
            S::CONFLICT,
            "KEY_ROTATION_REQUIRED_ERR",
            "The key version reached its encryption limit: rotate the key with new material",
        ),
        KmsError::Conflict => wire(
            S::CONFLICT,
            "KEY_UPDATE_CONFLICT_ERR",
            "The key is being changed concurrently: Please try again",
        ),
        KmsError::ProtectedResource => wire(
            S::CONFLICT,
            "PROTECTED_RESOURCE_ERR",
            "Key is protecting one or more cloud resources",
        ),
        KmsError::PreventKeyDeletion => wire(
            S::CONFLICT,
            "PREV_KEY_DEL_ERR",
            "Key is protecting a cloud resource that has a retention policy",
        ),
        KmsError::RegistrationInvalidState => wire(
            S::UNPROCESSABLE_ENTITY,
            "KEY_INVALID_STATE_FOR_REGISTRATION_ERR",
            "Key is not in a valid state: registrations need an active root key",
        ),
        KmsError::Store(StoreFailure {
            unavailable: true, ..
        }) => database_unavailable(),
        KmsError::Store(_) | KmsError::Internal => wire(
            S::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERR",
            "Internal server error",
        ),
    }
}

/// The `errorMsg` text: "<Reason phrase>: <what> (<CODE>)".
fn error_msg(status: StatusCode, what: &str, code: Option<&str>) -> String {
    let phrase = status.canonical_reason().unwrap_or("Error");
    match code {
        Some(code) => format!("{phrase}: {what}: Please see `reasons` for more details ({code})"),
        None => format!("{phrase}: {what}"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let w = self.wire();
        if self.database_unavailable() {
            tracing::warn!(error = %self, "request refused: the database is unavailable");
        } else if w.status.is_server_error() {
            // The detail stays in the log; the body is generic.
            tracing::error!(error = %self, "request failed");
        }
        let mut response = kp_error(w);
        if let Self::RateLimited(wait) = self {
            with_retry_after(&mut response, wait);
        } else if self.database_unavailable() {
            with_retry_after(&mut response, std::time::Duration::from_secs(1));
        }
        response
    }
}

/// Adds `Retry-After` (whole seconds, at least 1).
pub fn with_retry_after(response: &mut Response, wait: std::time::Duration) {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(seconds.max(1)),
    );
}

/// A Key Protect error for a refusal that comes from the HTTP layer itself (unknown method,
/// undecodable path, body too large), not from a handler.
pub fn kp_error_for_status(status: StatusCode, what: &str) -> Response {
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED_ERR",
        StatusCode::PAYLOAD_TOO_LARGE => "BODY_TOO_LARGE_ERR",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "BAD_BODY_ERR",
        StatusCode::NOT_FOUND => "NOT_FOUND_ERR",
        s if s.is_server_error() => "INTERNAL_SERVER_ERR",
        _ => "BAD_REQUEST_ERR",
    };
    kp_error(Wire {
        status,
        code: Some(code),
        what: what.to_owned(),
        target: None,
    })
}

fn kp_error(w: Wire) -> Response {
    let reasons = w
        .code
        .map(|code| ErrorReason {
            code: code.to_owned(),
            message: w.what.clone(),
            status: w.status.as_u16(),
            more_info: MORE_INFO,
            target: w.target.map(|name| ErrorTarget {
                kind: "field",
                name: name.to_owned(),
            }),
        })
        .into_iter()
        .collect();
    let body = Collection::new(
        ERROR_TYPE,
        vec![ErrorResource {
            error_msg: error_msg(w.status, &w.what, w.code),
            reasons,
        }],
    );
    (w.status, Json(body)).into_response()
}

impl From<keyward_store::StoreError> for ApiError {
    fn from(e: keyward_store::StoreError) -> Self {
        if e.is_unavailable() {
            Self::DatabaseUnavailable(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

impl From<keyward_iam::IamError> for ApiError {
    fn from(e: keyward_iam::IamError) -> Self {
        match e {
            keyward_iam::IamError::InvalidApiKey => Self::Unauthorized,
            keyward_iam::IamError::Invalid { field, reason } => Self::InvalidField {
                field,
                requirement: reason,
            },
            keyward_iam::IamError::NotFound => Self::NotFound,
            keyward_iam::IamError::StoreUnavailable(detail) => Self::DatabaseUnavailable(detail),
            other => Self::Internal(other.to_string()),
        }
    }
}
