//! Managing identities, API keys, policies and instances of an account: shared by the `/v1/`
//! and `/v2/resource_instances` APIs and the `keyward iam` commands, so that every one of them
//! goes through the same authorization decision and the same checks.

use std::collections::HashSet;

use keyward_api::iam::{ApiKeyInfo, Attribute, Attributes, Identity, PolicyBody, RoleRef};
use keyward_iam::{
    AccountId, Action, ApiKeyRecord, ApiKeySecret, Authorizer, Caller, Decision, Denial, IamError,
    IamStore, IdentityRef, Instance, Policy, PolicyResource, Principal, PrincipalKind, Resource,
    Role, ServiceKind, Subject, Target,
};
use keyward_store::Store;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;
use crate::wire::date;

fn invalid(field: &'static str, requirement: &'static str) -> ApiError {
    ApiError::InvalidField { field, requirement }
}

fn valid_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > 128 {
        return Err(invalid("name", "1 to 128 characters"));
    }
    Ok(())
}

/// The wire form of a principal.
pub fn identity(p: &Principal) -> Identity {
    Identity {
        id: p.iam_id.clone(),
        iam_id: p.iam_id.clone(),
        name: p.name.clone(),
        kind: p.kind.as_str().to_owned(),
        account_id: p.account.to_string(),
        created_at: date(p.created_at),
    }
}

/// The wire form of an API key (never the key itself).
pub fn api_key_info(k: &ApiKeyRecord, account: &AccountId) -> ApiKeyInfo {
    ApiKeyInfo {
        id: k.id.to_string(),
        name: k.name.clone(),
        iam_id: k.iam_id.clone(),
        account_id: account.to_string(),
        locked: k.locked,
        created_at: date(k.created_at),
    }
}

/// What is done to an API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOp {
    /// Create.
    Create,
    /// List.
    List,
    /// Read.
    Read,
    /// Delete.
    Delete,
    /// Lock.
    Lock,
    /// Unlock.
    Unlock,
}

/// The action of `op` on an API key owned by a principal of `kind`.
pub fn api_key_action(kind: PrincipalKind, op: KeyOp) -> Action {
    use Action::*;
    match (kind, op) {
        (PrincipalKind::User, KeyOp::Create) => IamUserApiKeysCreate,
        (PrincipalKind::User, KeyOp::List) => IamUserApiKeysList,
        (PrincipalKind::User, KeyOp::Read) => IamUserApiKeysRead,
        (PrincipalKind::User, KeyOp::Delete) => IamUserApiKeysDelete,
        (PrincipalKind::User, KeyOp::Lock) => IamUserApiKeysLock,
        (PrincipalKind::User, KeyOp::Unlock) => IamUserApiKeysUnlock,
        (PrincipalKind::ServiceId, KeyOp::Create) => IamServiceIdApiKeysCreate,
        (PrincipalKind::ServiceId, KeyOp::List) => IamServiceIdApiKeysList,
        (PrincipalKind::ServiceId, KeyOp::Read) => IamServiceIdApiKeysRead,
        (PrincipalKind::ServiceId, KeyOp::Delete) => IamServiceIdApiKeysDelete,
        (PrincipalKind::ServiceId, KeyOp::Lock) => IamServiceIdApiKeysLock,
        (PrincipalKind::ServiceId, KeyOp::Unlock) => IamServiceIdApiKeysUnlock,
    }
}

/// One caller administering its account. Every operation is decided by the authorizer first.
pub struct Admin<'a> {
    /// The store.
    pub store: &'a Store,
    /// The decision.
    pub authorizer: &'a Authorizer<Store>,
    /// Who acts.
    pub caller: &'a Caller,
}

