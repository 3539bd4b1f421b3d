//! The configuration service's `KeyProvider` over this process's own KMS. Every call is made as
//! the configuration service's service id acting for one tenant (a configuration-service
//! instance), and IAM decides as it would for the same call over HTTP: the global key through
//! the service's access policy on its internal KMS instance, a customer's key (named by CRN)
//! through a service-to-service authorization in the key's account that names the tenant or
//! every configuration-service instance of that account.
//!
//! Every use of a key (a DEK wrapped or unwrapped, the tenant registered on it or removed from
//! it), allowed or refused, is an audit event in the key's account, as the same call over HTTP would be: the key's owner sees the service using
//! its key, under the correlation id of the request that caused it. A use whose event cannot be
//! written is not made.

use std::sync::Arc;

use keyward_iam::audit_note::{self, Note, NotedTarget};
use keyward_iam::{Action, Authorizer, Caller, Instance, Principal, ServiceKind, refusal};
use keyward_kms::{CrnScheme, InstanceId, KeyId, KeyRef, KmsError};
use keyward_secrets::{
    KeyProtectProvider, KeyProvider, NewDek, OpenedDek, ProviderError, RootKey, Routing, TenantId,
    WrappedDek, dek_aad,
};
use keyward_store::Store;
use uuid::Uuid;

use crate::audit::{AuditEvent, AuditLog, new_correlation_id, now_millis, target_crn};
use crate::authz::{InstanceAccess, instance_access, kms_instance};
use crate::openscale_error::provider_status;
use crate::services::KmsService;

/// The configuration service's key provider: the global key and customer keys of this
/// server's own KMS in process, customer keys of any configured Key Protect endpoint (this
/// server's own URL included) over HTTP as the service id.
pub type ConfigsvcKeyProvider =
    keyward_secrets::Measured<Routing<LocalKmsProvider, KeyProtectProvider>>;

/// Where the global key is.
#[derive(Clone, Debug)]
pub struct GlobalKey {
    /// The service's internal KMS instance.
    pub instance: Uuid,
    /// The root key in it.
    pub key: Uuid,
}

/// `KeyProvider` backed by the in-process KMS.
pub struct LocalKmsProvider {
    kms: Arc<KmsService>,
    authorizer: Arc<Authorizer<Store>>,
    crn: CrnScheme,
    service: Principal,
    global: GlobalKey,
    resource_crn: ResourceCrn,
    audit: AuditLog,
}

/// Names a tenant's resource in registrations.
pub type ResourceCrn = Arc<dyn Fn(TenantId) -> String + Send + Sync>;

/// `crn:v1:<cname>:<ctype>:configsvc:<region>:a/<account>:<instance>::`, the account being the
/// one that runs the configuration service.
pub fn resource_crn_scheme(crn: &CrnScheme, account: &str) -> ResourceCrn {
    let (c, account) = (crn.clone(), account.to_owned());
    Arc::new(move |tenant: TenantId| {
        format!(
            "crn:v1:{}:{}:configsvc:{}:a/{}:{}::",
            c.cname, c.ctype, c.region, account, tenant.0
        )
    })
}

fn provider_error(e: KmsError) -> ProviderError {
    match e {
        KmsError::KeyNotFound => ProviderError::KeyNotFound,
        KmsError::KeyDeleted => ProviderError::KeyDeleted,
        KmsError::InvalidState { state, .. } => match state {
            keyward_kms::KeyState::Deactivated => ProviderError::KeyExpired,
            keyward_kms::KeyState::Destroyed => ProviderError::KeyDeleted,
            _ => ProviderError::KeyDisabled,
        },
        KmsError::RootKeyRequired => ProviderError::NotRootKey,
        KmsError::CiphertextInvalid => ProviderError::UnwrapFailed,
        other => ProviderError::Other(other.to_string()),
    }
}

fn store_error(e: keyward_iam::IamError) -> ProviderError {
    ProviderError::Other(e.to_string())
}

/// One call's caller, target and access, decided before any key is looked up.
struct Decided {
    instance: Instance,
    key: KeyRef,
    access: InstanceAccess,
}

impl LocalKmsProvider {
    /// Builds the provider; `service` is the configuration service's service id.
    pub fn new(
        kms: Arc<KmsService>,
        authorizer: Arc<Authorizer<Store>>,
        crn: CrnScheme,
        service: Principal,
        global: GlobalKey,
        resource_crn: ResourceCrn,
        audit: AuditLog,
    ) -> Self {
        Self {
            kms,
            authorizer,
            crn,
            service,
            global,
            resource_crn,
            audit,
        }
    }

