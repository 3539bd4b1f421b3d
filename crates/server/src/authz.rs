//! The KMS's `Access` port over IAM's decision: the KMS names the action and the key's ring,
//! IAM's action table and the caller's grants decide. Nothing here decides on its own.

use std::sync::Arc;

use keyward_iam::{Action, Caller, Grants, Rings};
use keyward_kms::{Access, KeyRingId};

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
