//! Typed identifiers, parsed once at the edge.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::InvalidId;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random (v4) identifier.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
            /// Wraps an already parsed UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Only the hyphenated 36-character form is accepted, as Key Protect does.
                if s.len() != 36 {
                    return Err(InvalidId::NotUuid);
                }
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId::NotUuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A service instance (a KMS instance, or later a configuration-service instance).
    InstanceId
);
uuid_id!(
    /// A key.
    KeyId
);
uuid_id!(
    /// One version of a key's material.
    KeyVersionId
);

/// Words that Key Protect reserves and that cannot be aliases.
const RESERVED_ALIASES: &[&str] = &[
    "allowed_ip",
    "key",
    "keys",
    "metadata",
    "policy",
    "policies",
    "registration",
    "registrations",
    "ring",
    "rings",
    "rotate",
    "wrap",
    "unwrap",
    "rewrap",
    "version",
    "versions",
];

/// A key alias: 2–90 characters of `[A-Za-z0-9_-]`, not a UUID, not a reserved word.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Alias(String);

impl Alias {
    /// The alias text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Alias {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid_chars = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !(2..=90).contains(&s.len()) || !valid_chars {
            return Err(InvalidId::Alias);
        }
        if Uuid::parse_str(s).is_ok() || RESERVED_ALIASES.contains(&s) {
            return Err(InvalidId::Alias);
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key ring id: 2–100 characters of `[A-Za-z0-9-]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyRingId(String);

impl KeyRingId {
    /// The ring every instance has and that cannot be created or deleted.
    pub fn default_ring() -> Self {
        Self("default".to_owned())
    }
    /// Whether this is the `default` ring.
    pub fn is_default(&self) -> bool {
        self.0 == "default"
    }
    /// The ring id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for KeyRingId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = (2..=100).contains(&s.len())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId::KeyRing)
        }
    }
}

impl fmt::Display for KeyRingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a request names a key: by id or by alias.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyRef {
    /// By its UUID.
    Id(KeyId),
    /// By one of its aliases.
    Alias(Alias),
}

impl FromStr for KeyRef {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(id) = s.parse::<KeyId>() {
            return Ok(Self::Id(id));
        }
        s.parse::<Alias>()
            .map(Self::Alias)
            .map_err(|_| InvalidId::KeyRef)
    }
}

/// The CRN naming parameters that come from configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrnScheme {
    /// `keyward` by default (`bluemix` on IBM Cloud).
    pub cname: String,
    /// `local` by default (`public` on IBM Cloud).
    pub ctype: String,
    /// `local` by default (`us-south`, ...).
    pub region: String,
}

impl Default for CrnScheme {
    fn default() -> Self {
        Self {
            cname: "keyward".into(),
            ctype: "local".into(),
            region: "local".into(),
        }
    }
}

impl CrnScheme {
    /// `crn:v1:<cname>:<ctype>:kms:<region>:a/<account>:<instance>:key:<key>`.
    pub fn key_crn(&self, account: &str, instance: InstanceId, key: KeyId) -> String {
        format!(
            "crn:v1:{}:{}:kms:{}:a/{}:{}:key:{}",
            self.cname, self.ctype, self.region, account, instance, key
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_follow_key_protect_rules() {
        assert!("my-alias_1".parse::<Alias>().is_ok());
        assert!("a".parse::<Alias>().is_err());
        assert!("wrap".parse::<Alias>().is_err());
        assert!("has space".parse::<Alias>().is_err());
        assert!(
            "0b5d4c5e-2a38-4f63-9a0e-9d8e0cf0b8a1"
                .parse::<Alias>()
                .is_err()
        );
        assert!("x".repeat(91).parse::<Alias>().is_err());
    }

    #[test]
    fn key_ref_prefers_uuid() {
        let id = "0b5d4c5e-2a38-4f63-9a0e-9d8e0cf0b8a1";
        assert!(matches!(id.parse::<KeyRef>(), Ok(KeyRef::Id(_))));
        assert!(matches!("alias1".parse::<KeyRef>(), Ok(KeyRef::Alias(_))));
        assert!("!!".parse::<KeyRef>().is_err());
    }

    #[test]
    fn uuid_ids_reject_other_forms() {
        assert!("0b5d4c5e2a384f639a0e9d8e0cf0b8a1".parse::<KeyId>().is_err());
        assert!("not-a-uuid".parse::<InstanceId>().is_err());
    }

    #[test]
    fn crn_has_the_documented_shape() {
        let i = InstanceId::new_random();
        let k = KeyId::new_random();
        let crn = CrnScheme::default().key_crn("acc", i, k);
        assert_eq!(
            crn,
            format!("crn:v1:keyward:local:kms:local:a/acc:{i}:key:{k}")
        );
    }
}