    /// Records the service's use of `root` for `action` (see the module's documentation) and
    /// passes `result` on; a use that cannot be recorded fails.
    async fn recorded<T>(
        &self,
        root: &RootKey,
        action: Action,
        result: Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        if matches!(result, Err(ProviderError::UnknownEndpoint)) {
            return result; // not a key of this KMS
        }
        let (instance, key, account) = match root {
            RootKey::Global => (
                self.global.instance,
                self.global.key,
                self.service.account.clone(),
            ),
            RootKey::Customer(crn) => match crn.account.parse() {
                Ok(account) => (crn.instance, crn.key, account),
                Err(_) => return result,
            },
        };
        let note = Note {
            account: Some(account.clone()),
            target: Some(NotedTarget::Instance {
                service: ServiceKind::Kms,
                id: instance,
            }),
            ..Note::default()
        };
        let status = match &result {
            Ok(_) => axum::http::StatusCode::OK,
            Err(e) => provider_status(e).0,
        };
        let at_millis = now_millis();
        let event = AuditEvent::new(
            at_millis,
            action.rule().name,
            status,
            self.service.iam_id.clone(),
            String::new(),
            target_crn(&self.crn, &note, Some(&key.to_string())),
            audit_note::correlation().unwrap_or_else(new_correlation_id),
        );
        if !self
            .audit
            .record(Some(account.as_str().to_owned()), at_millis, &event)
            .await
        {
            return Err(ProviderError::AuditUnavailable);
        }
        result
    }

    /// The service acting for `tenant` (when the tenant is a configuration-service instance).
    async fn caller(&self, tenant: TenantId) -> Result<Caller, ProviderError> {
        let caller = Caller::principal(&self.service);
        let source = self
            .authorizer
            .instance(tenant.0)
            .await
            .map_err(store_error)?
            .filter(|i| i.service == ServiceKind::ConfigSvc);
        Ok(match source {
            Some(instance) => caller.acting_for(instance),
            None => caller,
        })
    }

    /// Finds the service's access for `action` with `root` for `tenant`, as IAM decides for any
    /// KMS caller ([`kms_instance`], [`instance_access`]): the instance the root key lives in
    /// must exist in the account its CRN names, and the caller must hold something there;
    /// what `action` needs, the KMS asks of that access on the call itself. The answer is the
    /// same whether or not the instance exists.
    async fn decide(
        &self,
        root: &RootKey,
        tenant: TenantId,
        action: Action,
    ) -> Result<Decided, ProviderError> {
        let caller = Arc::new(self.caller(tenant).await?);
        let (instance_id, key_id, account) = match root {
            RootKey::Global => (self.global.instance, self.global.key, None),
            RootKey::Customer(crn) => {
                if crn.cname != self.crn.cname
                    || crn.ctype != self.crn.ctype
                    || crn.region != self.crn.region
                {
                    return Err(ProviderError::UnknownEndpoint);
                }
                (crn.instance, crn.key, Some(crn.account.as_str()))
            }
        };
        let refused = || ProviderError::NotAuthorized {
            missing: refusal(
                &caller,
                action,
                ServiceKind::Kms,
                instance_id,
                account.unwrap_or("of the service"),
            )
            .to_string(),
        };
        let instance = kms_instance(&self.authorizer, instance_id)
            .await
            .map_err(store_error)?
            .filter(|i| account.is_none_or(|a| a == i.account.as_str()));
        let Some(instance) = instance else {
            return Err(refused());
        };
        let Some(access) = instance_access(&self.authorizer, Arc::clone(&caller), &instance)
            .await
            .map_err(store_error)?
        else {
            return Err(refused());
        };
        Ok(Decided {
            access,
            instance,
            key: KeyRef::Id(KeyId::from_uuid(key_id)),
        })
    }

    /// A KMS refusal as the provider reports it: a forbidden action says which authorization
    /// is missing.
    fn kms_error(&self, d: &Decided, e: KmsError) -> ProviderError {
        match e {
            KmsError::Forbidden(action) => ProviderError::NotAuthorized {
                missing: refusal(
                    &d.access.caller,
                    action,
                    ServiceKind::Kms,
                    d.instance.id,
                    d.instance.account.as_str(),
                )
                .to_string(),
            },
            other => provider_error(other),
        }
    }

