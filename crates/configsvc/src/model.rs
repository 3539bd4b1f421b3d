//! Configuration resources of an instance: the data mart, service providers, integrated systems.

use std::fmt;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// The kinds of resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// The instance's data mart (its id is the instance id).
    DataMart,
    /// A machine-learning service provider.
    ServiceProvider,
    /// An integrated system.
    IntegratedSystem,
}

impl ResourceKind {
    /// Stored name and URL segment.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DataMart => "data_marts",
            Self::ServiceProvider => "service_providers",
            Self::IntegratedSystem => "integrated_systems",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "data_marts" => Some(Self::DataMart),
            "service_providers" => Some(Self::ServiceProvider),
            "integrated_systems" => Some(Self::IntegratedSystem),
            _ => None,
        }
    }

    /// Where the credentials sit in the entity.
    pub const fn credentials_path(self) -> &'static [&'static str] {
        match self {
            Self::DataMart => &["database_configuration", "credentials"],
            Self::ServiceProvider | Self::IntegratedSystem => &["credentials"],
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifecycle state shown in `entity.status.state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Being set up (the data mart connects to its database).
    Preparing,
    /// Ready.
    Active,
    /// Setup failed; see the failure.
    Error,
}

impl State {
    /// Wire and stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Preparing => "preparing",
            Self::Active => "active",
            Self::Error => "error",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "preparing" => Some(Self::Preparing),
            "active" => Some(Self::Active),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// A stored resource: its entity without credentials, and a reference to its secret.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigResource {
    /// Owning instance.
    pub instance: Uuid,
    /// Kind.
    pub kind: ResourceKind,
    /// Id (the instance id for the data mart).
    pub id: Uuid,
    /// The entity as the client sent it, credentials replaced by `{"secret_id": ...}`.
    pub entity: Map<String, Value>,
    /// The instance secret holding the credentials.
    pub secret: Option<Uuid>,
    /// State.
    pub state: State,
    /// Why it is in `Error`.
    pub failure: Option<String>,
    /// Creator.
    pub created_by: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}