impl Admin<'_> {
    async fn allow(&self, action: Action, resource: Resource<'_>) -> Result<(), ApiError> {
        match self
            .authorizer
            .authorize(self.caller, action, resource)
            .await?
        {
            Decision::Allow(_) => Ok(()),
            Decision::Deny(denial) => Err(ApiError::Denied(denial)),
        }
    }

    /// For a target that does not exist (or is not the caller's account's): not found when the
    /// caller may perform the action on identities of its account at all, refused otherwise,
    /// so that a caller without the role learns nothing about which ids exist.
    async fn absent(&self, action: Action) -> ApiError {
        match self.authorizer.grants(self.caller, Target::Account).await {
            Ok(grants) if grants.allows(action, None) => ApiError::NotFound,
            Ok(_) => ApiError::Denied(Denial::MissingRole(action)),
            Err(e) => e.into(),
        }
    }

    fn account(&self) -> &AccountId {
        &self.caller.account
    }

    /// A principal of the caller's account.
    async fn principal(&self, iam_id: &str) -> Result<Option<Principal>, ApiError> {
        Ok(self
            .store
            .find_principal(iam_id)
            .await?
            .filter(|p| p.account == *self.account()))
    }

    /// Creates a user or service id.
    pub async fn create_identity(
        &self,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<Principal, ApiError> {
        let action = match kind {
            PrincipalKind::User => Action::IamUsersCreate,
            PrincipalKind::ServiceId => Action::IamServiceIdsCreate,
        };
        self.allow(action, Resource::Account(self.account()))
            .await?;
        valid_name(name)?;
        let p = Principal::new(
            self.account().clone(),
            kind,
            name,
            OffsetDateTime::now_utc(),
        )?;
        self.store.create_principal(&p).await?;
        Ok(p)
    }

    /// Users or service ids of the account, without the service ids Keyward runs under.
    pub async fn list_identities(&self, kind: PrincipalKind) -> Result<Vec<Principal>, ApiError> {
        let action = match kind {
            PrincipalKind::User => Action::IamUsersList,
            PrincipalKind::ServiceId => Action::IamServiceIdsList,
        };
        self.allow(action, Resource::Account(self.account()))
            .await?;
        Ok(self
            .store
            .list_principals(self.account())
            .await?
            .into_iter()
            .filter(|p| p.kind == kind && p.service_name.is_none())
            .collect())
    }

    /// Deletes a user or service id with its API keys and policies; its tokens stop working.
    pub async fn delete_identity(&self, kind: PrincipalKind, iam_id: &str) -> Result<(), ApiError> {
        let action = match kind {
            PrincipalKind::User => Action::IamUsersDelete,
            PrincipalKind::ServiceId => Action::IamServiceIdsDelete,
        };
        let Some(target) = self.principal(iam_id).await?.filter(|p| p.kind == kind) else {
            return Err(self.absent(action).await);
        };
        self.allow(action, Resource::Identity(&IdentityRef::of(&target)))
            .await?;
        if !self.store.delete_principal(iam_id).await? {
            return Err(ApiError::NotFound);
        }
        self.authorizer.invalidate();
        Ok(())
    }

    /// The owner of API keys an operation names: `iam_id`, or the caller.
    async fn key_owner(&self, iam_id: Option<&str>, op: KeyOp) -> Result<Principal, ApiError> {
        let iam_id = iam_id.unwrap_or(&self.caller.iam_id);
        match self.principal(iam_id).await? {
            Some(owner) => {
                let action = api_key_action(owner.kind, op);
                self.allow(action, Resource::Identity(&IdentityRef::of(&owner)))
                    .await?;
                Ok(owner)
            }
            None => Err(self.absent(api_key_action(PrincipalKind::User, op)).await),
        }
    }

    /// Creates an API key for `iam_id` (or the caller); the secret is returned once.
    pub async fn create_api_key(
        &self,
        iam_id: Option<&str>,
        name: &str,
    ) -> Result<(ApiKeyRecord, ApiKeySecret), ApiError> {
        let owner = self.key_owner(iam_id, KeyOp::Create).await?;
        valid_name(name)?;
        let secret = ApiKeySecret::generate()?;
        let record = ApiKeyRecord {
            id: Uuid::new_v4(),
            iam_id: owner.iam_id,
            name: name.to_owned(),
            hash: secret.hash(),
            created_at: OffsetDateTime::now_utc(),
            locked: false,
        };
        self.store.create_api_key(&record).await?;
        Ok((record, secret))
    }

    /// The API keys of `iam_id` (or the caller).
    pub async fn list_api_keys(&self, iam_id: Option<&str>) -> Result<Vec<ApiKeyRecord>, ApiError> {
        let owner = self.key_owner(iam_id, KeyOp::List).await?;
        Ok(self.store.list_api_keys(&owner.iam_id).await?)
    }

    /// One API key, after deciding `op` on its owner.
    async fn api_key_for(&self, id: &str, op: KeyOp) -> Result<ApiKeyRecord, ApiError> {
        let absent = api_key_action(PrincipalKind::User, op);
        let Ok(id) = Uuid::parse_str(id) else {
            return Err(self.absent(absent).await);
        };
        let Some(key) = self.store.find_api_key(id).await? else {
            return Err(self.absent(absent).await);
        };
        let Some(owner) = self.principal(&key.iam_id).await? else {
            return Err(self.absent(absent).await);
        };
        self.allow(
            api_key_action(owner.kind, op),
            Resource::Identity(&IdentityRef::of(&owner)),
        )
        .await?;
        Ok(key)
    }

    /// One API key.
    pub async fn api_key(&self, id: &str) -> Result<ApiKeyRecord, ApiError> {
        self.api_key_for(id, KeyOp::Read).await
    }

    /// Deletes an API key: it gets no more tokens and its tokens are refused.
    pub async fn delete_api_key(&self, id: &str) -> Result<(), ApiError> {
        let key = self.api_key_for(id, KeyOp::Delete).await?;
        if !self.store.delete_api_key(key.id).await? {
            return Err(ApiError::NotFound);
        }
        self.authorizer.invalidate();
        Ok(())
    }

    /// Locks or unlocks an API key; a locked key gets no tokens and its tokens are refused.
    pub async fn set_api_key_locked(
        &self,
        id: &str,
        locked: bool,
    ) -> Result<ApiKeyRecord, ApiError> {
        let op = if locked { KeyOp::Lock } else { KeyOp::Unlock };
        let mut key = self.api_key_for(id, op).await?;
        if !self.store.set_api_key_locked(key.id, locked).await? {
            return Err(ApiError::NotFound);
        }
        self.authorizer.invalidate();
        key.locked = locked;
        Ok(key)
    }

    /// The IAM ids Keyward's own services run under in the caller's account.
    async fn system_identities(&self) -> Result<HashSet<String>, ApiError> {
        Ok(self
            .store
            .list_principals(self.account())
            .await?
            .into_iter()
            .filter(|p| p.service_name.is_some())
            .map(|p| p.iam_id)
            .collect())
    }

    /// Creates a policy from its wire form.
    pub async fn create_policy(&self, body: &PolicyBody) -> Result<Policy, ApiError> {
        self.allow(Action::IamPoliciesCreate, Resource::Account(self.account()))
            .await?;
        let policy = policy_from_body(self.store, self.account(), body).await?;
        self.store.create_policy(&policy).await?;
        self.authorizer.invalidate();
        Ok(policy)
    }

    /// The account's policies, without those of Keyward's own service ids.
    pub async fn list_policies(&self) -> Result<Vec<Policy>, ApiError> {
        self.allow(Action::IamPoliciesList, Resource::Account(self.account()))
            .await?;
        let hidden = self.system_identities().await?;
        Ok(self
            .store
            .list_policies(self.account())
            .await?
            .into_iter()
            .filter(|p| !matches!(&p.subject, Subject::Principal(id) if hidden.contains(id)))
            .collect())
    }

    /// Deletes a policy (not one of Keyward's own service ids).
    pub async fn delete_policy(&self, id: &str) -> Result<(), ApiError> {
        self.allow(Action::IamPoliciesDelete, Resource::Account(self.account()))
            .await?;
        let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound)?;
        let hidden = self.system_identities().await?;
        let found = self
            .store
            .list_policies(self.account())
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(ApiError::NotFound)?;
        if matches!(&found.subject, Subject::Principal(iam_id) if hidden.contains(iam_id)) {
            return Err(ApiError::NotFound);
        }
        if !self.store.delete_policy(self.account(), id).await? {
            return Err(ApiError::NotFound);
        }
        self.authorizer.invalidate();
        Ok(())
    }

    /// Provisions an instance; its creator gets Manager (and KeyPurge on a KMS).
    pub async fn create_instance(
        &self,
        service: ServiceKind,
        name: &str,
    ) -> Result<Instance, ApiError> {
        self.allow(Action::InstancesCreate, Resource::Account(self.account()))
            .await?;
        let instance = provision_instance(
            self.store,
            self.account(),
            service,
            name,
            &self.caller.iam_id,
        )
        .await?;
        self.authorizer.invalidate();
        Ok(instance)
    }

    /// The account's instances.
    pub async fn list_instances(&self) -> Result<Vec<Instance>, ApiError> {
        self.allow(Action::InstancesList, Resource::Account(self.account()))
            .await?;
        Ok(self.store.list_instances(self.account()).await?)
    }

    async fn own_instance(&self, guid: &str) -> Result<Instance, ApiError> {
        let id = Uuid::parse_str(guid).map_err(|_| ApiError::NotFound)?;
        self.store
            .find_instance(id)
            .await?
            .filter(|i| i.account == *self.account())
            .ok_or(ApiError::NotFound)
    }

    /// One instance of the account.
    pub async fn instance(&self, guid: &str) -> Result<Instance, ApiError> {
        self.allow(Action::InstancesRead, Resource::Account(self.account()))
            .await?;
        self.own_instance(guid).await
    }

    /// Deletes an instance of the account (not one Keyward's own services use).
    pub async fn delete_instance(&self, guid: &str) -> Result<(), ApiError> {
        self.allow(Action::InstancesDelete, Resource::Account(self.account()))
            .await?;
        let instance = self.own_instance(guid).await?;
        if crate::bootstrap::system_instances(self.store)
            .await?
            .contains(&instance.id)
        {
            return Err(ApiError::Denied(Denial::SystemResource));
        }
        self.store.delete_instance(instance.id).await?;
        self.authorizer.invalidate();
        Ok(())
    }
}

