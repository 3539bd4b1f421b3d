//! The audit trail: one event per API request that names an action (allowed or refused), and
//! one per use of a key the configuration service makes in process, written before the request
//! is answered, hash-chained, with signed checkpoints. See ADR 0006.

pub mod event;
pub(crate) mod key;
mod log;
pub mod middleware;
pub mod verify;

pub(crate) use event::new_correlation_id;
pub use event::{AuditEvent, PROVISIONAL_REASON, hex, target_crn};
pub use key::{checkpoint_key, load_checkpoint_key};
pub use log::{AuditLog, CheckpointPolicy, now_millis};
pub use verify::{Broken, Verified, verify};
