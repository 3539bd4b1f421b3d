//! The key aggregate and its time-bound lifecycle rules.

use time::{Duration, OffsetDateTime};

use crate::error::KmsError;
use crate::ids::{Alias, InstanceId, KeyId, KeyRingId, KeyVersionId};
use crate::policy::{DeletionAuthorization, KeyPolicies};
use crate::state::{Action, KeyState, check};

/// Wait after disable before enable, and after delete before restore.
pub const RECENT_UPDATE_WAIT: Duration = Duration::seconds(30);
/// Minimum time between manual rotations.
pub const ROTATION_INTERVAL: Duration = Duration::hours(1);
/// How long a deleted key stays restorable.
pub const RESTORE_WINDOW: Duration = Duration::days(30);
/// How long after deletion a user may purge.
pub const PURGE_WAIT: Duration = Duration::hours(4);
/// After this a deleted key is purged automatically (it reads as not found).
pub const AUTO_PURGE_AFTER: Duration = Duration::days(90);
/// Most aliases a key may have.
pub const MAX_ALIASES_PER_KEY: usize = 5;
/// Most aliases an instance may have.
pub const MAX_ALIASES_PER_INSTANCE: u32 = 1000;

/// The current version of a key, as shown in its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionInfo {
    /// The version id carried by ciphertexts.
    pub id: KeyVersionId,
    /// When it was made.
    pub created_at: OffsetDateTime,
}

/// A root key (`extractable == false`) or standard key, without its material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// Key id.
    pub id: KeyId,
    /// The KMS instance that owns it.
    pub instance: InstanceId,
    /// Display name.
    pub name: String,
    /// Optional description (≤ 240 characters).
    pub description: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Standard keys are extractable; root keys never leave the KMS.
    pub extractable: bool,
    /// Material supplied by the customer.
    pub imported: bool,
    /// Stored state: Active, Suspended or Destroyed (Deactivated is derived from the expiry).
    pub state: KeyState,
    /// Bit length of the material (128, 192 or 256 for root keys).
    pub bit_length: u32,
    /// After this the key is Deactivated.
    pub expiration: Option<OffsetDateTime>,
    /// Its key ring.
    pub key_ring: KeyRingId,
    /// Its aliases.
    pub aliases: Vec<Alias>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Creator (an IAM id).
    pub created_by: String,
    /// Last change of any kind.
    pub updated_at: OffsetDateTime,
    /// Last rotation, if any.
    pub last_rotated_at: Option<OffsetDateTime>,
    /// Last state change (the 30-second rule reads it).
    pub state_changed_at: OffsetDateTime,
    /// Deletion time, while destroyed.
    pub deleted_at: Option<OffsetDateTime>,
    /// Who deleted it, while destroyed.
    pub deleted_by: Option<String>,
    /// The newest version.
    pub current_version: VersionInfo,
    /// Its rotation and dual-authorization policies.
    pub policies: KeyPolicies,
    /// The last authorization to delete it (dual authorization), valid for 7 days.
    pub deletion_authorization: Option<DeletionAuthorization>,
    /// Optimistic-concurrency counter, bumped by every save.
    pub revision: i64,
}

impl Key {
    /// The state after applying the clock: an Active key past its expiry is Deactivated.
    pub fn effective_state(&self, now: OffsetDateTime) -> KeyState {
        match (self.state, self.expiration) {
            (KeyState::Active, Some(exp)) if exp <= now => KeyState::Deactivated,
            (state, _) => state,
        }
    }

    /// Whether the 90-day automatic purge has removed it (it then reads as not found).
    pub fn is_auto_purged(&self, now: OffsetDateTime) -> bool {
        self.state == KeyState::Destroyed
            && self.deleted_at.is_some_and(|d| now - d > AUTO_PURGE_AFTER)
    }

