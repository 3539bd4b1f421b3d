//! The configuration service's `KeyProvider` over this process's own KMS: the global key lives in
//! the service's internal KMS instance; a customer's key (named by CRN) is used only when the
//! customer's account holds a service-to-service authorization for `configsvc` on that KMS
//! instance.

use std::sync::Arc;

use keyward_iam::{IamStore, Role, ServiceKind, Subject};
use keyward_kms::{Access, CrnScheme, InstanceId, KeyId, KeyRef, KeyRingId, KmsError, Permission};
use keyward_secrets::{
    KeyProvider, NewDek, OpenedDek, ProviderError, RootKey, RootKeyCrn, TenantId,
};
use keyward_store::Store;
use uuid::Uuid;

use crate::state::KmsService;

/// The service identity's permissions: use keys, nothing else.
struct UseOnly<'a> {
    iam_id: &'a str,
}

impl Access for UseOnly<'_> {
    fn allows(&self, permission: Permission, _ring: &KeyRingId) -> bool {
        matches!(permission, Permission::UseKey | Permission::ReadMetadata)
    }
    fn principal(&self) -> &str {
        self.iam_id
    }
}

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
    store: Store,
    crn: CrnScheme,
    service_iam_id: String,
    global: GlobalKey,
    resource_crn: ResourceCrn,
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
        KmsError::Forbidden => ProviderError::NotAuthorized,
        KmsError::CiphertextInvalid => ProviderError::UnwrapFailed,
        other => ProviderError::Other(other.to_string()),
    }
}

impl LocalKmsProvider {
    /// Builds the provider.
    pub fn new(
        kms: Arc<KmsService>,
        store: Store,
        crn: CrnScheme,
        service_iam_id: String,
        global: GlobalKey,
        resource_crn: ResourceCrn,
    ) -> Self {
        Self {
            kms,
            store,
            crn,
            service_iam_id,
            global,
            resource_crn,
        }
    }

    /// The instance and key a root key names, after the authorization check.
    async fn locate(&self, root: &RootKey) -> Result<(InstanceId, KeyRef), ProviderError> {
        match root {
            RootKey::Global => Ok((
                InstanceId::from_uuid(self.global.instance),
                KeyRef::Id(KeyId::from_uuid(self.global.key)),
            )),
            RootKey::Customer(crn) => {
                self.check_authorized(crn).await?;
                Ok((
                    InstanceId::from_uuid(crn.instance),
                    KeyRef::Id(KeyId::from_uuid(crn.key)),
                ))
            }
        }
    }

    async fn check_authorized(&self, crn: &RootKeyCrn) -> Result<(), ProviderError> {
        if crn.cname != self.crn.cname
            || crn.ctype != self.crn.ctype
            || crn.region != self.crn.region
        {
            return Err(ProviderError::UnknownEndpoint);
        }
        let store_err = |e: keyward_iam::IamError| ProviderError::Other(e.to_string());
        let instance = self
            .store
            .find_instance(crn.instance)
            .await
            .map_err(store_err)?
            .filter(|i| i.service == ServiceKind::Kms && i.account.as_str() == crn.account)
            .ok_or(ProviderError::NotAuthorized)?;
        let policies = self
            .store
            .list_policies(&instance.account)
            .await
            .map_err(store_err)?;
        let authorized = policies.iter().any(|p| {
            matches!(
                p.subject,
                Subject::Service {
                    service: ServiceKind::ConfigSvc,
                    ..
                }
            ) && p.resource.service == ServiceKind::Kms
                && p.resource.instance.is_none_or(|i| i == instance.id)
                && p.roles.iter().any(|r| {
                    matches!(
                        r,
                        Role::Reader | Role::ReaderPlus | Role::Writer | Role::Manager
                    )
                })
        });
        if authorized {
            Ok(())
        } else {
            Err(ProviderError::NotAuthorized)
        }
    }
}

impl KeyProvider for LocalKmsProvider {
    async fn generate_dek(&self, root: &RootKey) -> Result<NewDek, ProviderError> {
        let (instance, key) = self.locate(root).await?;
        let access = UseOnly {
            iam_id: &self.service_iam_id,
        };
        let wrapped = self
            .kms
            .wrap(&access, instance, &key, None, &[])
            .await
            .map_err(provider_error)?;
        let dek = wrapped
            .generated
            .ok_or_else(|| ProviderError::Other("no DEK generated".into()))?;
        Ok(NewDek {
            dek,
            wrapped: wrapped.ciphertext,
        })
    }

    async fn unwrap_dek(&self, root: &RootKey, wrapped: &[u8]) -> Result<OpenedDek, ProviderError> {
        let (instance, key) = self.locate(root).await?;
        let access = UseOnly {
            iam_id: &self.service_iam_id,
        };
        let opened = self
            .kms
            .unwrap(&access, instance, &key, wrapped, &[])
            .await
            .map_err(provider_error)?;
        Ok(OpenedDek {
            dek: opened.plaintext,
            rewrapped: opened.rewrapped.map(|(ct, _)| ct),
        })
    }

    async fn check_key(&self, root: &RootKey) -> Result<(), ProviderError> {
        let (instance, key) = self.locate(root).await?;
        let access = UseOnly {
            iam_id: &self.service_iam_id,
        };
        let found = self
            .kms
            .get_key(&access, instance, &key, false)
            .await
            .map_err(provider_error)?;
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
        let (instance, key) = self.locate(root).await?;
        let resource = (self.resource_crn)(tenant);
        let access = UseOnly {
            iam_id: &self.service_iam_id,
        };
        self.kms
            .register(
                &access,
                instance,
                &key,
                &resource,
                Some("configsvc instance secrets".into()),
                false,
            )
            .await
            .map(|_| ())
            .map_err(provider_error)
    }

    async fn deregister(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let RootKey::Customer(_) = root else {
            return Ok(());
        };
        let (instance, key) = self.locate(root).await?;
        let resource = (self.resource_crn)(tenant);
        let access = UseOnly {
            iam_id: &self.service_iam_id,
        };
        match self
            .kms
            .deregister(&access, instance, &key, &resource)
            .await
        {
            // Already gone (or the key was purged): nothing to remove.
            Ok(()) | Err(KmsError::KeyNotFound) => Ok(()),
            Err(e) => Err(provider_error(e)),
        }
    }
}
