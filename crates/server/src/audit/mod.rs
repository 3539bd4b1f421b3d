//! The audit trail: one event per API request that names an action (allowed or refused), written
//! before the request is answered, hash-chained, with signed checkpoints. See ADR 0006.

pub mod event;
mod key;
mod log;
pub mod middleware;
pub mod verify;

pub use event::{AuditEvent, hex};
pub use key::{checkpoint_key, load_checkpoint_key};
pub use log::{AuditLog, CheckpointPolicy, now_millis};
pub use verify::{Broken, Verified, verify};
