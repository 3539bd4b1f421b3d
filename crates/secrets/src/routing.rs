//! Routes each root key to the provider that serves it: a remote KMS (Key Protect's API over
//! HTTP) for the CRNs it is configured for, the local provider for every other key (the
//! service's global key, the keys of a KMS in the same process).

use crate::error::ProviderError;
use crate::model::{RootKey, TenantId};
use crate::provider::{KeyProvider, NewDek, OpenedDek, WrappedDek};

/// A provider that serves only some root keys.
pub trait Serves {
    /// Whether `root` is one of them.
    fn serves(&self, root: &RootKey) -> bool;
}

/// Sends each call to `remote` when it serves the root key, else to `local`.
pub struct Routing<L, R> {
    local: L,
    remote: Option<R>,
}

impl<L, R: Serves> Routing<L, R> {
    /// A router; without `remote`, every key goes to `local`.
    pub fn new(local: L, remote: Option<R>) -> Self {
        Self { local, remote }
    }

    /// The providers it routes to (for composition and tests).
    pub fn providers(&self) -> (&L, Option<&R>) {
        (&self.local, self.remote.as_ref())
    }

    fn remote_for(&self, root: &RootKey) -> Option<&R> {
        self.remote.as_ref().filter(|r| r.serves(root))
    }
}

impl<L: KeyProvider, R: KeyProvider + Serves> KeyProvider for Routing<L, R> {
    fn polled(&self, root: &RootKey) -> bool {
        match self.remote_for(root) {
            Some(remote) => remote.polled(root),
            None => self.local.polled(root),
        }
    }

    async fn generate_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
    ) -> Result<NewDek, ProviderError> {
        match self.remote_for(root) {
            Some(remote) => remote.generate_dek(root, tenant).await,
            None => self.local.generate_dek(root, tenant).await,
        }
    }

    async fn unwrap_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
        wrapped: WrappedDek<'_>,
    ) -> Result<OpenedDek, ProviderError> {
        match self.remote_for(root) {
            Some(remote) => remote.unwrap_dek(root, tenant, wrapped).await,
            None => self.local.unwrap_dek(root, tenant, wrapped).await,
        }
    }

    async fn check_key(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        match self.remote_for(root) {
            Some(remote) => remote.check_key(root, tenant).await,
            None => self.local.check_key(root, tenant).await,
        }
    }

    async fn register(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        match self.remote_for(root) {
            Some(remote) => remote.register(root, tenant).await,
            None => self.local.register(root, tenant).await,
        }
    }

    async fn deregister(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        match self.remote_for(root) {
            Some(remote) => remote.deregister(root, tenant).await,
            None => self.local.deregister(root, tenant).await,
        }
    }
}
