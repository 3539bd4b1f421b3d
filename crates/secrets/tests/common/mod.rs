//! The secrets library's test kit: a store and KMSs in memory, so that the engine's rules are
//! tested without a database or a server (the server's tests run the same paths for real).
#![allow(dead_code)] // each test binary uses a part

pub mod fake_kms;
pub mod memory_store;

use keyward_secrets::RootKey;
use uuid::Uuid;

/// A customer key named by a CRN of `region`.
pub fn customer(region: &str) -> RootKey {
    RootKey::Customer(
        format!(
            "crn:v1:keyward:public:kms:{region}:a/acme:{}:key:{}",
            Uuid::new_v4(),
            Uuid::new_v4()
        )
        .parse()
        .expect("a customer key CRN"),
    )
}
