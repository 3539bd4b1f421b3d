//! The KMS's `Access` port over IAM's decision: the KMS names the action and the key's ring,
//! IAM's action table and the caller's grants decide. Nothing here decides on its own.

use std::sync::Arc;

use keyward_iam::{
    Action, Authorizer, Caller, Grants, IamError, Instance, Rings, ServiceKind, Target,
};
use keyward_kms::{Access, KeyRingId};
use keyward_store::Store;
use uuid::Uuid;

/// A KMS instance, as every caller of the KMS finds it (over HTTP or in process): an instance
/// of the KMS service, or none.
pub async fn kms_instance(
    authorizer: &Authorizer<Store>,
    id: Uuid,
) -> Result<Option<Instance>, IamError> {
    Ok(authorizer
        .instance(id)
        .await?
        .filter(|i| i.service == ServiceKind::Kms))
}

/// The caller's access in a KMS instance; `None` when the caller holds nothing at all there,
/// which is answered as for an instance that does not exist, before any key is looked up. What
/// each action needs is decided per call by [`InstanceAccess`].
pub async fn instance_access(
    authorizer: &Authorizer<Store>,
    caller: Arc<Caller>,
    instance: &Instance,
) -> Result<Option<InstanceAccess>, IamError> {
    let grants = authorizer
        .grants(&caller, Target::Instance(instance))
        .await?;
    Ok((!grants.is_empty()).then_some(InstanceAccess { caller, grants }))
}

/// A caller's access within one instance.
pub struct InstanceAccess {
    /// The caller.
    pub caller: Arc<Caller>,
    /// Caller's grants on the instance (access policies and service authorizations).
    pub grants: Arc<Grants>,
}

impl Access for InstanceAccess {
    fn allows(&self, action: Action, ring: Option<&KeyRingId>) -> bool {
        keyward_iam::audit_note::note_action(action);
        self.grants.allows(action, ring.map(KeyRingId::as_str))
    }

    fn rings(&self, action: Action) -> Rings {
        keyward_iam::audit_note::note_action(action);
        self.grants.rings(action)
    }

    fn principal(&self) -> &str {
        &self.caller.iam_id
    }
}
