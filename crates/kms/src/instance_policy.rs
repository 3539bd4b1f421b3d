//! Instance policies: settings of a whole KMS instance (dual authorization and a rotation
//! schedule for keys created later, which clients may connect and from where, which keys may
//! be created or imported, metrics), and the KMS operations that read and set them.

use ipnet::IpNet;
use keyward_iam::Action as Op;

use crate::error::KmsError;
use crate::ids::InstanceId;
use crate::policy::{PolicyStamp, ROTATION_INTERVAL_MONTHS, RotationSchedule};
use crate::ports::{Access, KeyStore, MasterKey};
use crate::service::Kms;

/// Most CIDR blocks an `allowedIP` policy may list.
pub const MAX_ALLOWED_IP_BLOCKS: usize = 1000;

/// The kinds of instance policy, by their wire names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstancePolicyKind {
    /// Keys created later need two users to delete.
    DualAuthDelete,
    /// Generated root keys created later get this rotation schedule.
    Rotation,
    /// Which endpoints accept the instance's requests.
    AllowedNetwork,
    /// Which client addresses may call the instance.
    AllowedIp,
    /// Which keys may be created or imported.
    KeyCreateImportAccess,
    /// Per-instance operation counters.
    Metrics,
}

impl InstancePolicyKind {
    /// Every kind, in the order they are listed.
    pub const ALL: [Self; 6] = [
        Self::AllowedIp,
        Self::AllowedNetwork,
        Self::DualAuthDelete,
        Self::KeyCreateImportAccess,
        Self::Metrics,
        Self::Rotation,
    ];

    /// The wire and stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DualAuthDelete => "dualAuthDelete",
            Self::Rotation => "rotation",
            Self::AllowedNetwork => "allowedNetwork",
            Self::AllowedIp => "allowedIP",
            Self::KeyCreateImportAccess => "keyCreateImportAccess",
            Self::Metrics => "metrics",
        }
    }

    /// From the wire or stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether an enabled policy of this kind carries attributes.
    pub const fn has_attributes(self) -> bool {
        !matches!(self, Self::DualAuthDelete | Self::Metrics)
    }
}

/// Which endpoints accept an instance's requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowedNetwork {
    /// Any endpoint.
    PublicAndPrivate,
    /// Only the private endpoint.
    PrivateOnly,
}

impl AllowedNetwork {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PublicAndPrivate => "public-and-private",
            Self::PrivateOnly => "private-only",
        }
    }

    /// From the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::PublicAndPrivate, Self::PrivateOnly]
            .into_iter()
            .find(|n| n.as_str() == s)
    }
}

/// Which keys may be created or imported in an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyCreateImportAccess {
    /// Generated root keys.
    pub create_root_key: bool,
    /// Generated standard keys.
    pub create_standard_key: bool,
    /// Imported root keys.
    pub import_root_key: bool,
    /// Imported standard keys.
    pub import_standard_key: bool,
    /// Imported material only through an import token (secure import).
    pub enforce_token: bool,
}

impl Default for KeyCreateImportAccess {
    fn default() -> Self {
        Self {
            create_root_key: true,
            create_standard_key: true,
            import_root_key: true,
            import_standard_key: true,
            enforce_token: false,
        }
    }
}

impl KeyCreateImportAccess {
    /// Refuses creating (`imported == false`) or importing a root (`extractable == false`) or
    /// standard key unless allowed; an import without a token is refused under `enforce_token`.
    pub fn check(
        self,
        extractable: bool,
        imported: bool,
        with_token: bool,
    ) -> Result<(), KmsError> {
        let allowed = match (extractable, imported) {
            (false, false) => self.create_root_key,
            (true, false) => self.create_standard_key,
            (false, true) => self.import_root_key,
            (true, true) => self.import_standard_key,
        };
        if !allowed || (imported && self.enforce_token && !with_token) {
            return Err(KmsError::KeyCreateImportAccess);
        }
        Ok(())
    }
}

/// The attributes of an enabled policy that has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstanceAttributes {
    /// `interval_month` of `rotation`.
    Rotation {
        /// Months between rotations.
        interval_month: u8,
    },
    /// `allowed_network`.
    AllowedNetwork(AllowedNetwork),
    /// `allowed_ip`.
    AllowedIp(Vec<IpNet>),
    /// The five switches of `keyCreateImportAccess`.
    KeyCreateImportAccess(KeyCreateImportAccess),
}

impl InstanceAttributes {
    fn kind(&self) -> InstancePolicyKind {
        match self {
            Self::Rotation { .. } => InstancePolicyKind::Rotation,
            Self::AllowedNetwork(_) => InstancePolicyKind::AllowedNetwork,
            Self::AllowedIp(_) => InstancePolicyKind::AllowedIp,
            Self::KeyCreateImportAccess(_) => InstancePolicyKind::KeyCreateImportAccess,
        }
    }
}

