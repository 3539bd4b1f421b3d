//! The authenticated caller as the authorization decision sees it, and the identities that IAM
//! actions target.

use crate::principal::{AccountId, Instance, Principal, PrincipalKind, ServiceKind};

/// Who is asking: a verified principal, possibly one of our own services acting for one of its
/// instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// IAM id.
    pub iam_id: String,
    /// The principal's account.
    pub account: AccountId,
    /// User or service id.
    pub kind: PrincipalKind,
    /// For the service ids that Keyward's own services run under: which service.
    pub service: Option<ServiceKind>,
    /// The instance of that service the call is made for (a tenant of the configuration
    /// service, say). Only service-to-service authorizations that match it apply.
    pub acting_for: Option<Instance>,
}

impl Caller {
    /// A principal acting for itself.
    pub fn principal(p: &Principal) -> Self {
        Self {
            iam_id: p.iam_id.clone(),
            account: p.account.clone(),
            kind: p.kind,
            service: p.service_name.as_deref().and_then(ServiceKind::parse),
            acting_for: None,
        }
    }

    /// The same caller acting for `instance` (only meaningful for our services' identities).
    pub fn acting_for(mut self, instance: Instance) -> Self {
        self.acting_for = Some(instance);
        self
    }
}

/// An identity an IAM action targets (the owner of an API key, a user or service id to delete).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityRef {
    /// IAM id.
    pub iam_id: String,
    /// Its account.
    pub account: AccountId,
    /// User or service id.
    pub kind: PrincipalKind,
    /// Whether Keyward's own services run under it (never managed through the API).
    pub system: bool,
}

impl IdentityRef {
    /// The reference to a stored principal.
    pub fn of(p: &Principal) -> Self {
        Self {
            iam_id: p.iam_id.clone(),
            account: p.account.clone(),
            kind: p.kind,
            system: p.service_name.is_some(),
        }
    }
}