    /// Whether it has expired.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expiration.is_some_and(|e| e <= now)
    }

    /// Refuses `action` unless the effective state allows it.
    pub fn check(&self, action: Action, now: OffsetDateTime) -> Result<(), KmsError> {
        check(self.effective_state(now), action)
    }

    /// Refuses crypto and lifecycle actions that need a root key.
    pub fn require_root(&self) -> Result<(), KmsError> {
        if self.extractable {
            Err(KmsError::RootKeyRequired)
        } else {
            Ok(())
        }
    }

    pub(crate) fn touch(&mut self, now: OffsetDateTime) {
        self.updated_at = now;
        self.revision += 1;
    }

    fn set_state(&mut self, state: KeyState, now: OffsetDateTime) {
        self.state = state;
        self.state_changed_at = now;
        self.touch(now);
    }

    /// Active → Suspended.
    pub fn disable(&mut self, now: OffsetDateTime) -> Result<(), KmsError> {
        self.require_root()?;
        self.check(Action::Disable, now)?;
        self.set_state(KeyState::Suspended, now);
        Ok(())
    }

    /// Suspended → Active, at least 30 seconds after the last state change.
    pub fn enable(&mut self, now: OffsetDateTime) -> Result<(), KmsError> {
        self.require_root()?;
        self.check(Action::Enable, now)?;
        if now - self.state_changed_at < RECENT_UPDATE_WAIT {
            return Err(KmsError::UpdatedRecently);
        }
        if self.is_expired(now) {
            return Err(KmsError::KeyExpired);
        }
        self.set_state(KeyState::Active, now);
        Ok(())
    }

    /// → Destroyed, by `by`; under dual authorization only after another user's authorization.
    pub fn delete(&mut self, now: OffsetDateTime, by: &str) -> Result<(), KmsError> {
        self.check(Action::Delete, now)?;
        self.check_deletion_authorized(by, now)?;
        self.set_state(KeyState::Destroyed, now);
        self.deleted_at = Some(now);
        self.deleted_by = Some(by.to_owned());
        self.deletion_authorization = None;
        Ok(())
    }

    /// Destroyed → Active, from 30 seconds to 30 days after deletion, unless expired.
    pub fn restore(&mut self, now: OffsetDateTime) -> Result<(), KmsError> {
        self.check(Action::Restore, now)?;
        let deleted_at = self.deleted_at.unwrap_or(self.state_changed_at);
        if now - deleted_at < RECENT_UPDATE_WAIT {
            return Err(KmsError::UpdatedRecently);
        }
        if now - deleted_at > RESTORE_WINDOW {
            return Err(KmsError::RestoreExpired);
        }
        if self.is_expired(now) {
            return Err(KmsError::KeyExpired);
        }
        self.set_state(KeyState::Active, now);
        self.deleted_at = None;
        self.deleted_by = None;
        Ok(())
    }

    /// Refuses a purge before 4 hours after deletion.
    pub fn check_purge(&self, now: OffsetDateTime) -> Result<(), KmsError> {
        self.check(Action::Purge, now)?;
        let deleted_at = self.deleted_at.unwrap_or(self.state_changed_at);
        if now - deleted_at < PURGE_WAIT {
            return Err(KmsError::PurgeTooEarly);
        }
        Ok(())
    }

    /// Checks the rotation rules; `manual` rotations are limited to one per hour, while an
    /// automatic rotation (encryption budget spent) is not.
    pub fn check_rotate(&self, now: OffsetDateTime, manual: bool) -> Result<(), KmsError> {
        self.require_root()?;
        self.check(Action::Rotate, now)?;
        if manual
            && self
                .last_rotated_at
                .is_some_and(|t| now - t < ROTATION_INTERVAL)
        {
            return Err(KmsError::RotationNotPermitted);
        }
        Ok(())
    }

    /// Records a new current version.
    pub fn rotated(&mut self, version: VersionInfo, now: OffsetDateTime) {
        self.current_version = version;
        self.last_rotated_at = Some(now);
        self.touch(now);
    }

    /// Moves the key to another ring.
    pub fn move_to(&mut self, ring: KeyRingId, now: OffsetDateTime) -> Result<(), KmsError> {
        self.check(Action::Manage, now)?;
        self.key_ring = ring;
        self.touch(now);
        Ok(())
    }

    /// When a restore stops being possible.
    pub fn restore_expiration(&self) -> Option<OffsetDateTime> {
        self.deleted_at.map(|d| d + RESTORE_WINDOW)
    }

    /// When a purge becomes possible.
    pub fn purge_allowed_from(&self) -> Option<OffsetDateTime> {
        self.deleted_at.map(|d| d + PURGE_WAIT)
    }

    /// When the automatic purge happens.
    pub fn purge_scheduled_on(&self) -> Option<OffsetDateTime> {
        self.deleted_at.map(|d| d + AUTO_PURGE_AFTER)
    }
}

