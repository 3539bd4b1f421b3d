//! Roles, access policies and service-to-service authorizations, and the decision over them.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::IamError;
use crate::principal::{AccountId, ServiceKind};

/// Key Protect's service roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Read metadata; wrap, unwrap and rewrap.
    Reader,
    /// Reader plus reading standard-key payloads.
    ReaderPlus,
    /// Create, import and rotate keys; aliases.
    Writer,
    /// Everything but purge.
    Manager,
    /// Purge deleted keys.
    KeyPurge,
}

impl Role {
    /// All roles.
    pub const ALL: [Role; 5] = [
        Role::Reader,
        Role::ReaderPlus,
        Role::Writer,
        Role::Manager,
        Role::KeyPurge,
    ];

    /// The role's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "Reader",
            Self::ReaderPlus => "ReaderPlus",
            Self::Writer => "Writer",
            Self::Manager => "Manager",
            Self::KeyPurge => "KeyPurge",
        }
    }
}

impl FromStr for Role {
    type Err = IamError;
    /// Accepts the bare name or IBM's `crn:v1:bluemix:public:iam::::serviceRole:<Name>` form.
    fn from_str(s: &str) -> Result<Self, IamError> {
        let name = s.rsplit(':').next().unwrap_or(s);
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(name))
            .ok_or(IamError::Invalid {
                field: "role",
                reason: "one of Reader, ReaderPlus, Writer, Manager, KeyPurge",
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Access policies grant roles to a principal; authorizations grant roles to a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A user or service id, by IAM id.
    Principal(String),
    /// One of our services (all its instances, or one).
    Service {
        /// e.g. `configsvc`.
        service: ServiceKind,
        /// One source instance, or all.
        instance: Option<Uuid>,
    },
}

/// What a policy grants on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
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
    /// Owning account.
    pub account: AccountId,
    /// Who is granted.
    pub subject: Subject,
    /// Which roles.
    pub roles: Vec<Role>,
    /// On what.
    pub resource: Resource,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

impl Policy {
    /// Whether this policy grants on `instance` (of `service`) and, if given, `ring`.
    pub fn covers(&self, service: ServiceKind, instance: Uuid, ring: Option<&str>) -> bool {
        self.resource.service == service
            && self.resource.instance.is_none_or(|i| i == instance)
            && match (&self.resource.key_ring, ring) {
                (None, _) => true,
                (Some(r), Some(ring)) => r == ring,
                (Some(_), None) => false,
            }
    }
}

/// The roles one caller holds on one instance, split by ring scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// Roles on every ring of the instance.
    pub instance_roles: Vec<Role>,
    /// Roles on single rings.
    pub ring_roles: Vec<(String, Role)>,
}

impl Grants {
    /// Collects the grants of `policies` (already filtered to the caller) on `instance`.
    pub fn collect<'a>(
        policies: impl IntoIterator<Item = &'a Policy>,
        service: ServiceKind,
        instance: Uuid,
    ) -> Self {
        let mut grants = Self::default();
        for p in policies {
            if !p.covers(service, instance, p.resource.key_ring.as_deref()) {
                continue;
            }
            match &p.resource.key_ring {
                None => grants.instance_roles.extend(p.roles.iter().copied()),
                Some(ring) => grants
                    .ring_roles
                    .extend(p.roles.iter().map(|r| (ring.clone(), *r))),
            }
        }
        grants.instance_roles.sort();
        grants.instance_roles.dedup();
        grants
    }

    /// Whether any of `roles` is held on `ring`.
    pub fn has_any(&self, roles: &[Role], ring: &str) -> bool {
        roles.iter().any(|r| {
            self.instance_roles.contains(r)
                || self.ring_roles.iter().any(|(g, gr)| g == ring && gr == r)
        })
    }

    /// Whether the caller holds anything at all on the instance.
    pub fn is_empty(&self) -> bool {
        self.instance_roles.is_empty() && self.ring_roles.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(instance: Option<Uuid>, ring: Option<&str>, roles: &[Role]) -> Policy {
        Policy {
            id: Uuid::new_v4(),
            account: AccountId::new_random(),
            subject: Subject::Principal("u".into()),
            roles: roles.to_vec(),
            resource: Resource {
                service: ServiceKind::Kms,
                instance,
                key_ring: ring.map(str::to_owned),
            },
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn roles_parse_in_both_forms() {
        assert_eq!("Manager".parse::<Role>().ok(), Some(Role::Manager));
        assert_eq!(
            "crn:v1:bluemix:public:iam::::serviceRole:ReaderPlus"
                .parse::<Role>()
                .ok(),
            Some(Role::ReaderPlus)
        );
        assert!("Owner".parse::<Role>().is_err());
    }

    #[test]
    fn grants_respect_instance_and_ring_scope() {
        let i = Uuid::new_v4();
        let other = Uuid::new_v4();
        let ps = [
            policy(Some(i), None, &[Role::Reader]),
            policy(Some(i), Some("ring-a"), &[Role::Manager]),
            policy(Some(other), None, &[Role::KeyPurge]),
        ];
        let g = Grants::collect(&ps, ServiceKind::Kms, i);
        assert!(g.has_any(&[Role::Reader], "default"));
        assert!(g.has_any(&[Role::Manager], "ring-a"));
        assert!(!g.has_any(&[Role::Manager], "default"));
        assert!(!g.has_any(&[Role::KeyPurge], "ring-a"));
        let none = Grants::collect(&ps, ServiceKind::ConfigSvc, i);
        assert!(none.is_empty());
    }

    #[test]
    fn account_wide_policies_cover_every_instance() {
        let ps = [policy(None, None, &[Role::Writer])];
        assert!(
            Grants::collect(&ps, ServiceKind::Kms, Uuid::new_v4()).has_any(&[Role::Writer], "x")
        );
    }
}
