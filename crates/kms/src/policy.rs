//! Key policies (a rotation schedule, dual authorization of deletion) and the deletion
//! authorizations that dual authorization asks for, with their rules.

use time::{Duration, OffsetDateTime};

use crate::error::KmsError;
use crate::key::Key;
use crate::state::{Action, KeyState};

/// How long an authorization to delete a dual-authorization key stays valid.
pub const DELETION_AUTHORIZATION_LIFETIME: Duration = Duration::days(7);
/// The shortest and longest rotation interval, in months.
pub const ROTATION_INTERVAL_MONTHS: std::ops::RangeInclusive<u8> = 1..=12;

/// Who set a policy first and who changed it last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyStamp {
    /// When it was first set.
    pub created_at: OffsetDateTime,
    /// Who set it first.
    pub created_by: String,
    /// When it was last set.
    pub updated_at: OffsetDateTime,
    /// Who set it last.
    pub updated_by: String,
}

impl PolicyStamp {
    fn new(by: &str, now: OffsetDateTime) -> Self {
        Self {
            created_at: now,
            created_by: by.to_owned(),
            updated_at: now,
            updated_by: by.to_owned(),
        }
    }

    fn renewed(&self, by: &str, now: OffsetDateTime) -> Self {
        Self {
            updated_at: now,
            updated_by: by.to_owned(),
            ..self.clone()
        }
    }
}

/// A policy's setting with its stamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamped<T> {
    /// The setting.
    pub value: T,
    /// Who set it, when.
    pub stamp: PolicyStamp,
}

/// A root key's rotation schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationSchedule {
    /// Whether the key is rotated on schedule.
    pub enabled: bool,
    /// Months between rotations (1 to 12).
    pub interval_month: u8,
}

/// The policies set on one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPolicies {
    /// The rotation schedule, once set.
    pub rotation: Option<Stamped<RotationSchedule>>,
    /// Dual authorization of deletion, once set (`true` cannot go back to `false`).
    pub dual_auth_delete: Option<Stamped<bool>>,
}

/// The policies a caller sets in one request; `None` leaves a policy as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyChange {
    /// A new rotation schedule.
    pub rotation: Option<RotationSchedule>,
    /// Dual authorization of deletion on or off.
    pub dual_auth_delete: Option<bool>,
}

/// One user's authorization to delete a dual-authorization key; another user deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletionAuthorization {
    /// The authorizing IAM id.
    pub by: String,
    /// When it was given.
    pub at: OffsetDateTime,
}

impl DeletionAuthorization {
    /// When it lapses.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.at + DELETION_AUTHORIZATION_LIFETIME
    }

    /// Whether it still counts at `now`.
    pub fn is_valid(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at()
    }
}

fn invalid(field: &'static str, requirement: &'static str) -> KmsError {
    KmsError::InvalidField { field, requirement }
}

impl Key {
    /// Whether deleting the key takes two users.
    pub fn dual_auth_delete(&self) -> bool {
        self.policies
            .dual_auth_delete
            .as_ref()
            .is_some_and(|p| p.value)
    }

    /// The authorization to delete that still counts at `now`, if any.
    pub fn deletion_authorization_at(&self, now: OffsetDateTime) -> Option<&DeletionAuthorization> {
        self.deletion_authorization
            .as_ref()
            .filter(|a| a.is_valid(now))
    }

    /// Refuses the deletion by `by` of a dual-authorization key unless another user authorized
    /// it less than 7 days ago.
    pub fn check_deletion_authorized(&self, by: &str, now: OffsetDateTime) -> Result<(), KmsError> {
        if !self.dual_auth_delete() {
            return Ok(());
        }
        match self.deletion_authorization_at(now) {
            None => Err(KmsError::AuthorizationsNotMet),
            Some(a) if a.by == by => Err(KmsError::SameAuthorizer),
            Some(_) => Ok(()),
        }
    }

    /// Records `by`'s authorization to delete the key (replacing an earlier one).
    pub fn authorize_deletion(&mut self, by: &str, now: OffsetDateTime) -> Result<(), KmsError> {
        if !self.dual_auth_delete() {
            return Err(KmsError::NotDualAuth);
        }
        self.check(Action::Delete, now)?;
        self.deletion_authorization = Some(DeletionAuthorization {
            by: by.to_owned(),
            at: now,
        });
        self.touch(now);
        Ok(())
    }

    /// Withdraws the authorization to delete, if there is one.
    pub fn cancel_deletion_authorization(&mut self, now: OffsetDateTime) -> Result<(), KmsError> {
        if !self.dual_auth_delete() {
            return Err(KmsError::NotDualAuth);
        }
        self.check(Action::Manage, now)?;
        self.deletion_authorization = None;
        self.touch(now);
        Ok(())
    }

