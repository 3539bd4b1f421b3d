//! The KMS domain of Keyward: keys, versions, states and their time rules, envelope operations,
//! aliases and key rings, over ports for storage, the master key and the clock. No I/O here.

mod cache;
pub mod clock;
mod create;
mod envelope;
pub mod error;
pub mod ids;
pub mod import_token;
pub mod instance_policy;
mod instance_policy_cache;
pub mod key;
mod lifecycle;
pub mod master_key;
pub mod policy;
pub mod ports;
mod registrations;
pub mod rotation_scheduler;
mod service;
pub mod state;
mod version_key;

pub use clock::{Clock, OffsetClock, SystemClock};
pub use create::{GENERATED_KEY_BYTES, KeyWithPayload, MAX_STANDARD_PAYLOAD, NewKey};
pub use envelope::{MAX_WRAP_PLAINTEXT, Rewrapped, Unwrapped, Wrapped};
pub use error::{InvalidId, KmsError, StoreFailure};
pub use ids::{Alias, CrnScheme, InstanceId, KeyId, KeyRef, KeyRingId, KeyVersionId};
pub use import_token::{ImportToken, SecureImport, seal_for_import};
pub use instance_policy::{
    AllowedNetwork, InstanceAttributes, InstancePolicies, InstancePolicy, InstancePolicyKind,
    InstanceSetting, KeyCreateImportAccess,
};
pub use key::{Key, VersionInfo};
pub use master_key::SoftwareMasterKey;
pub use policy::{
    DeletionAuthorization, KeyPolicies, PolicyChange, PolicyStamp, RotationSchedule, Stamped,
};
pub use ports::{
    Access, AliasLimits, KeyEvent, KeyEventKind, KeyQuery, KeyRing, KeyStore, MasterKey,
    Registration, RootKeyVault, StoredVersion, VersionCipher,
};
pub use rotation_scheduler::ScheduledRotations;
pub use service::{Kms, KmsConfig};
pub use state::{Action, KeyState};
pub use version_key::{VAULT_TAG, vault_reference};
