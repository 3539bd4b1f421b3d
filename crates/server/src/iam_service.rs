//! IAM as the server uses it: token issue and verification, and cached instance and grant
//! lookups for the authorization decision.

use std::sync::Arc;
use std::time::Duration;

use keyward_api::iam::TokenResponse;
use keyward_iam::{
    AccountId, ApiKeySecret, Claims, Grants, IamStore, Instance, ServiceKind, Subject,
    TOKEN_LIFETIME_SECONDS, TokenSigner,
};
use keyward_kms::Clock;
use keyward_store::Store;
use uuid::Uuid;

use crate::error::ApiError;
use crate::ttl_cache::TtlCache;

/// How long instance and policy lookups are reused.
const IAM_CACHE_TTL: Duration = Duration::from_secs(2);

/// IAM service of the server.
pub struct IamService {
    store: Store,
    signer: TokenSigner,
    clock: Arc<dyn Clock>,
    instances: TtlCache<Uuid, Option<Instance>>,
    grants: TtlCache<(String, Uuid), Arc<Grants>>,
}

impl IamService {
    /// Builds the service.
    pub fn new(store: Store, signer: TokenSigner, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            signer,
            clock,
            instances: TtlCache::new(IAM_CACHE_TTL, 10_000),
            grants: TtlCache::new(IAM_CACHE_TTL, 100_000),
        }
    }

    /// Exchanges an API key for an access token.
    pub async fn issue_token(&self, apikey: String) -> Result<TokenResponse, ApiError> {
        let secret = ApiKeySecret::from_presented(apikey);
        let principal = self
            .store
            .principal_by_api_key(&secret.hash())
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let claims = Claims::for_principal(&principal, self.clock.now());
        let access_token = self.signer.issue(&claims)?;
        Ok(TokenResponse {
            access_token,
            refresh_token: "not_supported".into(),
            token_type: "Bearer".into(),
            expires_in: TOKEN_LIFETIME_SECONDS,
            expiration: claims.exp,
            scope: "ibm openid".into(),
        })
    }

    /// Verifies a bearer token.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        self.signer
            .verify(token, self.clock.now())
            .map_err(|_| ApiError::Unauthorized)
    }

    /// The instance, if it exists (cached briefly).
    pub async fn instance(&self, id: Uuid) -> Result<Option<Instance>, ApiError> {
        if let Some(found) = self.instances.get(&id) {
            return Ok(found);
        }
        let found = self.store.find_instance(id).await?;
        self.instances.insert(id, found.clone());
        Ok(found)
    }

    /// The caller's grants on `instance` (cached briefly).
    pub async fn grants(
        &self,
        claims: &Claims,
        instance: &Instance,
    ) -> Result<Arc<Grants>, ApiError> {
        let cache_key = (claims.iam_id.clone(), instance.id);
        if let Some(g) = self.grants.get(&cache_key) {
            return Ok(g);
        }
        let account: AccountId = claims.account.bss.parse()?;
        let policies = self.store.list_policies(&account).await?;
        let mine = policies
            .iter()
            .filter(|p| matches!(&p.subject, Subject::Principal(id) if *id == claims.iam_id));
        let grants = Arc::new(Grants::collect(mine, instance.service, instance.id));
        self.grants.insert(cache_key, Arc::clone(&grants));
        Ok(grants)
    }

    /// Grants from service-to-service authorizations: when the caller is a service id of one of
    /// our services, the authorizations in the instance's account that name that service.
    pub async fn service_grants(
        &self,
        claims: &Claims,
        instance: &Instance,
    ) -> Result<Arc<Grants>, ApiError> {
        let cache_key = (format!("service:{}", claims.iam_id), instance.id);
        if let Some(g) = self.grants.get(&cache_key) {
            return Ok(g);
        }
        let service = self
            .store
            .find_principal(&claims.iam_id)
            .await?
            .and_then(|p| p.service_name)
            .and_then(|name| ServiceKind::parse(&name));
        let grants = match service {
            None => Grants::default(),
            Some(service) => {
                let policies = self.store.list_policies(&instance.account).await?;
                let authorizations = policies.iter().filter(
                    |p| matches!(&p.subject, Subject::Service { service: s, .. } if *s == service),
                );
                Grants::collect(authorizations, instance.service, instance.id)
            }
        };
        let grants = Arc::new(grants);
        self.grants.insert(cache_key, Arc::clone(&grants));
        Ok(grants)
    }

    /// Whether the caller holds a role on IAM itself (manages identities and policies).
    pub async fn is_account_admin(&self, claims: &Claims) -> Result<bool, ApiError> {
        let account: AccountId = claims.account.bss.parse()?;
        let policies = self.store.list_policies(&account).await?;
        Ok(policies.iter().any(|p| {
            matches!(&p.subject, Subject::Principal(id) if *id == claims.iam_id)
                && p.resource.service == ServiceKind::Iam
        }))
    }

    /// Drops cached decisions (after policies or instances change).
    pub fn forget_decisions(&self) {
        self.instances.clear();
        self.grants.clear();
    }
}
