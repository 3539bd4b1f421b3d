//! The one authorization decision: may `caller` perform `action` on `resource`?

use std::fmt;

use uuid::Uuid;

use crate::action::{Action, Scope};
use crate::caller::{Caller, IdentityRef};
use crate::grants::Grants;
use crate::principal::{AccountId, Instance, PrincipalKind, ServiceKind};
use crate::role::Role;

/// What an action is performed on.
#[derive(Clone, Copy, Debug)]
pub enum Resource<'a> {
    /// An account (identities, policies, instances).
    Account(&'a AccountId),
    /// One identity of an account.
    Identity(&'a IdentityRef),
    /// A whole service instance.
    Instance(&'a Instance),
    /// One key ring of a KMS instance (a key is decided by its ring).
    KeyRing(&'a Instance, &'a str),
}

impl Resource<'_> {
    /// The account that owns the resource, whose policies decide.
    pub fn account(&self) -> &AccountId {
        match self {
            Self::Account(a) => a,
            Self::Identity(i) => &i.account,
            Self::Instance(i) | Self::KeyRing(i, _) => &i.account,
        }
    }
}

/// Why an action was allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// An access policy grants a role that allows it.
    Role,
    /// A service-to-service authorization allows it.
    Authorization,
    /// The caller acts on its own identity.
    SelfService,
}

/// Why an action was refused. The text says what is missing, never whether something the
/// caller cannot see exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The action does not apply to that kind of resource (a programming error).
    WrongResource(Action),
    /// The resource belongs to another account.
    OtherAccount,
    /// The identity or instance is one Keyward's own services run under or use.
    SystemResource,
    /// No access policy grants one of the roles that allow the action.
    MissingRole(Action),
    /// No service-to-service authorization lets the source instance do it.
    MissingAuthorization {
        /// The action.
        action: Action,
        /// The calling service.
        service: ServiceKind,
        /// The instance it acts for.
        source: Uuid,
        /// The target service.
        target_service: ServiceKind,
        /// The target instance.
        target: Uuid,
        /// The target's account (where the authorization must be created).
        account: String,
    },
}

/// The outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow(Basis),
    /// Refused.
    Deny(Denial),
}

impl Decision {
    /// Whether it is an allow.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow(_))
    }

    /// `Ok` for an allow, the denial otherwise.
    pub fn into_result(self) -> Result<Basis, Denial> {
        match self {
            Self::Allow(basis) => Ok(basis),
            Self::Deny(denial) => Err(denial),
        }
    }
}

fn names(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongResource(action) => write!(f, "{action} does not apply to this resource"),
            Self::OtherAccount => f.write_str("the resource belongs to another account"),
            Self::SystemResource => {
                f.write_str("this belongs to a Keyward service and is not managed through the API")
            }
            Self::MissingRole(action) => {
                let rule = action.rule();
                write!(
                    f,
                    "{action} needs the {} role on {}",
                    names(rule.roles),
                    rule.service.as_str()
                )
            }
            Self::MissingAuthorization {
                action,
                service,
                source,
                target_service,
                target,
                account,
            } => write!(
                f,
                "no service-to-service authorization lets {service} instance {source} use {target_service} instance {target}: an administrator of account {account} must authorize {service} (every instance of it in that account, or instance {source}) with the {roles} role on that instance",
                service = service.as_str(),
                target_service = target_service.as_str(),
                roles = names(action.rule().authorized),
            ),
        }
    }
}

fn identity_kind_fits(action: Action, kind: PrincipalKind) -> bool {
    use Action::*;
    match action {
        IamUserApiKeysCreate | IamUserApiKeysList | IamUserApiKeysRead | IamUserApiKeysDelete
        | IamUserApiKeysLock | IamUserApiKeysUnlock | IamUsersDelete => kind == PrincipalKind::User,
        IamServiceIdApiKeysCreate
        | IamServiceIdApiKeysList
        | IamServiceIdApiKeysRead
        | IamServiceIdApiKeysDelete
        | IamServiceIdApiKeysLock
        | IamServiceIdApiKeysUnlock
        | IamServiceIdsDelete => kind == PrincipalKind::ServiceId,
        _ => false,
    }
}

/// Decides, given the caller's grants on the resource's target (the instance, or the account
/// on IAM) collected by [`Grants::collect`].
pub fn decide(
    caller: &Caller,
    action: Action,
    resource: &Resource<'_>,
    grants: &Grants,
) -> Decision {
    let rule = action.rule();
    let wrong = Decision::Deny(Denial::WrongResource(action));
    let ring = match (rule.scope, resource) {
        (Scope::Account, Resource::Account(account)) => {
            if **account != caller.account {
                return Decision::Deny(Denial::OtherAccount);
            }
            None
        }
        (Scope::Identity, Resource::Identity(target)) => {
            if !identity_kind_fits(action, target.kind) {
                return wrong;
            }
            if target.account != caller.account {
                return Decision::Deny(Denial::OtherAccount);
            }
            if target.system {
                return Decision::Deny(Denial::SystemResource);
            }
            if rule.self_service && target.iam_id == caller.iam_id {
                return Decision::Allow(Basis::SelfService);
            }
            None
        }
        (Scope::Instance, Resource::Instance(i)) if i.service == rule.service => None,
        (Scope::KeyRing, Resource::KeyRing(i, ring)) if i.service == rule.service => Some(*ring),
        _ => return wrong,
    };
    if let Some(basis) = grants.basis(action, ring) {
        return Decision::Allow(basis);
    }
    match resource {
        Resource::Instance(target) | Resource::KeyRing(target, _) => Decision::Deny(refusal(
            caller,
            action,
            target.service,
            target.id,
            target.account.as_str(),
        )),
        _ => Decision::Deny(Denial::MissingRole(action)),
    }
}

/// What to tell `caller`, refused `action` on instance `target` of `target_service` in
/// `account`: the missing authorization when the caller is one of our services acting for an
/// instance and the action can be authorized, else the missing role. The target need not
/// exist (the caller may have named it in a CRN): the answer is the same either way.
pub fn refusal(
    caller: &Caller,
    action: Action,
    target_service: ServiceKind,
    target: Uuid,
    account: &str,
) -> Denial {
    match (&caller.acting_for, caller.service) {
        (Some(source), Some(service)) if !action.rule().authorized.is_empty() => {
            Denial::MissingAuthorization {
                action,
                service,
                source: source.id,
                target_service,
                target,
                account: account.to_owned(),
            }
        }
        _ => Denial::MissingRole(action),
    }
}
