//! sqlx adapters for every persistence port of Keyward, on SQLite (embedded default, WAL) and
//! PostgreSQL (several nodes), with one set of migrations per engine.

mod db;
mod iam_store;
mod key_store;
mod rows;
mod secret_store;
mod timestamp;

pub use db::{Engine, Store, StoreError};
