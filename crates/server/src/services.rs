//! The KMS as this server composes it (its store and master key); the other composed services
//! are named in `state.rs`, next to the state that holds them.

use std::sync::Arc;

use keyward_kms::{Kms, MasterKey};
use keyward_store::Store;

/// The KMS service as composed here.
pub type KmsService = Kms<Store, Arc<dyn MasterKey>>;
