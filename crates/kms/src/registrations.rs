//! Registrations: the cloud resources a root key protects. They block deletion unless forced,
//! and `preventKeyDeletion` blocks it even then.

use crate::error::KmsError;
use crate::ids::{InstanceId, KeyRef};
use crate::ports::{Access, KeyStore, MasterKey, Registration};
use crate::service::Kms;
use crate::state::KeyState;
use keyward_iam::Action as Op;

impl<S: KeyStore, M: MasterKey> Kms<S, M> {
    /// Registers `resource_crn` on an active root key (or updates the registration).
    pub async fn register(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        resource_crn: &str,
        description: Option<String>,
        prevent_key_deletion: bool,
    ) -> Result<Registration, KmsError> {
        Self::require_somewhere(access, Op::KmsRegistrationsCreate)?;
        let key = self.fetch(instance, key_ref).await?;
        Self::authorize(access, Op::KmsRegistrationsCreate, &key)?;
        if key.extractable || key.effective_state(self.now()) != KeyState::Active {
            return Err(KmsError::RegistrationInvalidState);
        }
        if resource_crn.is_empty() || resource_crn.len() > 512 || !resource_crn.starts_with("crn:")
        {
            return Err(KmsError::InvalidField {
                field: "resourceCrn",
                requirement: "a CRN of at most 512 characters",
            });
        }
        let now = self.now();
        let existing = self.store.registrations(instance, Some(key.id)).await?;
        let created_at = existing
            .iter()
            .find(|r| r.resource_crn == resource_crn)
            .map_or(now, |r| r.created_at);
        let registration = Registration {
            key_id: key.id,
            instance,
            resource_crn: resource_crn.to_owned(),
            description,
            prevent_key_deletion,
            key_version: key.current_version.id,
            created_by: access.principal().to_owned(),
            created_at,
            updated_at: now,
        };
        self.store.put_registration(&registration).await?;
        Ok(registration)
    }

    /// Removes a registration.
    pub async fn deregister(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: &KeyRef,
        resource_crn: &str,
    ) -> Result<(), KmsError> {
        Self::require_somewhere(access, Op::KmsRegistrationsDelete)?;
        let key = self.fetch(instance, key_ref).await?;
        Self::authorize(access, Op::KmsRegistrationsDelete, &key)?;
        if self.store.remove_registration(key.id, resource_crn).await? {
            Ok(())
        } else {
            Err(KmsError::KeyNotFound)
        }
    }

    /// Registrations of one key (`Some`) or of every key the caller may read.
    pub async fn registrations(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        key_ref: Option<&KeyRef>,
    ) -> Result<Vec<Registration>, KmsError> {
        Self::require_somewhere(access, Op::KmsRegistrationsList)?;
        let key = match key_ref {
            Some(r) => {
                let key = self.fetch(instance, r).await?;
                Self::authorize(access, Op::KmsRegistrationsList, &key)?;
                Some(key.id)
            }
            None => None,
        };
        let all = self.store.registrations(instance, key).await?;
        if key.is_some() {
            return Ok(all);
        }
        let mut visible = Vec::with_capacity(all.len());
        for r in all {
            let k = self.fetch(instance, &KeyRef::Id(r.key_id)).await?;
            if access.allows(Op::KmsRegistrationsList, Some(&k.key_ring)) {
                visible.push(r);
            }
        }
        Ok(visible)
    }

    /// Refuses deletion while registrations protect the key; with `force` removes them first.
    pub(crate) async fn release_registrations(
        &self,
        instance: InstanceId,
        key_ref: &KeyRef,
        force: bool,
    ) -> Result<(), KmsError> {
        let key = self.fetch(instance, key_ref).await?;
        let regs = self.store.registrations(instance, Some(key.id)).await?;
        if regs.is_empty() {
            return Ok(());
        }
        if regs.iter().any(|r| r.prevent_key_deletion) {
            return Err(KmsError::PreventKeyDeletion);
        }
        if !force {
            return Err(KmsError::ProtectedResource);
        }
        self.store.remove_registrations(key.id).await
    }
}
