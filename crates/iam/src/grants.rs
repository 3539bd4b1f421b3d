//! The roles one caller holds on one target (an instance, or the account on IAM), collected from
//! the target account's policies, and what they allow according to the action table.

use uuid::Uuid;

use crate::action::Action;
use crate::caller::Caller;
use crate::decision::Basis;
use crate::policy::{Policy, Subject};
use crate::principal::{AccountId, ServiceKind};
use crate::role::Role;

/// Roles held on the whole target and on single key rings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleSet {
    /// Roles on the whole target.
    pub whole: Vec<Role>,
    /// Roles on one key ring each.
    pub rings: Vec<(String, Role)>,
}

impl RoleSet {
    fn add(&mut self, policy: &Policy) {
        match &policy.resource.key_ring {
            None => self.whole.extend(policy.roles.iter().copied()),
            Some(ring) => self
                .rings
                .extend(policy.roles.iter().map(|r| (ring.clone(), *r))),
        }
    }

    fn finish(&mut self) {
        self.whole.sort();
        self.whole.dedup();
        self.rings.sort();
        self.rings.dedup();
    }

    fn whole_has(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.whole.contains(r))
    }

    fn has(&self, roles: &[Role], ring: Option<&str>) -> bool {
        self.whole_has(roles)
            || ring.is_some_and(|ring| {
                self.rings
                    .iter()
                    .any(|(g, r)| g == ring && roles.contains(r))
            })
    }

    fn rings_with<'a>(&'a self, roles: &'a [Role]) -> impl Iterator<Item = &'a str> + 'a {
        self.rings
            .iter()
            .filter(|(_, r)| roles.contains(r))
            .map(|(ring, _)| ring.as_str())
    }

    fn is_empty(&self) -> bool {
        self.whole.is_empty() && self.rings.is_empty()
    }
}

/// Where in an instance an action is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rings {
    /// In every ring.
    All,
    /// In these rings only (none: nowhere).
    Only(Vec<String>),
}

impl Rings {
    /// Whether the action is allowed in at least one ring.
    pub fn any(&self) -> bool {
        match self {
            Self::All => true,
            Self::Only(rings) => !rings.is_empty(),
        }
    }
}

/// A caller's roles on one target, split by how they were granted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// From access policies naming the caller.
    pub access: RoleSet,
    /// From service-to-service authorizations naming the caller's service (and source instance).
    pub authorized: RoleSet,
}

impl Grants {
    /// The caller's grants on `instance` of `service` (`None`: the account itself, for IAM),
    /// from the policies of `account`, the account that owns the target.
    ///
    /// Access policies count only for callers of that account. A service-to-service
    /// authorization counts only for a caller that is the named service acting for one of its
    /// instances: any instance of that service in `account` when the authorization names no
    /// source instance, else exactly the named instance.
    pub fn collect(
        caller: &Caller,
        policies: &[Policy],
        account: &AccountId,
        service: ServiceKind,
        instance: Option<Uuid>,
    ) -> Self {
        let mut grants = Self::default();
        for p in policies {
            if &p.account != account || !p.targets(service, instance) {
                continue;
            }
            match &p.subject {
                Subject::Principal(iam_id) => {
                    if *iam_id == caller.iam_id && caller.account == *account {
                        grants.access.add(p);
                    }
                }
                Subject::Service {
                    service: subject,
                    instance: source,
                } => {
                    let Some(acting) = &caller.acting_for else {
                        continue;
                    };
                    let named = caller.service == Some(*subject) && acting.service == *subject;
                    let source_matches = match source {
                        None => acting.account == *account,
                        Some(id) => acting.id == *id,
                    };
                    if named && source_matches {
                        grants.authorized.add(p);
                    }
                }
            }
        }
        grants.access.finish();
        grants.authorized.finish();
        grants
    }

    /// Whether `action` is allowed on the whole target (`ring` `None`) or in `ring`.
    pub fn allows(&self, action: Action, ring: Option<&str>) -> bool {
        self.basis(action, ring).is_some()
    }

    /// What allows `action` on the whole target (`ring` `None`) or in `ring`, if anything.
    pub fn basis(&self, action: Action, ring: Option<&str>) -> Option<Basis> {
        let rule = action.rule();
        if self.access.has(rule.roles, ring) {
            Some(Basis::Role)
        } else if self.authorized.has(rule.authorized, ring) {
            Some(Basis::Authorization)
        } else {
            None
        }
    }

    /// Where in the instance `action` is allowed.
    pub fn rings(&self, action: Action) -> Rings {
        let rule = action.rule();
        if self.access.whole_has(rule.roles) || self.authorized.whole_has(rule.authorized) {
            return Rings::All;
        }
        let mut rings: Vec<String> = self
            .access
            .rings_with(rule.roles)
            .chain(self.authorized.rings_with(rule.authorized))
            .map(str::to_owned)
            .collect();
        rings.sort();
        rings.dedup();
        Rings::Only(rings)
    }

