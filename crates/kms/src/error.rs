//! Errors of the KMS domain. Each variant is one Key Protect reason; the server maps them to
//! HTTP statuses and wire bodies in exactly one place.

use thiserror::Error;

use crate::state::{Action, KeyState};

/// An identifier failed to parse.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum InvalidId {
    /// Not a 36-character hyphenated UUID.
    #[error("not a valid UUID")]
    NotUuid,
    /// Not a valid alias.
    #[error(
        "an alias is 2 to 90 characters of letters, digits, '-' and '_', not a UUID and not a reserved word"
    )]
    Alias,
    /// Not a valid key ring id.
    #[error("a key ring id is 2 to 100 characters of letters, digits and '-'")]
    KeyRing,
    /// Neither a key id nor an alias.
    #[error("not a key id or alias")]
    KeyRef,
}

/// A store (persistence port) failure. The detail is for logs, never for responses.
#[derive(Debug, Error)]
#[error("storage failure: {detail}")]
pub struct StoreFailure {
    /// What went wrong, for the log.
    pub detail: String,
    /// The database could not be reached (down, restarting, connection cut): a retry may
    /// succeed. A write cut off during its commit may or may not have landed.
    pub unavailable: bool,
}

/// Everything a KMS operation can refuse with.
#[derive(Debug, Error)]
pub enum KmsError {
    /// No such key in this instance (or it was purged).
    #[error("the key could not be found")]
    KeyNotFound,
    /// The key is destroyed and the action needs a live key.
    #[error("the key has been deleted")]
    KeyDeleted,
    /// The action is not allowed in the key's state.
    #[error("key is not in a valid state for {action:?} (state {state:?})")]
    InvalidState {
        /// The refused action.
        action: Action,
        /// The key's effective state.
        state: KeyState,
    },
    /// The action needs a root key.
    #[error("requested action can only be completed with a root key")]
    RootKeyRequired,
    /// A deletion authorization on a key without a dual-authorization policy.
    #[error("the key is not dual auth enabled and cannot be set or unset for deletion")]
    NotDualAuth,
    /// Deleting a dual-authorization key that no user authorized for deletion in the last 7 days.
    #[error("1 prior authorization(s) are required for deletion")]
    AuthorizationsNotMet,
    /// Deleting a dual-authorization key as the user who authorized its deletion.
    #[error(
        "1 prior authorization(s) are required for deletion: the key must be deleted by a user other than the one who authorized it"
    )]
    SameAuthorizer,
    /// The instance's keyCreateImportAccess policy does not allow creating or importing this
    /// kind of key (or importing without an import token).
    #[error("the instance's keyCreateImportAccess policy does not allow this action")]
    KeyCreateImportAccess,
    /// The instance has no import token.
    #[error("the instance has no import token")]
    ImportTokenNotFound,
    /// The import token expired, was retrieved as often as allowed, or was spent.
    #[error("the import token has expired")]
    ImportTokenExpired,
    /// The encrypted nonce does not open under the imported material with the IV.
    #[error(
        "the encrypted nonce was not encrypted with the key material given, or the IV does not match it"
    )]
    NonceIvMismatch,
    /// The encrypted nonce opens but is not the token's.
    #[error("the encrypted nonce given does not match the import token's")]
    NonceMismatch,
    /// A rotation policy on a standard key.
    #[error("rotation policy cannot be set on a standard key")]
    RotationPolicyNeedsRootKey,
    /// A second manual rotation within the hour.
    #[error("this root key has been rotated within the last hour")]
    RotationNotPermitted,
    /// Inside a 30-second (enable/restore) or 4-hour (purge) waiting window.
    #[error("the key was updated recently: please wait and try again")]
    UpdatedRecently,
    /// The key cannot be purged until 4 hours after deletion.
    #[error("the key can be purged only 4 hours after it was deleted")]
    PurgeTooEarly,
    /// Restore later than 30 days after deletion.
    #[error("key restoration has expired")]
    RestoreExpired,
    /// The key's expiration date has passed.
    #[error("the key is expired")]
    KeyExpired,
    /// Rotating an imported key needs new material.
    #[error("key material is required to perform a 'rotate' action on an imported key")]
    PayloadRequired,
    /// A request field is invalid.
    #[error("the field '{field}' must be: {requirement}")]
    InvalidField {
        /// The field name as the client sent it.
        field: &'static str,
        /// What it must be.
        requirement: &'static str,
    },
    /// The ciphertext does not authenticate under this key with this aad.
    #[error("the provided ciphertext is invalid or corrupted")]
    CiphertextInvalid,
    /// The alias is used by another key of the instance.
    #[error("the alias is already in use in this instance")]
    AliasTaken,
    /// A key may have at most 5 aliases.
    #[error("a key can have at most 5 aliases")]
    AliasQuota,
    /// No such alias on this key.
    #[error("the alias could not be found on this key")]
    AliasNotFound,
    /// No such key ring.
    #[error("the key ring could not be found")]
    KeyRingNotFound,
    /// The key ring already exists.
    #[error("the key ring already exists")]
    KeyRingExists,
    /// The key ring still holds keys that are not destroyed.
    #[error("the key ring contains keys that are not destroyed")]
    KeyRingNotEmpty,
    /// `default` cannot be created or deleted.
    #[error("the default key ring cannot be created or deleted")]
    KeyRingReserved,
    /// An instance holds at most 50 key rings.
    #[error("an instance can have at most 50 key rings")]
    KeyRingQuota,
    /// The caller's roles do not allow this action on this key or ring.
    #[error("the caller is not allowed to perform {0}")]
    Forbidden(keyward_iam::Action),
    /// The encryption budget of the current version is spent and the key cannot be rotated
    /// automatically (imported material).
    #[error("the key has reached its encryption limit and must be rotated with new material")]
    EncryptionLimitReached,
    /// Another writer changed the key at the same time, repeatedly.
    #[error("the key is being changed concurrently; try again")]
    Conflict,
    /// Delete without `force` while registrations exist.
    #[error("the key is protecting one or more cloud resources")]
    ProtectedResource,
    /// A registration forbids deleting the key, even with `force`.
    #[error("the key is protecting a cloud resource that has a retention policy")]
    PreventKeyDeletion,
    /// Registrations need an active root key.
    #[error("the key is not in a valid state for a registration")]
    RegistrationInvalidState,
    /// Persistence failed.
    #[error(transparent)]
    Store(#[from] StoreFailure),
    /// The master key or the crypto library failed (not a client error).
    #[error("internal cryptographic failure")]
    Internal,
}
