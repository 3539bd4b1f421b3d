//! Errors of the configuration service.

use keyward_secrets::SecretsError;
use thiserror::Error;

/// Everything the configuration service refuses with.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// Bad input.
    #[error("{0}")]
    Invalid(&'static str),
    /// No such resource.
    #[error("the resource does not exist")]
    NotFound,
    /// The data mart already exists.
    #[error("the instance already has a data mart")]
    Exists,
    /// Unsupported preference or operation.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The secrets library refused or failed.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// Persistence failed; detail for logs.
    #[error("storage failure: {0}")]
    Store(String),
    /// The database could not be reached; a retry may succeed. Detail for logs.
    #[error("the database is unavailable: {0}")]
    StoreUnavailable(String),
}
