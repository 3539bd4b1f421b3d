//! The consumer side of BYOK as a library: tenant secrets sealed under per-tenant DEK
//! generations, a bounded DEK cache, the crash-safe re-encryption engine, and the
//! `KeyProvider` port through which DEKs are made and unwrapped by a root key.

mod cache;
mod crn;
mod envelope;
mod error;
mod keyprotect_provider;
mod measured;
mod model;
mod ports;
mod provider;
mod reencrypt;
mod routing;
mod service;

pub use cache::{DekCache, DekCacheStats};
pub use crn::RootKeyCrn;
pub use envelope::{open_field, seal_field};
pub use error::{ProviderError, SecretsError};
pub use keyprotect_provider::{Endpoint, KeyProtectProvider};
/// When the HTTP provider gives a failing endpoint a rest.
pub use keyward_client::BreakerPolicy;
pub use measured::{Measured, OPERATIONS, OperationStats, ProviderStats};
pub use model::{
    Generation, GenerationId, GenerationStatus, Progress, Protection, RootKey, SealedField,
    SecretId, TenantId, WrappedBy,
};
pub use ports::{FieldAt, JobLease, JobRecord, Reencrypted, SecretStore};
pub use provider::{KeyProvider, NewDek, OpenedDek, WrappedDek, dek_aad};
pub use routing::{Routing, Serves};
pub use service::{Secrets, SecretsConfig};