    /// Whether the caller holds nothing at all on the target.
    pub fn is_empty(&self) -> bool {
        self.access.is_empty() && self.authorized.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyResource;
    use crate::principal::{Instance, PrincipalKind};
    use time::OffsetDateTime;

    fn policy(
        account: &AccountId,
        subject: Subject,
        roles: &[Role],
        instance: Option<Uuid>,
        ring: Option<&str>,
    ) -> Policy {
        Policy {
            id: Uuid::new_v4(),
            account: account.clone(),
            subject,
            roles: roles.to_vec(),
            resource: PolicyResource {
                service: ServiceKind::Kms,
                instance,
                key_ring: ring.map(str::to_owned),
            },
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn user(account: &AccountId) -> Caller {
        Caller {
            iam_id: "IBMid-u".into(),
            account: account.clone(),
            kind: PrincipalKind::User,
            service: None,
            acting_for: None,
        }
    }

    fn service_acting_for(source: &Instance) -> Caller {
        Caller {
            iam_id: "iam-ServiceId-configsvc".into(),
            account: AccountId::new_random(),
            kind: PrincipalKind::ServiceId,
            service: Some(ServiceKind::ConfigSvc),
            acting_for: Some(source.clone()),
        }
    }

    fn configsvc_instance(account: &AccountId) -> Instance {
        Instance {
            id: Uuid::new_v4(),
            account: account.clone(),
            service: ServiceKind::ConfigSvc,
            name: "tenant".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn access_grants_respect_instance_and_ring_scope() {
        let account = AccountId::new_random();
        let (i, other) = (Uuid::new_v4(), Uuid::new_v4());
        let me = Subject::Principal("IBMid-u".into());
        let ps = [
            policy(&account, me.clone(), &[Role::Reader], Some(i), None),
            policy(
                &account,
                me.clone(),
                &[Role::Manager],
                Some(i),
                Some("ring-a"),
            ),
            policy(&account, me, &[Role::KeyPurge], Some(other), None),
            policy(
                &account,
                Subject::Principal("IBMid-else".into()),
                &[Role::Manager],
                Some(i),
                None,
            ),
        ];
        let g = Grants::collect(&user(&account), &ps, &account, ServiceKind::Kms, Some(i));
        assert!(g.allows(Action::KmsKeysUnwrap, Some("default")));
        assert!(g.allows(Action::KmsKeysDelete, Some("ring-a")));
        assert!(!g.allows(Action::KmsKeysDelete, Some("default")));
        assert!(!g.allows(Action::KmsKeysPurge, Some("ring-a")));
        assert!(!g.allows(Action::KmsKeyRingsCreate, None));
        assert_eq!(
            g.rings(Action::KmsKeysDelete),
            Rings::Only(vec!["ring-a".into()])
        );
        assert_eq!(g.rings(Action::KmsKeysList), Rings::All);
    }

    #[test]
    fn access_policies_never_reach_another_account() {
        let mine = AccountId::new_random();
        let theirs = AccountId::new_random();
        let i = Uuid::new_v4();
        // A policy stored in their account naming my iam_id grants me nothing there.
        let ps = [policy(
            &theirs,
            Subject::Principal("IBMid-u".into()),
            &[Role::Manager],
            Some(i),
            None,
        )];
        let g = Grants::collect(&user(&mine), &ps, &theirs, ServiceKind::Kms, Some(i));
        assert!(g.is_empty());
    }

    #[test]
    fn authorizations_honour_their_source_instance_and_account() {
        let customer = AccountId::new_random();
        let kms = Uuid::new_v4();
        let tenant = configsvc_instance(&customer);
        let other_tenant = configsvc_instance(&customer);
        let foreign_tenant = configsvc_instance(&AccountId::new_random());
        let scoped = Subject::Service {
            service: ServiceKind::ConfigSvc,
            instance: Some(tenant.id),
        };
        let all = Subject::Service {
            service: ServiceKind::ConfigSvc,
            instance: None,
        };
        let only_tenant = [policy(&customer, scoped, &[Role::Reader], Some(kms), None)];
        let allows = |caller: &Caller, ps: &[Policy]| {
            Grants::collect(caller, ps, &customer, ServiceKind::Kms, Some(kms))
                .allows(Action::KmsKeysUnwrap, Some("default"))
        };
        assert!(allows(&service_acting_for(&tenant), &only_tenant));
        assert!(!allows(&service_acting_for(&other_tenant), &only_tenant));
        assert!(!allows(&service_acting_for(&foreign_tenant), &only_tenant));

        let every_tenant = [policy(&customer, all, &[Role::Reader], Some(kms), None)];
        assert!(allows(&service_acting_for(&tenant), &every_tenant));
        assert!(allows(&service_acting_for(&other_tenant), &every_tenant));
        assert!(
            !allows(&service_acting_for(&foreign_tenant), &every_tenant),
            "an authorization without a source instance covers the account's own instances only"
        );
        // Not acting for any instance: no authorization applies.
        let mut bare = service_acting_for(&tenant);
        bare.acting_for = None;
        assert!(!allows(&bare, &every_tenant));
        // A user is never a service.
        assert!(!allows(&user(&customer), &every_tenant));
    }

    #[test]
    fn authorizations_allow_key_use_but_not_management() {
        let customer = AccountId::new_random();
        let kms = Uuid::new_v4();
        let tenant = configsvc_instance(&customer);
        let all = Subject::Service {
            service: ServiceKind::ConfigSvc,
            instance: None,
        };
        let ps = [policy(&customer, all, &[Role::Manager], Some(kms), None)];
        let g = Grants::collect(
            &service_acting_for(&tenant),
            &ps,
            &customer,
            ServiceKind::Kms,
            Some(kms),
        );
        assert!(g.allows(Action::KmsKeysWrap, Some("default")));
        assert!(g.allows(Action::KmsRegistrationsCreate, Some("default")));
        assert!(!g.allows(Action::KmsKeysDelete, Some("default")));
        assert!(!g.allows(Action::KmsKeysCreate, Some("default")));
    }
}