    /// When its rotation policy next rotates it: `interval_month` calendar months after its
    /// last rotation (or its creation); `None` without an enabled policy, or for a standard or
    /// imported key (imported material is rotated with new material, by its owner).
    pub fn rotation_due_at(&self) -> Option<OffsetDateTime> {
        let policy = self.policies.rotation.as_ref()?;
        if !policy.value.enabled || self.extractable || self.imported {
            return None;
        }
        let anchor = self.last_rotated_at.unwrap_or(self.created_at);
        Some(add_months(anchor, policy.value.interval_month))
    }

    /// Whether the scheduler rotates it at `now`: due, and Active (not suspended, expired or
    /// deleted).
    pub fn is_rotation_due(&self, now: OffsetDateTime) -> bool {
        self.effective_state(now) == KeyState::Active
            && self.rotation_due_at().is_some_and(|due| due <= now)
    }

    /// Sets the policies in `change`, as `by`. A rotation schedule needs a generated root key
    /// (an imported key is rotated with new material); dual authorization, once on, stays on.
    pub fn set_policies(
        &mut self,
        change: PolicyChange,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<(), KmsError> {
        self.check(Action::Manage, now)?;
        check_change(
            change,
            self.extractable,
            self.imported,
            self.dual_auth_delete(),
        )?;
        if let Some(value) = change.rotation {
            self.policies.rotation = Some(restamp(self.policies.rotation.as_ref(), value, by, now));
        }
        if let Some(value) = change.dual_auth_delete {
            self.policies.dual_auth_delete = Some(restamp(
                self.policies.dual_auth_delete.as_ref(),
                value,
                by,
                now,
            ));
        }
        self.touch(now);
        Ok(())
    }
}

/// `t` plus `months` calendar months, the day kept or, past the end of the month, the last day.
pub fn add_months(t: OffsetDateTime, months: u8) -> OffsetDateTime {
    let index = i32::from(u8::from(t.month()) - 1) + i32::from(months);
    let year = t.year() + index / 12;
    let month = time::Month::try_from(u8::try_from(index % 12 + 1).unwrap_or(1))
        .unwrap_or(time::Month::January);
    let day = t.day().min(month.length(year));
    match time::Date::from_calendar_date(year, month, day) {
        Ok(date) => t.replace_date(date),
        Err(_) => t,
    }
}

/// Refuses a change of policies that a key of this kind (`extractable`, `imported`, with dual
/// authorization on or not) cannot take.
pub fn check_change(
    change: PolicyChange,
    extractable: bool,
    imported: bool,
    dual_auth_on: bool,
) -> Result<(), KmsError> {
    if let Some(rotation) = change.rotation {
        if extractable {
            return Err(KmsError::RotationPolicyNeedsRootKey);
        }
        if !ROTATION_INTERVAL_MONTHS.contains(&rotation.interval_month) {
            return Err(invalid("interval_month", "an integer from 1 to 12"));
        }
        if imported && rotation.enabled {
            return Err(invalid(
                "rotation",
                "disabled on an imported key, which is rotated with new key material",
            ));
        }
    }
    if change.dual_auth_delete == Some(false) && dual_auth_on {
        return Err(invalid(
            "dualAuthDelete.enabled",
            "true: dual authorization cannot be turned off on a key once on",
        ));
    }
    Ok(())
}

fn restamp<T>(old: Option<&Stamped<T>>, value: T, by: &str, now: OffsetDateTime) -> Stamped<T> {
    let stamp = match old {
        Some(old) => old.stamp.renewed(by, now),
        None => PolicyStamp::new(by, now),
    };
    Stamped { value, stamp }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::sample_key;

    fn dual_auth_key(now: OffsetDateTime) -> Key {
        let mut k = sample_key();
        let on = PolicyChange {
            dual_auth_delete: Some(true),
            ..PolicyChange::default()
        };
        k.set_policies(on, "manager-a", now).expect("policy");
        k
    }

    #[test]
    fn a_dual_authorization_key_is_deleted_by_a_second_user_within_seven_days() {
        let t0 = sample_key().created_at;
        let mut k = dual_auth_key(t0);
        assert!(matches!(
            k.check_deletion_authorized("manager-b", t0),
            Err(KmsError::AuthorizationsNotMet)
        ));
        k.authorize_deletion("manager-a", t0).expect("authorize");
        assert!(matches!(
            k.delete(t0, "manager-a"),
            Err(KmsError::SameAuthorizer)
        ));
        let last_moment = t0 + DELETION_AUTHORIZATION_LIFETIME - Duration::seconds(1);
        assert!(
            k.check_deletion_authorized("manager-b", last_moment)
                .is_ok()
        );
        k.delete(last_moment, "manager-b")
            .expect("second user deletes");
        assert!(k.deletion_authorization.is_none());
    }

    #[test]
    fn an_authorization_lapses_at_seven_days_not_before() {
        let t0 = sample_key().created_at;
        let mut k = dual_auth_key(t0);
        k.authorize_deletion("manager-a", t0).expect("authorize");
        let lapse = t0 + DELETION_AUTHORIZATION_LIFETIME;
        assert!(
            k.deletion_authorization_at(lapse - Duration::seconds(1))
                .is_some()
        );
        assert!(k.deletion_authorization_at(lapse).is_none());
        assert!(matches!(
            k.delete(lapse, "manager-b"),
            Err(KmsError::AuthorizationsNotMet)
        ));
    }

    #[test]
    fn a_withdrawn_authorization_no_longer_counts() {
        let t0 = sample_key().created_at;
        let mut k = dual_auth_key(t0);
        k.authorize_deletion("manager-a", t0).expect("authorize");
        k.cancel_deletion_authorization(t0).expect("cancel");
        assert!(matches!(
            k.check_deletion_authorized("manager-b", t0),
            Err(KmsError::AuthorizationsNotMet)
        ));
    }

    #[test]
    fn keys_without_the_policy_refuse_authorizations_and_delete_with_one_user() {
        let t0 = sample_key().created_at;
        let mut k = sample_key();
        assert!(matches!(
            k.authorize_deletion("a", t0),
            Err(KmsError::NotDualAuth)
        ));
        assert!(matches!(
            k.cancel_deletion_authorization(t0),
            Err(KmsError::NotDualAuth)
        ));
        k.delete(t0, "a").expect("delete");
    }

    #[test]
    fn months_are_calendar_months_clamped_to_the_month_end() {
        use time::macros::datetime;
        assert_eq!(
            add_months(datetime!(2026-01-31 10:00 UTC), 1),
            datetime!(2026-02-28 10:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2028-01-31 10:00 UTC), 1),
            datetime!(2028-02-29 10:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2026-11-30 10:00 UTC), 3),
            datetime!(2027-02-28 10:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2026-05-15 00:00 UTC), 12),
            datetime!(2027-05-15 00:00 UTC)
        );
    }

    #[test]
    fn rotation_is_due_an_interval_after_the_last_rotation_and_only_while_active() {
        let t0 = sample_key().created_at;
        let mut k = sample_key();
        assert_eq!(k.rotation_due_at(), None);
        let every = |enabled, interval_month| PolicyChange {
            rotation: Some(RotationSchedule {
                enabled,
                interval_month,
            }),
            ..PolicyChange::default()
        };
        k.set_policies(every(true, 2), "a", t0).expect("policy");
        let due = add_months(t0, 2);
        assert_eq!(k.rotation_due_at(), Some(due));
        assert!(!k.is_rotation_due(due - Duration::seconds(1)));
        assert!(k.is_rotation_due(due));
        k.rotated(
            crate::key::VersionInfo {
                id: crate::ids::KeyVersionId::new_random(),
                created_at: due,
            },
            due,
        );
        assert_eq!(k.rotation_due_at(), Some(add_months(due, 2)));
        let later = add_months(due, 2);
        k.disable(later).expect("disable");
        assert!(!k.is_rotation_due(later), "a suspended key waits");
        k.set_policies(every(false, 2), "a", later).expect("off");
        assert_eq!(k.rotation_due_at(), None);
    }

    #[test]
    fn dual_authorization_stays_on_and_rotation_needs_a_generated_root_key() {
        let t0 = sample_key().created_at;
        let mut k = dual_auth_key(t0);
        let off = PolicyChange {
            dual_auth_delete: Some(false),
            ..PolicyChange::default()
        };
        assert!(matches!(
            k.set_policies(off, "b", t0),
            Err(KmsError::InvalidField { .. })
        ));
        let rotation = |interval_month| PolicyChange {
            rotation: Some(RotationSchedule {
                enabled: true,
                interval_month,
            }),
            ..PolicyChange::default()
        };
        for bad in [0, 13] {
            assert!(matches!(
                k.set_policies(rotation(bad), "b", t0),
                Err(KmsError::InvalidField {
                    field: "interval_month",
                    ..
                })
            ));
        }
        k.set_policies(rotation(3), "b", t0 + Duration::hours(1))
            .expect("rotation");
        let stored = k.policies.rotation.as_ref().expect("rotation policy");
        assert_eq!(stored.value.interval_month, 3);
        assert_eq!(stored.stamp.created_by, "b");
        k.set_policies(rotation(6), "c", t0 + Duration::hours(2))
            .expect("rotation");
        let stored = k.policies.rotation.as_ref().expect("rotation policy");
        assert_eq!(
            (
                stored.stamp.created_by.as_str(),
                stored.stamp.updated_by.as_str()
            ),
            ("b", "c")
        );

        let mut standard = sample_key();
        standard.extractable = true;
        assert!(matches!(
            standard.set_policies(rotation(3), "b", t0),
            Err(KmsError::RotationPolicyNeedsRootKey)
        ));
        let mut imported = sample_key();
        imported.imported = true;
        assert!(matches!(
            imported.set_policies(rotation(3), "b", t0),
            Err(KmsError::InvalidField {
                field: "rotation",
                ..
            })
        ));
    }
}