/// A plain active root key, for tests.
#[cfg(test)]
pub(crate) fn sample_key() -> Key {
    Key {
        id: KeyId::new_random(),
        instance: InstanceId::new_random(),
        name: "k".into(),
        description: None,
        tags: vec![],
        extractable: false,
        imported: false,
        state: KeyState::Active,
        bit_length: 256,
        expiration: None,
        key_ring: KeyRingId::default_ring(),
        aliases: vec![],
        created_at: test_t0(),
        created_by: "u".into(),
        updated_at: test_t0(),
        last_rotated_at: None,
        state_changed_at: test_t0(),
        deleted_at: None,
        deleted_by: None,
        current_version: VersionInfo {
            id: KeyVersionId::new_random(),
            created_at: test_t0(),
        },
        policies: KeyPolicies::default(),
        deletion_authorization: None,
        revision: 0,
    }
}

#[cfg(test)]
fn test_t0() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    fn key() -> Key {
        sample_key()
    }

    #[test]
    fn enable_waits_thirty_seconds_after_disable() {
        let mut k = key();
        assert!(k.disable(t0()).is_ok());
        assert_eq!(k.revision, 1);
        assert!(matches!(
            k.enable(t0() + Duration::seconds(29)),
            Err(KmsError::UpdatedRecently)
        ));
        assert!(k.enable(t0() + Duration::seconds(30)).is_ok());
        assert_eq!(k.state, KeyState::Active);
    }

    #[test]
    fn restore_window_is_thirty_seconds_to_thirty_days() {
        let mut k = key();
        assert!(k.delete(t0(), "u").is_ok());
        assert!(matches!(
            k.restore(t0() + Duration::seconds(10)),
            Err(KmsError::UpdatedRecently)
        ));
        let mut late = k.clone();
        assert!(matches!(
            late.restore(t0() + Duration::days(31)),
            Err(KmsError::RestoreExpired)
        ));
        assert!(k.restore(t0() + Duration::days(29)).is_ok());
        assert_eq!(k.state, KeyState::Active);
        assert!(k.deleted_at.is_none());
    }

    #[test]
    fn purge_waits_four_hours_and_auto_purge_comes_at_ninety_days() {
        let mut k = key();
        assert!(matches!(
            k.check_purge(t0()),
            Err(KmsError::InvalidState { .. })
        ));
        assert!(k.delete(t0(), "u").is_ok());
        assert!(matches!(
            k.check_purge(t0() + Duration::hours(3)),
            Err(KmsError::PurgeTooEarly)
        ));
        assert!(k.check_purge(t0() + Duration::hours(4)).is_ok());
        assert!(!k.is_auto_purged(t0() + Duration::days(90)));
        assert!(k.is_auto_purged(t0() + Duration::days(91)));
    }

    #[test]
    fn manual_rotation_once_an_hour_automatic_any_time() {
        let mut k = key();
        assert!(k.check_rotate(t0(), true).is_ok());
        let v = VersionInfo {
            id: KeyVersionId::new_random(),
            created_at: t0(),
        };
        k.rotated(v, t0());
        assert!(matches!(
            k.check_rotate(t0() + Duration::minutes(59), true),
            Err(KmsError::RotationNotPermitted)
        ));
        assert!(k.check_rotate(t0() + Duration::minutes(59), false).is_ok());
        assert!(k.check_rotate(t0() + Duration::hours(1), true).is_ok());
    }

    #[test]
    fn expiry_deactivates_and_blocks_wrap_but_not_unwrap() {
        let mut k = key();
        k.expiration = Some(t0() + Duration::days(1));
        let later = t0() + Duration::days(2);
        assert_eq!(k.effective_state(t0()), KeyState::Active);
        assert_eq!(k.effective_state(later), KeyState::Deactivated);
        assert!(matches!(
            k.check(Action::Wrap, later),
            Err(KmsError::InvalidState { .. })
        ));
        assert!(k.check(Action::Unwrap, later).is_ok());
        assert!(k.check_rotate(later, true).is_ok());
        // Deleting and restoring an expired key does not make it usable again.
        assert!(k.delete(later, "u").is_ok());
        assert!(matches!(
            k.restore(later + Duration::minutes(1)),
            Err(KmsError::KeyExpired)
        ));
    }

    #[test]
    fn standard_keys_cannot_be_disabled_or_rotated() {
        let mut k = key();
        k.extractable = true;
        assert!(matches!(k.disable(t0()), Err(KmsError::RootKeyRequired)));
        assert!(matches!(
            k.check_rotate(t0(), true),
            Err(KmsError::RootKeyRequired)
        ));
    }
}
