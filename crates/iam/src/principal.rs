//! Accounts, principals (users and service ids) and service instances.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::IamError;

/// An account id (32 lowercase hex characters, like IBM Cloud account ids).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    /// A new random account id.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4().simple().to_string())
    }
    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AccountId {
    type Err = IamError;
    fn from_str(s: &str) -> Result<Self, IamError> {
        if (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            Ok(Self(s.to_owned()))
        } else {
            Err(IamError::Invalid {
                field: "account_id",
                reason: "1 to 64 letters, digits or '-'",
            })
        }
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Users and service ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// A person.
    User,
    /// A service identity (an application, or one of our services).
    ServiceId,
}

impl PrincipalKind {
    /// Stored and shown name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ServiceId => "service_id",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "service_id" => Some(Self::ServiceId),
            _ => None,
        }
    }
    fn iam_prefix(self) -> &'static str {
        match self {
            Self::User => "IBMid-",
            Self::ServiceId => "iam-ServiceId-",
        }
    }
}

/// An identity that can hold API keys and be granted roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// IAM id, e.g. `iam-ServiceId-<uuid>`.
    pub iam_id: String,
    /// Its account.
    pub account: AccountId,
    /// User or service id.
    pub kind: PrincipalKind,
    /// Display name.
    pub name: String,
    /// For service ids of our own services: the service name (e.g. `configsvc`).
    pub service_name: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

impl Principal {
    /// A new principal with a fresh IAM id.
    pub fn new(
        account: AccountId,
        kind: PrincipalKind,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<Self, IamError> {
        if name.trim().is_empty() || name.chars().count() > 128 {
            return Err(IamError::Invalid {
                field: "name",
                reason: "1 to 128 characters",
            });
        }
        Ok(Self {
            iam_id: format!("{}{}", kind.iam_prefix(), Uuid::new_v4()),
            account,
            kind,
            name: name.to_owned(),
            service_name: None,
            created_at: now,
        })
    }
}

/// The kinds of service instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    /// A KMS instance.
    Kms,
    /// A configuration-service instance.
    ConfigSvc,
    /// IAM itself: a role here manages the account's identities and policies.
    Iam,
}

impl ServiceKind {
    /// The name used in policies and CRNs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Kms => "kms",
            Self::ConfigSvc => "configsvc",
            Self::Iam => "iam",
        }
    }
    /// Parses the name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "kms" => Some(Self::Kms),
            "configsvc" => Some(Self::ConfigSvc),
            "iam" => Some(Self::Iam),
            _ => None,
        }
    }
}

/// A provisioned service instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Its GUID.
    pub id: Uuid,
    /// Owning account.
    pub account: AccountId,
    /// Which service.
    pub service: ServiceKind,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
}
