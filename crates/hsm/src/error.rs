//! What can go wrong opening the token. Never holds the PIN.

use std::path::PathBuf;

/// Opening the PKCS#11 master key failed.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// The module could not be loaded or initialised.
    #[error("cannot load the PKCS#11 module {module}: {source}")]
    Module {
        /// The module's path.
        module: PathBuf,
        /// Cause.
        #[source]
        source: cryptoki::error::Error,
    },
    /// No slot holds a token with that label.
    #[error("no PKCS#11 token is labelled {0:?} (initialise one, e.g. softhsm2-util --init-token)")]
    NoToken(String),
    /// The PIN was refused, or the session could not be opened.
    #[error("cannot log in to the PKCS#11 token {token:?}: {source}")]
    Login {
        /// The token's label.
        token: String,
        /// Cause.
        #[source]
        source: cryptoki::error::Error,
    },
    /// Several keys carry the label: which one is the master key is not clear.
    #[error("{0} keys in the token are labelled {1:?}; exactly one may be")]
    AmbiguousKey(usize, String),
    /// The key exists but is not usable as the master key.
    #[error("the token's key {label:?} is not a usable master key: {reason}")]
    Unusable {
        /// The key's label.
        label: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Any other token operation failed.
    #[error("PKCS#11 {0}")]
    Token(#[from] cryptoki::error::Error),
}
