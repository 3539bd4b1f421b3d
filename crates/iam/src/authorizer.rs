//! The authorization decision with its lookups: instances and policies come from the store and
//! are cached for a bounded age; every policy, principal, API key or instance change made on
//! this node invalidates the caches at once.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::action::Action;
use crate::cache::ExpiringMap;
use crate::caller::Caller;
use crate::decision::{Decision, Resource, decide};
use crate::error::IamError;
use crate::grants::Grants;
use crate::policy::Policy;
use crate::ports::IamStore;
use crate::principal::{AccountId, Instance, Principal, ServiceKind};

/// What grants are collected for.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// The caller's account, on IAM.
    Account,
    /// A service instance.
    Instance(&'a Instance),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GrantKey {
    iam_id: String,
    acting_for: Option<Uuid>,
    target: Option<Uuid>,
}

/// Decides, with cached lookups.
pub struct Authorizer<S> {
    store: S,
    /// API key id → the caller it authenticates, while the key and its owner exist and the key
    /// is unlocked.
    credentials: ExpiringMap<Uuid, Option<Arc<Caller>>>,
    instances: ExpiringMap<Uuid, Option<Instance>>,
    policies: ExpiringMap<AccountId, Arc<[Policy]>>,
    grants: ExpiringMap<GrantKey, Arc<Grants>>,
}

impl<S: IamStore> Authorizer<S> {
    /// Lookups are reused for at most `max_age` (the bound within which a change made on another
    /// node is seen).
    pub fn new(store: S, max_age: Duration) -> Self {
        Self {
            store,
            credentials: ExpiringMap::new(max_age, 100_000),
            instances: ExpiringMap::new(max_age, 10_000),
            policies: ExpiringMap::new(max_age, 10_000),
            grants: ExpiringMap::new(max_age, 100_000),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Forgets every cached lookup: call after any change to policies, principals, API keys or
    /// instances.
    pub fn invalidate(&self) {
        self.credentials.invalidate();
        self.instances.invalidate();
        self.policies.invalidate();
        self.grants.invalidate();
    }

    /// The caller a token of `iam_id` names, while it exists and the API key the token was
    /// issued for still exists, belongs to it and is not locked.
    pub async fn credential(
        &self,
        iam_id: &str,
        key: Uuid,
    ) -> Result<Option<Arc<Caller>>, IamError> {
        let found = match self.credentials.get(&key) {
            Some(found) => found,
            None => {
                let generation = self.credentials.generation();
                let found = match self.store.find_api_key(key).await? {
                    Some(k) if !k.locked => self
                        .store
                        .find_principal(&k.iam_id)
                        .await?
                        .map(|p: Principal| Arc::new(Caller::principal(&p))),
                    _ => None,
                };
                self.credentials.insert(key, found.clone(), generation);
                found
            }
        };
        Ok(found.filter(|c| c.iam_id == iam_id))
    }

    /// An instance, if it exists.
    pub async fn instance(&self, id: Uuid) -> Result<Option<Instance>, IamError> {
        if let Some(found) = self.instances.get(&id) {
            return Ok(found);
        }
        let generation = self.instances.generation();
        let found = self.store.find_instance(id).await?;
        self.instances.insert(id, found.clone(), generation);
        Ok(found)
    }

    async fn account_policies(&self, account: &AccountId) -> Result<Arc<[Policy]>, IamError> {
        if let Some(found) = self.policies.get(account) {
            return Ok(found);
        }
        let generation = self.policies.generation();
        let found: Arc<[Policy]> = self.store.list_policies(account).await?.into();
        self.policies
            .insert(account.clone(), Arc::clone(&found), generation);
        Ok(found)
    }

    /// The caller's grants on `target`.
    pub async fn grants(
        &self,
        caller: &Caller,
        target: Target<'_>,
    ) -> Result<Arc<Grants>, IamError> {
        let key = GrantKey {
            iam_id: caller.iam_id.clone(),
            acting_for: caller.acting_for.as_ref().map(|i| i.id),
            target: match target {
                Target::Account => None,
                Target::Instance(i) => Some(i.id),
            },
        };
        if let Some(found) = self.grants.get(&key) {
            return Ok(found);
        }
        let generation = self.grants.generation();
        let (account, service, instance) = match target {
            Target::Account => (&caller.account, ServiceKind::Iam, None),
            Target::Instance(i) => (&i.account, i.service, Some(i.id)),
        };
        let policies = self.account_policies(account).await?;
        let grants = Arc::new(Grants::collect(
            caller, &policies, account, service, instance,
        ));
        self.grants.insert(key, Arc::clone(&grants), generation);
        Ok(grants)
    }

    /// The decision for `caller` performing `action` on `resource`.
    pub async fn authorize(
        &self,
        caller: &Caller,
        action: Action,
        resource: Resource<'_>,
    ) -> Result<Decision, IamError> {
        let target = match resource {
            Resource::Account(_) | Resource::Identity(_) => Target::Account,
            Resource::Instance(i) | Resource::KeyRing(i, _) => Target::Instance(i),
        };
        let grants = self.grants(caller, target).await?;
        crate::audit_note::note_decision(caller, action, &resource);
        Ok(decide(caller, action, &resource, &grants))
    }
}
