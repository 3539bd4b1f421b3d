//! The routing key provider, over two in-memory KMSs: each call goes to the remote one when it
//! serves the key's CRN, to the local one otherwise (the global key included); only remote keys
//! are polled; without a remote KMS every key is local.

#![allow(clippy::unwrap_used)]

mod common;

use common::customer;
use common::fake_kms::FakeKms;
use keyward_secrets::{KeyProvider, ProviderError, RootKey, Routing, TenantId, WrappedDek};
use uuid::Uuid;

const ALL: [&str; 5] = ["generate", "unwrap", "check", "register", "deregister"];

async fn every_call(p: &impl KeyProvider, root: &RootKey, tenant: TenantId) {
    let made = p.generate_dek(root, tenant).await.unwrap();
    let wrapped = WrappedDek {
        ciphertext: &made.wrapped,
        tenant_bound: true,
    };
    let opened = p.unwrap_dek(root, tenant, wrapped).await.unwrap();
    assert_eq!(opened.dek.expose_secret(), made.dek.expose_secret());
    p.check_key(root, tenant).await.unwrap();
    p.register(root, tenant).await.unwrap();
    p.deregister(root, tenant).await.unwrap();
}

#[tokio::test]
async fn each_key_goes_to_the_provider_that_serves_it() {
    let tenant = TenantId(Uuid::new_v4());
    let (far, near) = (customer("far"), customer("near"));
    let local = FakeKms::local("local");
    let remote = FakeKms::remote("remote", "far");
    local.add(&near);
    local.add(&RootKey::Global);
    remote.add(&far);
    let routed = Routing::new(local, Some(remote));

    every_call(&routed, &far, tenant).await;
    let (local, remote) = routed.providers();
    assert_eq!(remote.unwrap().calls(), ALL, "a key the remote KMS serves");
    assert!(local.calls().is_empty());

    every_call(&routed, &near, tenant).await;
    every_call(&routed, &RootKey::Global, tenant).await;
    let (local, remote) = routed.providers();
    assert_eq!(
        local.calls(),
        [ALL, ALL].concat(),
        "other keys and the global key"
    );
    assert_eq!(remote.unwrap().calls().len(), ALL.len());

    // Only what the remote KMS serves is polled (it sends no key events).
    assert!(routed.polled(&far));
    assert!(!routed.polled(&near) && !routed.polled(&RootKey::Global));

    // A key of the remote KMS's region that it does not hold is refused there, not elsewhere.
    let e = routed
        .check_key(&customer("far"), tenant)
        .await
        .unwrap_err();
    assert_eq!(e, ProviderError::KeyNotFound);
    assert_eq!(routed.providers().0.calls().len(), 2 * ALL.len());
}

#[tokio::test]
async fn without_a_remote_kms_every_key_is_local() {
    let tenant = TenantId(Uuid::new_v4());
    let far = customer("far");
    let local = FakeKms::local("local");
    local.add(&far);
    let alone: Routing<FakeKms, FakeKms> = Routing::new(local, None);
    every_call(&alone, &far, tenant).await;
    assert_eq!(alone.providers().0.calls(), ALL);
    assert!(!alone.polled(&far));
}
