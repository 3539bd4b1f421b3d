//! Wire types (serde DTOs) of Keyward's HTTP APIs and their error bodies. No logic.

pub mod iam;
pub mod keyprotect;
