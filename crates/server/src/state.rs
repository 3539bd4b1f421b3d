//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use keyward_configsvc::ConfigService;
use keyward_kms::{CrnScheme, OffsetClock};
use keyward_secrets::Secrets;
use keyward_store::{PgPreparer, Store};

use crate::iam_service::IamService;
use crate::key_provider::ConfigsvcKeyProvider;
use crate::rate_limit::RateLimiter;

pub use crate::services::KmsService;

/// The secrets service of the configuration service, as composed here.
pub type SecretsService = Secrets<Store, ConfigsvcKeyProvider>;

/// The configuration service, as composed here.
pub type ConfigSvc = ConfigService<Store, Store, ConfigsvcKeyProvider, PgPreparer>;

/// Shared application state.
pub struct AppState {
    /// The KMS.
    pub kms: Arc<KmsService>,
    /// Tenant secrets of the configuration service.
    pub secrets: Arc<SecretsService>,
    /// The configuration service.
    pub config: ConfigSvc,
    /// IAM.
    pub iam: IamService,
    /// The store (health checks).
    pub store: Store,
    /// CRN parameters.
    pub crn: CrnScheme,
    /// Present only with `--unsafe-test-clock`: lets an admin move time forward.
    pub test_clock: Option<Arc<OffsetClock>>,
    /// Token requests per client address.
    pub token_limiter: RateLimiter,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// The audit trail's writer.
    pub audit: crate::audit::AuditLog,
    /// Builds a running request's provisional audit event, which its first change commits with.
    pub provisional: keyward_store::Provisional,
    /// This node's name (leases of jobs and of the rotation scheduler).
    pub node: String,
    /// The private endpoint's port, once it listens (`serve --private-listen`).
    pub private_port: std::sync::OnceLock<u16>,
    /// Request counts and latencies for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// The configuration service's calls to its key providers, for `/metrics`.
    pub key_provider_stats: Arc<keyward_secrets::ProviderStats>,
}

/// The state as handlers receive it.
pub type SharedState = Arc<AppState>;
