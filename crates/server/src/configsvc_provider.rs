//! The configuration service's key provider: the global key and customer keys of this server's
//! own KMS in process, customer keys of any configured Key Protect endpoint (this server's own
//! URL included) over HTTP as the service id.

use keyward_secrets::{
    KeyProtectProvider, KeyProvider, NewDek, OpenedDek, ProviderError, RootKey, TenantId,
    WrappedDek,
};

use crate::key_provider::LocalKmsProvider;

/// Routes each root key to the provider that serves it.
pub struct ConfigsvcKeyProvider {
    local: LocalKmsProvider,
    http: Option<KeyProtectProvider>,
}

impl ConfigsvcKeyProvider {
    /// Builds the router; without `http`, every key is served in process.
    pub fn new(local: LocalKmsProvider, http: Option<KeyProtectProvider>) -> Self {
        Self { local, http }
    }

    fn http_for(&self, root: &RootKey) -> Option<&KeyProtectProvider> {
        match root {
            RootKey::Customer(crn) => self.http.as_ref().filter(|h| h.serves(crn)),
            RootKey::Global => None,
        }
    }
}

impl KeyProvider for ConfigsvcKeyProvider {
    fn polled(&self, root: &RootKey) -> bool {
        self.http_for(root).is_some()
    }

    async fn generate_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
    ) -> Result<NewDek, ProviderError> {
        match self.http_for(root) {
            Some(http) => http.generate_dek(root, tenant).await,
            None => self.local.generate_dek(root, tenant).await,
        }
    }

    async fn unwrap_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
        wrapped: WrappedDek<'_>,
    ) -> Result<OpenedDek, ProviderError> {
        match self.http_for(root) {
            Some(http) => http.unwrap_dek(root, tenant, wrapped).await,
            None => self.local.unwrap_dek(root, tenant, wrapped).await,
        }
    }

    async fn check_key(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        match self.http_for(root) {
            Some(http) => http.check_key(root, tenant).await,
            None => self.local.check_key(root, tenant).await,
        }
    }

    async fn register(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        match self.http_for(root) {
            Some(http) => http.register(root, tenant).await,
            None => self.local.register(root, tenant).await,
        }
    }

    async fn deregister(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        match self.http_for(root) {
            Some(http) => http.deregister(root, tenant).await,
            None => self.local.deregister(root, tenant).await,
        }
    }
}
