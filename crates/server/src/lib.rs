//! The composition root of Keyward: configuration → services, the axum routes and extractors,
//! DTO ↔ domain conversion, and the one error → HTTP mapping.

pub mod app;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod body;
pub mod bootstrap;
pub mod dev_cert;
pub mod error;
pub mod iam_admin;
pub mod iam_service;
pub mod key_provider;
pub mod listener;
pub mod master_key_migration;
pub mod metrics;
pub mod openapi;
pub mod openscale_error;
pub mod rate_limit;
pub mod rotation_scheduler;
pub mod routes;
pub mod services;
pub mod signing_keys;
pub mod state;
pub mod tls;
pub mod wire;

pub use app::{App, EdgeSettings, KmsEndpoint, ServeSettings, build, serve};
pub use bootstrap::{BootstrapError, BootstrapInfo};