    fn instance(d: &Decided) -> InstanceId {
        InstanceId::from_uuid(d.instance.id)
    }

    async fn generate(&self, root: &RootKey, tenant: TenantId) -> Result<NewDek, ProviderError> {
        let d = self.decide(root, tenant, Action::KmsKeysWrap).await?;
        let wrapped = self
            .kms
            .wrap(
                &d.access,
                Self::instance(&d),
                &d.key,
                None,
                &dek_aad(tenant),
            )
            .await
            .map_err(|e| self.kms_error(&d, e))?;
        let dek = wrapped
            .generated
            .ok_or_else(|| ProviderError::Other("no DEK generated".into()))?;
        Ok(NewDek {
            dek,
            wrapped: wrapped.ciphertext,
        })
    }

    async fn open(
        &self,
        root: &RootKey,
        tenant: TenantId,
        wrapped: WrappedDek<'_>,
    ) -> Result<OpenedDek, ProviderError> {
        let d = self.decide(root, tenant, Action::KmsKeysUnwrap).await?;
        let aad = if wrapped.tenant_bound {
            dek_aad(tenant)
        } else {
            Vec::new()
        };
        let opened = self
            .kms
            .unwrap(
                &d.access,
                Self::instance(&d),
                &d.key,
                wrapped.ciphertext,
                &aad,
            )
            .await
            .map_err(|e| self.kms_error(&d, e))?;
        Ok(OpenedDek {
            dek: opened.plaintext,
            rewrapped: opened.rewrapped.map(|(ct, _)| ct),
        })
    }

    /// Records on the key that the tenant's resource is protected by it.
    async fn registered(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let d = self
            .decide(root, tenant, Action::KmsRegistrationsCreate)
            .await?;
        let resource = (self.resource_crn)(tenant);
        self.kms
            .register(
                &d.access,
                Self::instance(&d),
                &d.key,
                &resource,
                Some("configsvc instance secrets".into()),
                false,
            )
            .await
            .map(|_| ())
            .map_err(|e| self.kms_error(&d, e))
    }

    /// Removes that record (already gone is fine).
    async fn deregistered(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let d = self
            .decide(root, tenant, Action::KmsRegistrationsDelete)
            .await?;
        let resource = (self.resource_crn)(tenant);
        match self
            .kms
            .deregister(&d.access, Self::instance(&d), &d.key, &resource)
            .await
        {
            // Already gone (or the key was purged): nothing to remove.
            Ok(()) | Err(KmsError::KeyNotFound) => Ok(()),
            Err(e) => Err(self.kms_error(&d, e)),
        }
    }
}

impl KeyProvider for LocalKmsProvider {
    async fn generate_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
    ) -> Result<NewDek, ProviderError> {
        let result = self.generate(root, tenant).await;
        self.recorded(root, Action::KmsKeysWrap, result).await
    }

    async fn unwrap_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
        wrapped: WrappedDek<'_>,
    ) -> Result<OpenedDek, ProviderError> {
        let result = self.open(root, tenant, wrapped).await;
        self.recorded(root, Action::KmsKeysUnwrap, result).await
    }

    async fn check_key(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let d = self
            .decide(root, tenant, Action::KmsKeysReadMetadata)
            .await?;
        let found = self
            .kms
            .get_key(&d.access, Self::instance(&d), &d.key, false)
            .await
            .map_err(|e| self.kms_error(&d, e))?;
        match found.key.effective_state(self.kms.now()) {
            keyward_kms::KeyState::Suspended => Err(ProviderError::KeyDisabled),
            keyward_kms::KeyState::Destroyed => Err(ProviderError::KeyDeleted),
            _ if found.key.extractable => Err(ProviderError::NotRootKey),
            _ => Ok(()),
        }
    }

    async fn register(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let RootKey::Customer(_) = root else {
            return Ok(());
        };
        let result = self.registered(root, tenant).await;
        self.recorded(root, Action::KmsRegistrationsCreate, result)
            .await
    }

    async fn deregister(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let RootKey::Customer(_) = root else {
            return Ok(());
        };
        let result = self.deregistered(root, tenant).await;
        self.recorded(root, Action::KmsRegistrationsDelete, result)
            .await
    }
}
