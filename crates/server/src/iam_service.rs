//! IAM as the server uses it: token issue, authentication of every request (signature, claims,
//! and whether the principal and its API key still exist and are unlocked), and the one
//! authorization decision with its cached lookups.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use keyward_api::iam::TokenResponse;
use keyward_iam::{
    Action, ApiKeySecret, Authorizer, Caller, Claims, Decision, IamStore, Resource, ServiceKind,
    TOKEN_LIFETIME_SECONDS, TokenError, TokenSigner,
};
use keyward_kms::{Clock, MasterKey};
use keyward_store::Store;
use uuid::Uuid;

use crate::error::ApiError;
use crate::rate_limit::RateLimiter;
use crate::signing_keys;

/// How long lookups behind a decision (instances, policies, principals, API keys) are reused:
/// the bound within which a change made on another node is seen.
pub const IAM_CACHE_MAX_AGE: Duration = Duration::from_secs(2);

/// Why `/identity/token` refused.
#[derive(Debug)]
pub enum TokenRefusal {
    /// No such API key (or its owner is gone).
    UnknownKey,
    /// The key is locked.
    LockedKey,
    /// `source_instance` was given by a principal that is not one of our services, or names
    /// no instance of its service.
    BadSource,
    /// A server failure.
    Failed(ApiError),
}

/// IAM service of the server.
pub struct IamService {
    store: Store,
    signer: TokenSigner,
    clock: Arc<dyn Clock>,
    authorizer: Arc<Authorizer<Store>>,
    master: Arc<dyn MasterKey>,
    rotation: Duration,
    last_key_reload: Mutex<Instant>,
    limiter: RateLimiter,
}

impl IamService {
    /// Builds the service over the signing keys in force.
    pub fn new(
        store: Store,
        signer: TokenSigner,
        clock: Arc<dyn Clock>,
        master: Arc<dyn MasterKey>,
        rotation: Duration,
        limiter: RateLimiter,
    ) -> Self {
        Self {
            authorizer: Arc::new(Authorizer::new(store.clone(), IAM_CACHE_MAX_AGE)),
            store,
            signer,
            clock,
            master,
            rotation,
            last_key_reload: Mutex::new(Instant::now()),
            limiter,
        }
    }

    /// The authorizer (shared with the in-process key provider).
    pub fn authorizer(&self) -> &Arc<Authorizer<Store>> {
        &self.authorizer
    }

    /// Exchanges an API key for an access token; with `source_instance`, for one of our
    /// services acting for that instance of its service.
    pub async fn issue_token(
        &self,
        apikey: String,
        source_instance: Option<&str>,
    ) -> Result<TokenResponse, TokenRefusal> {
        let secret = ApiKeySecret::from_presented(apikey);
        let (key, principal) = self
            .store
            .api_key_by_hash(&secret.hash())
            .await
            .map_err(|e| TokenRefusal::Failed(e.into()))?
            .ok_or(TokenRefusal::UnknownKey)?;
        keyward_iam::audit_note::note_login(&principal);
        if key.locked {
            return Err(TokenRefusal::LockedKey);
        }
        let mut claims = Claims::for_principal(&principal, key.id, self.clock.now());
        if let Some(source) = source_instance {
            let service = principal
                .service_name
                .as_deref()
                .and_then(ServiceKind::parse)
                .ok_or(TokenRefusal::BadSource)?;
            let id = Uuid::parse_str(source).map_err(|_| TokenRefusal::BadSource)?;
            self.authorizer
                .instance(id)
                .await
                .map_err(|e| TokenRefusal::Failed(e.into()))?
                .filter(|i| i.service == service)
                .ok_or(TokenRefusal::BadSource)?;
            claims.source_instance = Some(id);
        }
        let access_token = self
            .signer
            .issue(&claims)
            .map_err(|e| TokenRefusal::Failed(e.into()))?;
        Ok(TokenResponse {
            access_token,
            refresh_token: "not_supported".into(),
            token_type: "Bearer".into(),
            expires_in: TOKEN_LIFETIME_SECONDS,
            expiration: claims.exp,
            scope: "ibm openid".into(),
        })
    }

    fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.signer.verify(token, self.clock.now())
    }

    /// Authenticates a bearer token: a valid signature and claims, a principal that still
    /// exists, an API key that still exists and is not locked (anything else is 401), within
    /// the principal's rate (else 429).
    pub async fn authenticate(&self, token: &str) -> Result<Arc<Caller>, ApiError> {
        let caller = self.verified_caller(token).await?;
        self.limiter
            .check(&caller.iam_id)
            .map_err(ApiError::RateLimited)?;
        Ok(caller)
    }

    async fn verified_caller(&self, token: &str) -> Result<Arc<Caller>, ApiError> {
        let claims = match self.verify(token) {
            Err(TokenError::UnknownKey) if self.reload_keys_if_quiet().await => self.verify(token),
            other => other,
        }
        .map_err(|_| ApiError::Unauthorized)?;
        let key_id = Uuid::parse_str(&claims.apikey_id).map_err(|_| ApiError::Unauthorized)?;
        let caller = self
            .authorizer
            .credential(&claims.iam_id, key_id)
            .await?
            .filter(|c| c.account.as_str() == claims.account.bss)
            .ok_or(ApiError::Unauthorized)?;
        match claims.source_instance {
            None => Ok(caller),
            Some(id) => {
                let instance = self
                    .authorizer
                    .instance(id)
                    .await?
                    .filter(|i| caller.service == Some(i.service))
                    .ok_or(ApiError::Unauthorized)?;
                Ok(Arc::new((*caller).clone().acting_for(instance)))
            }
        }
    }

    /// Reloads the signing keys unless that happened within the last second; `true` when it
    /// reloaded (a token signed by a key made on another node since the last reload).
    async fn reload_keys_if_quiet(&self) -> bool {
        {
            let mut last = self
                .last_key_reload
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.elapsed() < Duration::from_secs(1) {
                return false;
            }
            *last = Instant::now();
        }
        match signing_keys::load(&self.store, self.master.as_ref()).await {
            Ok(keys) if !keys.is_empty() => self.signer.replace_keys(keys).is_ok(),
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot reload the token signing keys");
                false
            }
        }
    }

    /// Rotates the signing key when due, drops expired ones, and takes up keys other nodes
    /// made (run periodically).
    pub async fn refresh_signing_keys(&self) -> Result<(), ApiError> {
        let keys = signing_keys::ensure(
            &self.store,
            self.master.as_ref(),
            self.rotation,
            self.clock.now(),
        )
        .await?;
        self.signer.replace_keys(keys)?;
        *self
            .last_key_reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        Ok(())
    }

    /// The decision for `caller` performing `action` on `resource`; a refusal is
    /// [`ApiError::Denied`] with what is missing.
    pub async fn authorize(
        &self,
        caller: &Caller,
        action: Action,
        resource: Resource<'_>,
    ) -> Result<(), ApiError> {
        match self.authorizer.authorize(caller, action, resource).await? {
            Decision::Allow(_) => Ok(()),
            Decision::Deny(denial) => Err(ApiError::Denied(denial)),
        }
    }

    /// Forgets every cached lookup: call after any change to policies, principals, API keys or
    /// instances.
    pub fn invalidate(&self) {
        self.authorizer.invalidate();
    }
}
