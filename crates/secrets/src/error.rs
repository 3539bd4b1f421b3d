//! Errors of the secrets library.

use thiserror::Error;

/// Why a key provider refused or failed. The server maps each to a clear client error.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// The KMS could not be reached (or timed out, or kept failing with 5xx/429, or its circuit
    /// is open after such failures); the detail says which.
    #[error("the key management service is unreachable: {0}")]
    Unreachable(String),
    /// The service is not authorized to use the key (no service-to-service authorization).
    #[error("the service is not authorized to use this root key: {missing}")]
    NotAuthorized {
        /// What is missing (which authorization), as the KMS explains it.
        missing: String,
    },
    /// The key does not exist (or was purged).
    #[error("the root key does not exist")]
    KeyNotFound,
    /// The key is disabled (suspended).
    #[error("the root key is disabled")]
    KeyDisabled,
    /// The key is deleted (destroyed).
    #[error("the root key is deleted")]
    KeyDeleted,
    /// The key is expired (deactivated) and cannot wrap.
    #[error("the root key is expired")]
    KeyExpired,
    /// Not a root key.
    #[error("the key is not a root key")]
    NotRootKey,
    /// The KMS does not know this CRN's endpoint.
    #[error("no KMS endpoint is configured for this CRN")]
    UnknownEndpoint,
    /// The wrapped DEK did not unwrap (corrupt, or not made by this key).
    #[error("the wrapped data key does not unwrap under the root key")]
    UnwrapFailed,
    /// The key's use could not be recorded in the audit trail, so it was not made.
    #[error("the use of the root key could not be recorded in the audit trail")]
    AuditUnavailable,
    /// Anything else; the detail is for logs.
    #[error("key provider failure: {0}")]
    Other(String),
}

impl ProviderError {
    /// Whether this refusal takes the key away: its data keys must no longer be used, cached or
    /// not (disabled, deleted, gone, or the service's authorization withdrawn). A KMS that is
    /// unreachable or failing revokes nothing; the cache's age bound applies then.
    pub fn revokes_key(&self) -> bool {
        matches!(
            self,
            Self::KeyDisabled | Self::KeyDeleted | Self::KeyNotFound | Self::NotAuthorized { .. }
        )
    }
}

/// Errors of the secrets library.
#[derive(Debug, Error)]
pub enum SecretsError {
    /// Not a valid root-key CRN.
    #[error(
        "not a valid root key CRN: expected crn:v1:<cname>:<ctype>:kms:<region>:a/<account>:<instance-guid>:key:<key-guid>"
    )]
    InvalidCrn,
    /// The key provider refused or failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// No such secret.
    #[error("the secret does not exist")]
    NotFound,
    /// A secret did not decrypt: wrong place (moved ciphertext) or corruption.
    #[error("the secret could not be decrypted")]
    Undecryptable,
    /// A re-encryption is already running for the tenant.
    #[error("a re-encryption is already in progress for this instance")]
    ReencryptionInProgress,
    /// A write named a generation that was retired meanwhile (the caller retries).
    #[error("the data key generation was retired during the write")]
    StaleGeneration,
    /// Another node took over the tenant's re-encryption job: this node stops working on it.
    #[error("another node took over the re-encryption")]
    LeaseLost,
    /// Persistence failed; detail for logs.
    #[error("storage failure: {0}")]
    Store(String),
    /// The database could not be reached; a retry may succeed. Detail for logs.
    #[error("the database is unavailable: {0}")]
    StoreUnavailable(String),
    /// Crypto library failure.
    #[error("internal cryptographic failure")]
    Crypto,
}