fn attr<'a>(attrs: &'a Attributes, name: &str) -> Option<&'a str> {
    attrs
        .attributes
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.value.as_str())
}

fn one<'a>(list: &'a [Attributes], field: &'static str) -> Result<&'a Attributes, ApiError> {
    match list {
        [only] => Ok(only),
        _ => Err(invalid(field, "exactly one entry")),
    }
}

fn service(value: Option<&str>, field: &'static str) -> Result<ServiceKind, ApiError> {
    value.and_then(ServiceKind::parse).ok_or(invalid(
        field,
        "a serviceName attribute of kms, configsvc or iam",
    ))
}

fn instance(value: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    value
        .map(|v| {
            Uuid::parse_str(v).map_err(|_| invalid("serviceInstance", "a service instance GUID"))
        })
        .transpose()
}

/// Checks a policy body against the account and turns it into a policy.
///
/// Access policies name a user or service id of the account (never one Keyward's services run
/// under); authorizations name the configuration service (optionally one source instance,
/// which may belong to another account) and grant on KMS instances. Roles must be grantable
/// on the resource's service: platform roles on IAM, service roles on services.
pub async fn policy_from_body(
    store: &Store,
    account: &AccountId,
    body: &PolicyBody,
) -> Result<Policy, ApiError> {
    let subject_attrs = one(&body.subjects, "subjects")?;
    let resource_attrs = one(&body.resources, "resources")?;
    if attr(resource_attrs, "accountId").is_some_and(|a| a != account.as_str()) {
        return Err(invalid("accountId", "the caller's account"));
    }
    let subject = match body.kind.as_str() {
        "access" => {
            let iam_id =
                attr(subject_attrs, "iam_id").ok_or(invalid("subjects", "an iam_id attribute"))?;
            let grantee = store
                .find_principal(iam_id)
                .await?
                .filter(|p| &p.account == account && p.service_name.is_none())
                .ok_or(invalid(
                    "iam_id",
                    "the IAM id of a user or service id of this account",
                ))?;
            Subject::Principal(grantee.iam_id)
        }
        "authorization" => {
            let source = service(attr(subject_attrs, "serviceName"), "subjects")?;
            if source != ServiceKind::ConfigSvc {
                return Err(invalid(
                    "subjects",
                    "serviceName configsvc: the only service that acts for its instances",
                ));
            }
            let source_instance = instance(attr(subject_attrs, "serviceInstance"))?;
            if let Some(id) = source_instance {
                store
                    .find_instance(id)
                    .await?
                    .filter(|i| i.service == source)
                    .ok_or(invalid(
                        "serviceInstance",
                        "a configsvc instance GUID (of any account)",
                    ))?;
            }
            Subject::Service {
                service: source,
                instance: source_instance,
            }
        }
        _ => return Err(invalid("type", "access or authorization")),
    };
    let resource = PolicyResource {
        service: service(attr(resource_attrs, "serviceName"), "resources")?,
        instance: instance(attr(resource_attrs, "serviceInstance"))?,
        key_ring: attr(resource_attrs, "keyRing").map(str::to_owned),
    };
    if matches!(subject, Subject::Service { .. }) && resource.service != ServiceKind::Kms {
        return Err(invalid(
            "resources",
            "serviceName kms: services are authorized on KMS instances",
        ));
    }
    if resource.service == ServiceKind::Iam && resource.instance.is_some() {
        return Err(invalid("serviceInstance", "absent on iam resources"));
    }
    if let Some(id) = resource.instance {
        store
            .find_instance(id)
            .await?
            .filter(|i| &i.account == account && i.service == resource.service)
            .ok_or(invalid(
                "serviceInstance",
                "an instance of that service in this account",
            ))?;
    }
    if resource.key_ring.is_some() && resource.service != ServiceKind::Kms {
        return Err(invalid("keyRing", "only on kms resources"));
    }
    let roles = body
        .roles
        .iter()
        .map(|r| r.role_id.parse::<Role>())
        .collect::<Result<Vec<_>, IamError>>()?;
    if roles.is_empty() {
        return Err(invalid("roles", "at least one role"));
    }
    if roles.iter().any(|r| !r.grantable_on(resource.service)) {
        return Err(invalid(
            "roles",
            "platform roles (Viewer, Operator, Editor, Administrator) on iam; Reader, ReaderPlus, Writer, Manager, KeyPurge on kms; Reader, Writer, Manager on configsvc",
        ));
    }
    Ok(Policy {
        id: Uuid::new_v4(),
        account: account.clone(),
        subject,
        roles,
        resource,
        created_at: OffsetDateTime::now_utc(),
    })
}