/// One instance policy as a caller sets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSetting {
    /// Its kind.
    pub kind: InstancePolicyKind,
    /// On or off.
    pub enabled: bool,
    /// Present exactly when enabled and the kind has attributes.
    pub attributes: Option<InstanceAttributes>,
}

impl InstanceSetting {
    /// Refuses attributes that are missing, extra, of another kind, or out of range.
    pub fn validate(&self) -> Result<(), KmsError> {
        let invalid = |requirement| KmsError::InvalidField {
            field: "attributes",
            requirement,
        };
        match (&self.attributes, self.enabled && self.kind.has_attributes()) {
            (None, false) => return Ok(()),
            (None, true) => return Err(invalid("present when the policy is enabled")),
            (Some(_), false) => {
                return Err(invalid(
                    "absent when the policy is disabled or takes no attributes",
                ));
            }
            (Some(a), true) if a.kind() != self.kind => {
                return Err(invalid("the attributes of the policy's own type"));
            }
            (Some(_), true) => {}
        }
        match &self.attributes {
            Some(InstanceAttributes::Rotation { interval_month })
                if !ROTATION_INTERVAL_MONTHS.contains(interval_month) =>
            {
                Err(KmsError::InvalidField {
                    field: "interval_month",
                    requirement: "an integer from 1 to 12",
                })
            }
            Some(InstanceAttributes::AllowedIp(blocks))
                if blocks.is_empty() || blocks.len() > MAX_ALLOWED_IP_BLOCKS =>
            {
                Err(KmsError::InvalidField {
                    field: "allowed_ip",
                    requirement: "a list of 1 to 1000 IPv4 or IPv6 CIDR blocks",
                })
            }
            _ => Ok(()),
        }
    }
}

/// One instance policy as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstancePolicy {
    /// The setting.
    pub setting: InstanceSetting,
    /// Who set it, when.
    pub stamp: PolicyStamp,
}

/// The policies of one instance (kinds never set are absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstancePolicies(pub Vec<InstancePolicy>);

impl InstancePolicies {
    fn enabled(&self, kind: InstancePolicyKind) -> Option<&InstanceSetting> {
        self.0
            .iter()
            .map(|p| &p.setting)
            .find(|s| s.kind == kind && s.enabled)
    }

    /// Whether keys created from now on need two users to delete.
    pub fn dual_auth_delete(&self) -> bool {
        self.enabled(InstancePolicyKind::DualAuthDelete).is_some()
    }

    /// The rotation schedule generated root keys created from now on get.
    pub fn rotation(&self) -> Option<RotationSchedule> {
        match self.enabled(InstancePolicyKind::Rotation)?.attributes {
            Some(InstanceAttributes::Rotation { interval_month }) => Some(RotationSchedule {
                enabled: true,
                interval_month,
            }),
            _ => None,
        }
    }

    /// Which keys may be created or imported (everything when no policy says otherwise).
    pub fn key_create_import_access(&self) -> KeyCreateImportAccess {
        match self.enabled(InstancePolicyKind::KeyCreateImportAccess) {
            Some(InstanceSetting {
                attributes: Some(InstanceAttributes::KeyCreateImportAccess(access)),
                ..
            }) => *access,
            _ => KeyCreateImportAccess::default(),
        }
    }

    /// Which endpoints accept the instance's requests (both when no policy says otherwise).
    pub fn allowed_network(&self) -> AllowedNetwork {
        match self.enabled(InstancePolicyKind::AllowedNetwork) {
            Some(InstanceSetting {
                attributes: Some(InstanceAttributes::AllowedNetwork(network)),
                ..
            }) => *network,
            _ => AllowedNetwork::PublicAndPrivate,
        }
    }

    /// Whether the instance asked for its own operation counters in `/metrics`.
    pub fn metrics(&self) -> bool {
        self.enabled(InstancePolicyKind::Metrics).is_some()
    }

    /// The client addresses allowed to call the instance, when restricted.
    pub fn allowed_ip(&self) -> Option<&[IpNet]> {
        match self
            .enabled(InstancePolicyKind::AllowedIp)?
            .attributes
            .as_ref()?
        {
            InstanceAttributes::AllowedIp(blocks) => Some(blocks),
            _ => None,
        }
    }

    /// Whether `client` may call the instance.
    pub fn allows_client(&self, client: std::net::IpAddr) -> bool {
        // An IPv4 client seen through an IPv6 socket is matched as IPv4.
        let client = match client {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
            v4 => v4,
        };
        self.allowed_ip()
            .is_none_or(|blocks| blocks.iter().any(|b| b.contains(&client)))
    }
}

impl<S: KeyStore, M: MasterKey> Kms<S, M> {
    /// The instance's policies, for a caller who may read them.
    pub async fn instance_policies(
        &self,
        access: &dyn Access,
        instance: InstanceId,
    ) -> Result<InstancePolicies, KmsError> {
        Self::require_instance(access, Op::KmsInstancePoliciesRead)?;
        self.store.instance_policies(instance).await
    }

