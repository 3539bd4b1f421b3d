//! Roles: Key Protect's service roles (granted on KMS and configuration-service instances) and
//! IBM's platform roles (granted on IAM itself, for managing the account).

use std::fmt;
use std::str::FromStr;

use crate::error::IamError;
use crate::principal::ServiceKind;

/// A role a policy grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Service role: read metadata; wrap, unwrap and rewrap; read configurations.
    Reader,
    /// Service role: Reader plus reading standard-key payloads.
    ReaderPlus,
    /// Service role: create, import and rotate keys; aliases; change configurations.
    Writer,
    /// Service role: everything but purge.
    Manager,
    /// Service role: purge deleted keys.
    KeyPurge,
    /// Platform role on IAM: read identities, API keys (not their secrets), policies, instances.
    Viewer,
    /// Platform role on IAM: Viewer plus locking API keys.
    Operator,
    /// Platform role on IAM: Operator plus service ids, their API keys, and instances.
    Editor,
    /// Platform role on IAM: everything, including users, their keys and policies.
    Administrator,
}

/// Whether a role is one of Key Protect's service roles or an IAM platform role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleKind {
    /// Granted on service instances.
    Service,
    /// Granted on IAM (account management).
    Platform,
}

impl Role {
    /// All roles.
    pub const ALL: [Role; 9] = [
        Role::Reader,
        Role::ReaderPlus,
        Role::Writer,
        Role::Manager,
        Role::KeyPurge,
        Role::Viewer,
        Role::Operator,
        Role::Editor,
        Role::Administrator,
    ];

    /// The role's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "Reader",
            Self::ReaderPlus => "ReaderPlus",
            Self::Writer => "Writer",
            Self::Manager => "Manager",
            Self::KeyPurge => "KeyPurge",
            Self::Viewer => "Viewer",
            Self::Operator => "Operator",
            Self::Editor => "Editor",
            Self::Administrator => "Administrator",
        }
    }

    /// Service or platform role.
    pub const fn kind(self) -> RoleKind {
        match self {
            Self::Reader | Self::ReaderPlus | Self::Writer | Self::Manager | Self::KeyPurge => {
                RoleKind::Service
            }
            Self::Viewer | Self::Operator | Self::Editor | Self::Administrator => {
                RoleKind::Platform
            }
        }
    }

    /// IBM's role CRN: `crn:v1:bluemix:public:iam::::serviceRole:<Name>` for service roles,
    /// `crn:v1:bluemix:public:iam::::role:<Name>` for platform roles.
    pub fn crn(self) -> String {
        let kind = match self.kind() {
            RoleKind::Service => "serviceRole",
            RoleKind::Platform => "role",
        };
        format!("crn:v1:bluemix:public:iam::::{kind}:{}", self.as_str())
    }

    /// Whether a policy on `service` may grant this role: platform roles on IAM only; the five
    /// Key Protect roles on KMS; Reader, Writer and Manager on the configuration service.
    pub const fn grantable_on(self, service: ServiceKind) -> bool {
        match service {
            ServiceKind::Iam => matches!(self.kind(), RoleKind::Platform),
            ServiceKind::Kms => matches!(self.kind(), RoleKind::Service),
            ServiceKind::ConfigSvc => matches!(self, Self::Reader | Self::Writer | Self::Manager),
        }
    }
}

impl FromStr for Role {
    type Err = IamError;
    /// Accepts the bare name or IBM's role CRN (`...:serviceRole:<Name>` or `...:role:<Name>`);
    /// the CRN's kind must match the role's.
    fn from_str(s: &str) -> Result<Self, IamError> {
        let invalid = IamError::Invalid {
            field: "role",
            reason: "one of Reader, ReaderPlus, Writer, Manager, KeyPurge (service roles) or Viewer, Operator, Editor, Administrator (platform roles)",
        };
        let mut parts = s.rsplit(':');
        let name = parts.next().unwrap_or(s);
        let declared = parts.next();
        let role = Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(name))
            .ok_or(invalid)?;
        let kind_matches = match declared {
            None => true,
            Some("serviceRole") => role.kind() == RoleKind::Service,
            Some("role") => role.kind() == RoleKind::Platform,
            Some(_) => false,
        };
        if kind_matches {
            Ok(role)
        } else {
            Err(IamError::Invalid {
                field: "role",
                reason: "a role CRN whose kind (serviceRole or role) matches the role",
            })
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_in_every_form_and_print_their_crn() {
        assert_eq!("Manager".parse::<Role>().ok(), Some(Role::Manager));
        assert_eq!(
            "crn:v1:bluemix:public:iam::::serviceRole:ReaderPlus"
                .parse::<Role>()
                .ok(),
            Some(Role::ReaderPlus)
        );
        assert_eq!(
            "crn:v1:bluemix:public:iam::::role:Administrator"
                .parse::<Role>()
                .ok(),
            Some(Role::Administrator)
        );
        for role in Role::ALL {
            assert_eq!(role.crn().parse::<Role>().ok(), Some(role));
        }
        assert!("Owner".parse::<Role>().is_err());
        assert!(
            "crn:v1:bluemix:public:iam::::serviceRole:Administrator"
                .parse::<Role>()
                .is_err()
        );
        assert!(
            "crn:v1:bluemix:public:iam::::role:Manager"
                .parse::<Role>()
                .is_err()
        );
    }

    #[test]
    fn platform_roles_are_granted_on_iam_and_service_roles_on_services() {
        assert!(Role::Administrator.grantable_on(ServiceKind::Iam));
        assert!(!Role::Manager.grantable_on(ServiceKind::Iam));
        assert!(!Role::Viewer.grantable_on(ServiceKind::Kms));
        assert!(Role::KeyPurge.grantable_on(ServiceKind::Kms));
        assert!(!Role::KeyPurge.grantable_on(ServiceKind::ConfigSvc));
        assert!(Role::Writer.grantable_on(ServiceKind::ConfigSvc));
    }
}
