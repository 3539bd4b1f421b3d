//! Access policies (roles for a user or service id) and service-to-service authorizations (roles
//! for one of our services, acting for one of its instances).

use time::OffsetDateTime;
use uuid::Uuid;

use crate::principal::{AccountId, ServiceKind};
use crate::role::Role;

/// Who a policy grants to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// An access policy: a user or service id of the policy's account, by IAM id.
    Principal(String),
    /// A service-to-service authorization: one of our services acting for one of its instances.
    Service {
        /// e.g. `configsvc`.
        service: ServiceKind,
        /// `None`: every instance of the service in the policy's account. `Some`: that source
        /// instance only (which may belong to another account).
        instance: Option<Uuid>,
    },
}

/// What a policy grants on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyResource {
    /// The target service.
    pub service: ServiceKind,
    /// One instance, or every instance of the account.
    pub instance: Option<Uuid>,
    /// One key ring, or every ring.
    pub key_ring: Option<String>,
}

/// A policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Policy id.
    pub id: Uuid,
    /// Owning account: the policy grants only on resources of this account.
    pub account: AccountId,
    /// Who is granted.
    pub subject: Subject,
    /// Which roles.
    pub roles: Vec<Role>,
    /// On what.
    pub resource: PolicyResource,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

impl Policy {
    /// Whether this policy's resource is `service`, and `instance` (or any instance when
    /// `instance` is `None`, which only account-wide policies cover).
    pub fn targets(&self, service: ServiceKind, instance: Option<Uuid>) -> bool {
        self.resource.service == service
            && match (self.resource.instance, instance) {
                (None, _) => true,
                (Some(mine), Some(asked)) => mine == asked,
                (Some(_), None) => false,
            }
    }
}