fn a(name: &str, value: impl Into<String>) -> Attribute {
    Attribute {
        name: name.to_owned(),
        value: value.into(),
    }
}

/// The wire form of a policy.
pub fn policy_body(p: &Policy) -> PolicyBody {
    let (kind, subject) = match &p.subject {
        Subject::Principal(iam_id) => ("access", vec![a("iam_id", iam_id.clone())]),
        Subject::Service { service, instance } => {
            let mut attrs = vec![a("serviceName", service.as_str())];
            attrs.extend(instance.map(|i| a("serviceInstance", i.to_string())));
            ("authorization", attrs)
        }
    };
    let mut resource = vec![
        a("accountId", p.account.as_str()),
        a("serviceName", p.resource.service.as_str()),
    ];
    resource.extend(
        p.resource
            .instance
            .map(|i| a("serviceInstance", i.to_string())),
    );
    resource.extend(p.resource.key_ring.clone().map(|r| a("keyRing", r)));
    PolicyBody {
        id: Some(p.id.to_string()),
        kind: kind.to_owned(),
        subjects: vec![Attributes {
            attributes: subject,
        }],
        roles: p
            .roles
            .iter()
            .map(|r| RoleRef { role_id: r.crn() })
            .collect(),
        resources: vec![Attributes {
            attributes: resource,
        }],
        created_at: Some(date(p.created_at)),
    }
}

