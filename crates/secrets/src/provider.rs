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

/// A wrapped DEK as stored.
#[derive(Clone, Copy, Debug)]
pub struct WrappedDek<'a> {
    /// The ciphertext the KMS returned.
    pub ciphertext: &'a [u8],
    /// Whether it was wrapped with the tenant id as `aad` (see [`dek_aad`]).
    pub tenant_bound: bool,
}

/// The `aad` every DEK of `tenant` is wrapped with, so that a wrapped DEK copied to another
/// tenant does not unwrap.
pub fn dek_aad(tenant: TenantId) -> Vec<String> {
    vec![tenant.to_string()]
}

/// A KMS that holds root keys: ours over HTTP, a real Key Protect, or the service's global key.
/// Every call is made for one tenant: the KMS decides with the authorizations that name it.
pub trait KeyProvider: Send + Sync + 'static {
    /// Asks the root key for a new DEK (Key Protect: wrap with no plaintext), wrapped with
    /// [`dek_aad`] of `tenant`.
    fn generate_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
    ) -> impl Future<Output = Result<NewDek, ProviderError>> + Send;

    /// Unwraps a DEK of `tenant`.
    fn unwrap_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
        wrapped: WrappedDek<'_>,
    ) -> impl Future<Output = Result<OpenedDek, ProviderError>> + Send;

    /// Checks that the root key can still unwrap for `tenant` (authorized, exists, not
    /// disabled, not deleted): used before work that must not run on a revoked key even while
    /// its DEK is cached.
    fn check_key(
        &self,
        root: &RootKey,
        tenant: TenantId,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// Records on the key that the tenant's resource is protected by it (Key Protect
    /// registrations).
    fn register(
        &self,
        root: &RootKey,
        tenant: TenantId,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// Whether the state of `root` must be polled: its KMS sends this service no key events (a
    /// real Key Protect, or another Keyward over HTTP).
    fn polled(&self, root: &RootKey) -> bool {
        let _ = root;
        false
    }

    /// Removes that record.
    fn deregister(
        &self,
        root: &RootKey,
        tenant: TenantId,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;
}