    /// Sets instance policies (each replaces the policy of its kind); returns all of them.
    pub async fn set_instance_policies(
        &self,
        access: &dyn Access,
        instance: InstanceId,
        settings: Vec<InstanceSetting>,
    ) -> Result<InstancePolicies, KmsError> {
        Self::require_instance(access, Op::KmsInstancePoliciesWrite)?;
        settings.iter().try_for_each(InstanceSetting::validate)?;
        let now = self.now();
        let by = access.principal();
        let policies: Vec<InstancePolicy> = settings
            .into_iter()
            .map(|setting| InstancePolicy {
                setting,
                stamp: PolicyStamp {
                    created_at: now,
                    created_by: by.to_owned(),
                    updated_at: now,
                    updated_by: by.to_owned(),
                },
            })
            .collect();
        self.store
            .put_instance_policies(instance, &policies)
            .await?;
        self.instance_policies.invalidate(instance);
        self.store.instance_policies(instance).await
    }

    /// The CIDR blocks of the instance's allowedIP policy, when one is on, for a caller who may
    /// read the private endpoint's port.
    pub async fn allowed_ip(
        &self,
        access: &dyn Access,
        instance: InstanceId,
    ) -> Result<Option<Vec<IpNet>>, KmsError> {
        Self::require_instance(access, Op::KmsInstanceReadAllowedIpPort)?;
        let policies = self.store.instance_policies(instance).await?;
        Ok(policies.allowed_ip().map(<[IpNet]>::to_vec))
    }

    /// The instance's policies as recently read (within the key cache's time to live), for
    /// checks on every request.
    pub async fn current_instance_policies(
        &self,
        instance: InstanceId,
    ) -> Result<std::sync::Arc<InstancePolicies>, KmsError> {
        if let Some(policies) = self.instance_policies.get(instance) {
            return Ok(policies);
        }
        let read = self.store.instance_policies(instance).await?;
        Ok(self.instance_policies.insert(instance, read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(
        kind: InstancePolicyKind,
        enabled: bool,
        attributes: Option<InstanceAttributes>,
    ) -> InstanceSetting {
        InstanceSetting {
            kind,
            enabled,
            attributes,
        }
    }

    #[test]
    fn attributes_come_with_enabled_policies_of_their_own_kind_only() {
        use InstancePolicyKind as K;
        let rotation = |m| Some(InstanceAttributes::Rotation { interval_month: m });
        assert!(setting(K::Rotation, true, rotation(3)).validate().is_ok());
        assert!(setting(K::Rotation, false, None).validate().is_ok());
        assert!(setting(K::DualAuthDelete, true, None).validate().is_ok());
        for bad in [
            setting(K::Rotation, true, None),
            setting(K::Rotation, false, rotation(3)),
            setting(K::Rotation, true, rotation(0)),
            setting(K::Rotation, true, rotation(13)),
            setting(K::DualAuthDelete, true, rotation(3)),
            setting(K::AllowedNetwork, true, rotation(3)),
            setting(
                K::AllowedIp,
                true,
                Some(InstanceAttributes::AllowedIp(vec![])),
            ),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn create_and_import_access_follow_the_switches() {
        let access = KeyCreateImportAccess {
            create_root_key: false,
            import_standard_key: false,
            enforce_token: true,
            ..KeyCreateImportAccess::default()
        };
        assert!(access.check(false, false, false).is_err());
        assert!(access.check(true, false, false).is_ok());
        assert!(access.check(true, true, true).is_err());
        assert!(access.check(false, true, false).is_err(), "token enforced");
        assert!(access.check(false, true, true).is_ok());
        assert!(
            KeyCreateImportAccess::default()
                .check(false, true, false)
                .is_ok()
        );
    }

    #[test]
    fn allowed_ip_matches_blocks_and_mapped_ipv4() {
        let stamp = PolicyStamp {
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            created_by: "a".into(),
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_by: "a".into(),
        };
        let blocks = vec![
            "10.0.0.0/8".parse().expect("cidr"),
            "2001:db8::/32".parse().expect("cidr"),
        ];
        let policies = InstancePolicies(vec![InstancePolicy {
            setting: setting(
                InstancePolicyKind::AllowedIp,
                true,
                Some(InstanceAttributes::AllowedIp(blocks)),
            ),
            stamp,
        }]);
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        assert!(policies.allows_client(ip("10.1.2.3")));
        assert!(policies.allows_client(ip("::ffff:10.1.2.3")));
        assert!(policies.allows_client(ip("2001:db8::1")));
        assert!(!policies.allows_client(ip("192.168.1.1")));
        assert!(!policies.allows_client(ip("::1")));
        assert!(InstancePolicies::default().allows_client(ip("192.168.1.1")));
    }
}