/// Creates a service instance and grants its creator Manager (and KeyPurge on a KMS).
pub async fn provision_instance(
    store: &Store,
    account: &AccountId,
    service: ServiceKind,
    name: &str,
    creator: &str,
) -> Result<Instance, ApiError> {
    valid_name(name)?;
    let now = OffsetDateTime::now_utc();
    let instance = Instance {
        id: Uuid::new_v4(),
        account: account.clone(),
        service,
        name: name.to_owned(),
        created_at: now,
    };
    store.create_instance(&instance).await?;
    let mut roles = vec![Role::Manager];
    if service == ServiceKind::Kms {
        roles.push(Role::KeyPurge);
    }
    store
        .create_policy(&Policy {
            id: Uuid::new_v4(),
            account: account.clone(),
            subject: Subject::Principal(creator.to_owned()),
            roles,
            resource: PolicyResource {
                service,
                instance: Some(instance.id),
                key_ring: None,
            },
            created_at: now,
        })
        .await?;
    Ok(instance)
}

/// The customer's service-to-service authorization: `service` (every instance of it in
/// `account`, or only `source`) gets `role` on a KMS instance of `account`.
pub async fn authorize_service(
    store: &Store,
    account: &AccountId,
    service: ServiceKind,
    source: Option<Uuid>,
    kms_instance: Uuid,
    role: Role,
) -> Result<Policy, ApiError> {
    let policy = Policy {
        id: Uuid::new_v4(),
        account: account.clone(),
        subject: Subject::Service {
            service,
            instance: source,
        },
        roles: vec![role],
        resource: PolicyResource {
            service: ServiceKind::Kms,
            instance: Some(kms_instance),
            key_ring: None,
        },
        created_at: OffsetDateTime::now_utc(),
    };
    store.create_policy(&policy).await?;
    Ok(policy)
}

/// Opens the store of a data directory (or PostgreSQL) and reads the bootstrap facts, for the
/// `keyward iam` commands.
pub async fn open_account(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
) -> Result<(Store, crate::BootstrapInfo), crate::BootstrapError> {
    let store = match database_url {
        Some(url) => Store::open_postgres(url, None).await?,
        None => {
            let path = data_dir.join("keyward.db");
            if !path.exists() {
                return Err(crate::BootstrapError::Setup(format!(
                    "no database at {}: run `keyward serve` once first",
                    path.display()
                )));
            }
            Store::open_sqlite(&path).await?
        }
    };
    let raw = store.setting("bootstrap").await?.ok_or_else(|| {
        crate::BootstrapError::Setup(
            "the database has not been bootstrapped: run `keyward serve` once first".into(),
        )
    })?;
    let info: crate::BootstrapInfo =
        serde_json::from_slice(&raw).map_err(|e| crate::BootstrapError::Setup(e.to_string()))?;
    Ok((store, info))
}
