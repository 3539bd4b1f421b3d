//! The configuration service domain, shaped like the AI-monitoring service of the source
//! document: a data mart, service providers and integrated systems per instance, whose
//! credentials are instance secrets (`keyward-secrets`), and the `user_root_key_crn`
//! preference that switches the instance between the global key and the customer's key.

mod credential_patch;
mod credentials;
mod error;
mod model;
mod patch;
mod ports;
mod service;

pub use credentials::{Credentials, put_secret_ref, take_credentials};
pub use error::ConfigError;
pub use model::{ConfigResource, ResourceKind, State};
pub use patch::{PatchOp, apply};
pub use ports::{ConfigStore, DatabasePreparer, DatabaseTarget};
pub use service::{ConfigService, SecretsReport};
