//! What every handler shares.

use std::sync::Arc;

use keyward_kms::{CrnScheme, Kms, OffsetClock, SoftwareMasterKey};
use keyward_store::Store;

use crate::iam_service::IamService;

/// The KMS service as composed here.
pub type KmsService = Kms<Store, SoftwareMasterKey>;

/// Shared application state.
pub struct AppState {
    /// The KMS.
    pub kms: KmsService,
    /// IAM.
    pub iam: IamService,
    /// The store (health checks).
    pub store: Store,
    /// CRN parameters.
    pub crn: CrnScheme,
    /// Present only with `--unsafe-test-clock`: lets an admin move time forward.
    pub test_clock: Option<Arc<OffsetClock>>,
}

/// The state as handlers receive it.
pub type SharedState = Arc<AppState>;
