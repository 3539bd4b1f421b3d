//! Which Key Protect roles allow which KMS permission.

use std::sync::Arc;

use keyward_iam::{Grants, Role};
use keyward_kms::{Access, KeyRingId, Permission};

/// The roles that grant `permission` (Key Protect's service roles).
pub const fn roles_for(permission: Permission) -> &'static [Role] {
    use Role::*;
    match permission {
        Permission::ReadMetadata | Permission::UseKey => &[Reader, ReaderPlus, Writer, Manager],
        Permission::ReadPayload => &[ReaderPlus, Writer, Manager],
        Permission::CreateKey | Permission::RotateKey | Permission::ManageKey => &[Writer, Manager],
        Permission::DisableKey | Permission::DeleteKey | Permission::ManageKeyRings => &[Manager],
        Permission::PurgeKey => &[KeyPurge],
    }
}

/// A caller's access within one instance.
pub struct GrantsAccess {
    /// Caller's IAM id.
    pub iam_id: String,
    /// Caller's grants on the instance.
    pub grants: Arc<Grants>,
}

impl Access for GrantsAccess {
    fn allows(&self, permission: Permission, ring: &KeyRingId) -> bool {
        self.grants.has_any(roles_for(permission), ring.as_str())
    }

    fn principal(&self) -> &str {
        &self.iam_id
    }

    fn readable_rings(&self) -> Option<Vec<KeyRingId>> {
        let read = roles_for(Permission::ReadMetadata);
        if self.grants.instance_roles.iter().any(|r| read.contains(r)) {
            return None;
        }
        let mut rings: Vec<KeyRingId> = self
            .grants
            .ring_roles
            .iter()
            .filter(|(_, role)| read.contains(role))
            .filter_map(|(ring, _)| ring.parse().ok())
            .collect();
        rings.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        rings.dedup();
        Some(rings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(roles: &[Role]) -> GrantsAccess {
        GrantsAccess {
            iam_id: "u".into(),
            grants: Arc::new(Grants {
                instance_roles: roles.to_vec(),
                ring_roles: vec![],
            }),
        }
    }

    #[test]
    fn reader_uses_keys_but_cannot_create_or_delete() {
        let ring = KeyRingId::default_ring();
        let a = access(&[Role::Reader]);
        assert!(a.allows(Permission::UseKey, &ring));
        assert!(a.allows(Permission::ReadMetadata, &ring));
        assert!(!a.allows(Permission::ReadPayload, &ring));
        assert!(!a.allows(Permission::CreateKey, &ring));
        assert!(!a.allows(Permission::DeleteKey, &ring));
    }

    #[test]
    fn only_key_purge_purges_and_only_manager_deletes() {
        let ring = KeyRingId::default_ring();
        assert!(!access(&[Role::Manager]).allows(Permission::PurgeKey, &ring));
        assert!(access(&[Role::KeyPurge]).allows(Permission::PurgeKey, &ring));
        assert!(!access(&[Role::Writer]).allows(Permission::DeleteKey, &ring));
        assert!(access(&[Role::Manager]).allows(Permission::DeleteKey, &ring));
    }
}
