//! IAM errors.

use thiserror::Error;

/// Why a bearer token was refused. Every variant is a 401 to the caller.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url segments, or not our header or claims.
    #[error("malformed token")]
    Malformed,
    /// The signature does not verify.
    #[error("bad token signature")]
    Signature,
    /// Past `exp`.
    #[error("token expired")]
    Expired,
    /// Signed by a key this node does not hold (rotated away, or made by another node since
    /// this node last read the keys).
    #[error("token signed by an unknown key")]
    UnknownKey,
    /// `iat` or `nbf` in the future, or a lifetime longer than we issue.
    #[error("token not valid yet")]
    NotYetValid,
}

/// IAM failures.
#[derive(Debug, Error)]
pub enum IamError {
    /// Unknown or revoked API key.
    #[error("the API key is not valid")]
    InvalidApiKey,
    /// An input failed validation.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// What it must be.
        reason: &'static str,
    },
    /// Not found (or not visible to the caller).
    #[error("not found")]
    NotFound,
    /// The crypto library failed.
    #[error("internal cryptographic failure")]
    Crypto,
    /// Persistence failed; detail for the log only.
    #[error("storage failure: {0}")]
    Store(String),
    /// The database could not be reached (down, restarting, connection cut); a retry may
    /// succeed. Detail for the log only.
    #[error("the database is unavailable: {0}")]
    StoreUnavailable(String),
}
