//! sqlx adapters for every persistence port of Keyward, on SQLite (embedded default, WAL) and
//! PostgreSQL (several nodes), with one set of migrations per engine.

mod audit_pending;
mod audit_store;
mod bulk_floor;
mod config_store;
mod database_preparer;
mod db;
mod iam_store;
mod import_tokens;
mod instance_policies;
mod key_events;
mod key_policies;
mod key_store;
mod outbound;
mod reencryption_summary;
mod rotation_schedule;
mod rows;
mod sealed_blobs;
mod secret_store;
mod timestamp;
mod unavailable;

pub use audit_pending::{Provisional, with_provisional};
pub use audit_store::{AuditAppender, AuditCheckpoint, AuditRow, NewAuditEvent};
pub use database_preparer::{INHERITED_PG_SETTINGS, PgPreparer};
pub use db::{Engine, Store, StoreError};
pub use key_events::{KeyEventCallback, KeyEventHub};
pub use outbound::{NetworkPolicy, never_reachable};
pub use reencryption_summary::ReencryptionSummary;
pub use sealed_blobs::{SealedBlob, SealedPlace};
pub use unavailable::is_unavailable;
