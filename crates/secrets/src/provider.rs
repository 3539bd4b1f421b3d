//! The `KeyProvider` port: where DEKs come from and how they are unwrapped.

use std::future::Future;

use keyward_crypto::SecretBytes;

use crate::error::ProviderError;
use crate::model::{RootKey, TenantId};

/// A new DEK, in the clear and wrapped by the root key.
pub struct NewDek {
    /// The DEK (32 bytes).
    pub dek: SecretBytes,
    /// The DEK wrapped by the root key.
    pub wrapped: Vec<u8>,
}

/// An unwrapped DEK; `rewrapped` when the root key was rotated since it was wrapped.
pub struct OpenedDek {
    /// The DEK.
    pub dek: SecretBytes,
    /// The same DEK wrapped under the root key's newest version, to store instead.
    pub rewrapped: Option<Vec<u8>>,
}

/// A KMS that holds root keys: ours over HTTP, a real Key Protect, or the service's global key.
pub trait KeyProvider: Send + Sync + 'static {
    /// Asks the root key for a new DEK (Key Protect: wrap with no plaintext).
    fn generate_dek(
        &self,
        root: &RootKey,
    ) -> impl Future<Output = Result<NewDek, ProviderError>> + Send;

    /// Unwraps a DEK.
    fn unwrap_dek(
        &self,
        root: &RootKey,
        wrapped: &[u8],
    ) -> impl Future<Output = Result<OpenedDek, ProviderError>> + Send;

    /// Checks that the root key can still unwrap (exists, not disabled, not deleted): used
    /// before work that must not run on a revoked key even while its DEK is cached.
    fn check_key(&self, root: &RootKey) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// Records on the key that the tenant's resource is protected by it (Key Protect
    /// registrations).
    fn register(
        &self,
        root: &RootKey,
        tenant: TenantId,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// Removes that record.
    fn deregister(
        &self,
        root: &RootKey,
        tenant: TenantId,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;
}
