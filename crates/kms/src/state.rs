//! Key states and the state × action table of Key Protect.

use crate::error::KmsError;

/// Key Protect's key states (the integer is the wire value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// 0: not produced in practice.
    PreActivation,
    /// 1: usable.
    Active,
    /// 2: disabled by the customer; only enable and delete.
    Suspended,
    /// 3: past its expiration date; unwrap, rewrap, rotate, delete only.
    Deactivated,
    /// 5: deleted; restorable for 30 days, purgeable after 4 hours.
    Destroyed,
}

impl KeyState {
    /// The wire integer.
    pub const fn code(self) -> i64 {
        match self {
            Self::PreActivation => 0,
            Self::Active => 1,
            Self::Suspended => 2,
            Self::Deactivated => 3,
            Self::Destroyed => 5,
        }
    }

    /// From the wire integer.
    pub const fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(Self::PreActivation),
            1 => Some(Self::Active),
            2 => Some(Self::Suspended),
            3 => Some(Self::Deactivated),
            5 => Some(Self::Destroyed),
            _ => None,
        }
    }
}

/// What a caller wants to do with a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read the key or its metadata.
    Get,
    /// New version.
    Rotate,
    /// Wrap (or generate) a DEK.
    Wrap,
    /// Unwrap a DEK.
    Unwrap,
    /// Rewrap a DEK under the latest version.
    Rewrap,
    /// Active → Suspended.
    Disable,
    /// Suspended → Active.
    Enable,
    /// → Destroyed.
    Delete,
    /// Destroyed → Active.
    Restore,
    /// Destroyed → gone.
    Purge,
    /// Move to another ring, add or remove aliases, read versions.
    Manage,
}

/// Whether `action` is allowed in `state` (the table of reference §3).
pub const fn permits(state: KeyState, action: Action) -> bool {
    use Action as A;
    use KeyState as S;
    matches!(
        (state, action),
        (_, A::Get)
            | (
                S::Active,
                A::Rotate | A::Wrap | A::Unwrap | A::Rewrap | A::Disable | A::Delete | A::Manage
            )
            | (S::Suspended, A::Enable | A::Delete | A::Manage)
            | (
                S::Deactivated,
                A::Rotate | A::Unwrap | A::Rewrap | A::Delete | A::Manage
            )
            | (S::Destroyed, A::Restore | A::Purge)
    )
}

/// `Ok` when allowed; otherwise the refusal Key Protect gives: 410 for a destroyed key,
/// 409 for any other state.
pub fn check(state: KeyState, action: Action) -> Result<(), KmsError> {
    if permits(state, action) {
        Ok(())
    } else if state == KeyState::Destroyed {
        Err(KmsError::KeyDeleted)
    } else {
        Err(KmsError::InvalidState { action, state })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [KeyState; 4] = [
        KeyState::Active,
        KeyState::Suspended,
        KeyState::Deactivated,
        KeyState::Destroyed,
    ];

    /// The documented table, row by row: (action, active, suspended, deactivated, destroyed).
    const TABLE: [(Action, [bool; 4]); 10] = [
        (Action::Get, [true, true, true, true]),
        (Action::Rotate, [true, false, true, false]),
        (Action::Wrap, [true, false, false, false]),
        (Action::Unwrap, [true, false, true, false]),
        (Action::Rewrap, [true, false, true, false]),
        (Action::Disable, [true, false, false, false]),
        (Action::Enable, [false, true, false, false]),
        (Action::Delete, [true, true, true, false]),
        (Action::Restore, [false, false, false, true]),
        (Action::Purge, [false, false, false, true]),
    ];

    #[test]
    fn every_action_in_every_state_matches_the_reference_table() {
        for (action, row) in TABLE {
            for (state, expected) in STATES.into_iter().zip(row) {
                assert_eq!(permits(state, action), expected, "{action:?} in {state:?}");
            }
        }
    }

    #[test]
    fn refusals_are_410_for_destroyed_and_409_otherwise() {
        assert!(matches!(
            check(KeyState::Destroyed, Action::Unwrap),
            Err(KmsError::KeyDeleted)
        ));
        assert!(matches!(
            check(KeyState::Suspended, Action::Wrap),
            Err(KmsError::InvalidState { .. })
        ));
    }

    #[test]
    fn state_codes_round_trip() {
        for s in STATES {
            assert_eq!(KeyState::from_code(s.code()), Some(s));
        }
        assert_eq!(KeyState::from_code(4), None);
    }
}
