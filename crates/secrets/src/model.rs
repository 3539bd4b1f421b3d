//! Tenants, secrets, root keys and DEK generations.

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::crn::RootKeyCrn;

/// The tenant whose secrets these are (a configuration-service instance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(pub Uuid);

/// A secret (e.g. one data mart's database credentials); it has named fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretId(pub Uuid);

/// One DEK generation of a tenant; carried in every ciphertext it sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GenerationId(pub Uuid);

macro_rules! display_uuid {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    )*};
}
display_uuid!(TenantId, SecretId, GenerationId);

/// Which root key protects a generation's DEK.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RootKey {
    /// The service's own global key.
    Global,
    /// The tenant's key, by CRN.
    Customer(RootKeyCrn),
}

impl RootKey {
    /// Stored form: `global` or the CRN.
    pub fn stored(&self) -> &str {
        match self {
            Self::Global => "global",
            Self::Customer(crn) => crn.as_str(),
        }
    }

    /// Parses the stored form.
    pub fn from_stored(s: &str) -> Option<Self> {
        if s == "global" {
            Some(Self::Global)
        } else {
            s.parse().ok().map(Self::Customer)
        }
    }
}

/// A root key as a key event names it: the global key, or a customer key by its KMS instance and
/// key id (whatever CRN names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrappedBy {
    /// The global key.
    Global,
    /// A customer key.
    CustomerKey {
        /// Its KMS instance.
        instance: Uuid,
        /// Its id.
        key: Uuid,
    },
}

/// Whether a generation is in force or being switched to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenerationStatus {
    /// Protects the tenant's secrets.
    Current,
    /// Target of a running re-encryption.
    Pending,
}

impl GenerationStatus {
    /// Stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Pending => "pending",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "current" => Some(Self::Current),
            "pending" => Some(Self::Pending),
            _ => None,
        }
    }
}

/// A DEK generation: the DEK only in wrapped form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    /// Its id.
    pub id: GenerationId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The root key that wraps its DEK.
    pub root: RootKey,
    /// The DEK wrapped by that root key.
    pub wrapped_dek: Vec<u8>,
    /// Current or pending.
    pub status: GenerationStatus,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Whether the DEK was wrapped with the tenant id as `aad`, so that it cannot be unwrapped
    /// for another tenant (every generation made since this existed is).
    pub tenant_bound: bool,
}

/// One sealed field of one secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedField {
    /// Tenant.
    pub tenant: TenantId,
    /// Secret.
    pub secret: SecretId,
    /// Field name (e.g. `password`).
    pub field: String,
    /// The generation that sealed it.
    pub generation: GenerationId,
    /// The versioned ciphertext.
    pub ciphertext: Vec<u8>,
}

/// What a tenant's protection looks like now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protection {
    /// The root key in force.
    pub current: RootKey,
    /// The root key being switched to, with progress.
    pub switching_to: Option<(RootKey, Progress)>,
    /// Why the switch waits (its new root key is disabled, say), when it does; it resumes by
    /// itself.
    pub paused: Option<String>,
}

/// Progress of a re-encryption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Fields the switch has re-encrypted so far.
    pub done: u64,
    /// Fields that needed re-encryption when the switch began (fields written during the
    /// switch are sealed by the new generation at once and counted in neither).
    pub total: u64,
}
