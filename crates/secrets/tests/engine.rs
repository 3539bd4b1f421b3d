//! The secrets engine without a server: a store and KMSs in memory. A tenant's secrets move to
//! a customer key and back, every field decrypting all along; a switch whose new key is
//! disabled pauses with its reason and finishes once the key is enabled, or, turned back to
//! the global key, returns there once the key reads again; a rotated key's DEK is
//! rewrapped on first use; a poll of a remote KMS that says the key is disabled drops the
//! tenant's cached DEKs at once, and an unreachable one drops nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::customer;
use common::fake_kms::FakeKms;
use common::memory_store::MemoryStore;
use keyward_crypto::SecretBytes;
use keyward_secrets::{
    ProviderError, RootKey, Routing, SecretId, SecretStore, Secrets, SecretsConfig, SecretsError,
    TenantId,
};
use uuid::Uuid;

type Engine = Secrets<MemoryStore, Routing<FakeKms, FakeKms>>;

/// An engine whose local KMS holds the global key and `local_keys`, and whose remote KMS (region
/// `far`) holds `remote_keys`.
fn engine(local_keys: &[&RootKey], remote_keys: &[&RootKey]) -> Arc<Engine> {
    let local = FakeKms::local("local");
    local.add(&RootKey::Global);
    for k in local_keys {
        local.add(k);
    }
    let remote = FakeKms::remote("remote", "far");
    for k in remote_keys {
        remote.add(k);
    }
    Arc::new(Secrets::new(
        MemoryStore::default(),
        Routing::new(local, Some(remote)),
        SecretsConfig {
            batch_size: 3,
            pause_retry: Duration::from_millis(20),
            ..SecretsConfig::default()
        },
    ))
}

fn local(e: &Engine) -> &FakeKms {
    e.provider().providers().0
}

fn remote(e: &Engine) -> &FakeKms {
    e.provider().providers().1.unwrap()
}

/// `n` secrets of two fields each, under the tenant's current key.
async fn fill(e: &Engine, tenant: TenantId, n: usize) -> Vec<SecretId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = SecretId(Uuid::new_v4());
        let user = SecretBytes::new(format!("user-{i}").into_bytes());
        let pw = SecretBytes::new(format!("pw-{i}").into_bytes());
        e.put(tenant, id, &[("username", &user), ("password", &pw)])
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

async fn all_decrypt(e: &Engine, tenant: TenantId, ids: &[SecretId]) {
    for (i, id) in ids.iter().enumerate() {
        let pw = e.get(tenant, *id, "password").await.unwrap();
        assert_eq!(pw.expose_secret(), format!("pw-{i}").as_bytes());
    }
}

/// Waits until the tenant is under `target` with no switch running.
async fn switched(e: &Engine, tenant: TenantId, target: &RootKey) {
    for _ in 0..500 {
        let p = e.protection(tenant).await.unwrap();
        if p.switching_to.is_none() && &p.current == target {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the switch did not finish: {:?}",
        e.protection(tenant).await
    );
}

#[tokio::test]
async fn secrets_move_to_a_customer_key_and_back() {
    let key = customer("near");
    let e = engine(&[&key], &[]);
    let tenant = TenantId(Uuid::new_v4());
    let ids = fill(&e, tenant, 10).await;
    assert_eq!(e.protection(tenant).await.unwrap().current, RootKey::Global);

    e.switch_root_key(tenant, key.clone()).await.unwrap();
    switched(&e, tenant, &key).await;
    all_decrypt(&e, tenant, &ids).await;
    // One generation left, every field under it, the tenant registered on the key.
    let gens = e.store().generations(tenant).await.unwrap();
    assert_eq!(gens.len(), 1);
    assert_eq!(
        e.store().count_fields(tenant, gens[0].id).await.unwrap(),
        (20, 20)
    );
    assert!(local(&e).calls().contains(&"register"));

    e.switch_root_key(tenant, RootKey::Global).await.unwrap();
    switched(&e, tenant, &RootKey::Global).await;
    all_decrypt(&e, tenant, &ids).await;
    assert!(local(&e).calls().contains(&"deregister"));
}

#[tokio::test]
async fn a_switch_to_a_disabled_key_pauses_and_resumes_when_it_is_enabled() {
    let key = customer("near");
    let e = engine(&[&key], &[]);
    let tenant = TenantId(Uuid::new_v4());
    let ids = fill(&e, tenant, 10).await;
    // Refused before anything changes while the key is disabled.
    local(&e).disable(&key);
    let refused = e.switch_root_key(tenant, key.clone()).await.unwrap_err();
    assert!(
        matches!(refused, SecretsError::Provider(ProviderError::KeyDisabled)),
        "{refused}"
    );
    assert!(e.protection(tenant).await.unwrap().switching_to.is_none());

    // Disabled after the switch began (its job has not run yet: nothing here has waited): the
    // job pauses and says why.
    local(&e).enable(&key);
    e.switch_root_key(tenant, key.clone()).await.unwrap();
    local(&e).disable(&key);
    e.cache().forget_root(&key);
    let mut paused = e.protection(tenant).await.unwrap();
    for _ in 0..500 {
        if paused.paused.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        paused = e.protection(tenant).await.unwrap();
    }
    assert!(paused.switching_to.is_some(), "{paused:?}");
    assert!(
        paused
            .paused
            .as_deref()
            .is_some_and(|r| r.contains("disabled")),
        "{paused:?}"
    );
    // The old key still serves reads meanwhile.
    all_decrypt(&e, tenant, &ids).await;

    // Enabled: the paused job tries again by itself and finishes.
    local(&e).enable(&key);
    switched(&e, tenant, &key).await;
    all_decrypt(&e, tenant, &ids).await;
}

/// Waits until the tenant's switch is paused, and returns why.
async fn paused(e: &Engine, tenant: TenantId) -> String {
    for _ in 0..500 {
        if let Some(reason) = e.protection(tenant).await.unwrap().paused {
            return reason;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the switch did not pause: {:?}", e.protection(tenant).await);
}

#[tokio::test]
async fn a_paused_switch_turned_back_returns_once_the_abandoned_key_reads_again() {
    let key = customer("near");
    let e = engine(&[&key], &[]);
    let tenant = TenantId(Uuid::new_v4());
    let ids = fill(&e, tenant, 10).await;
    e.switch_root_key(tenant, key.clone()).await.unwrap();
    // Written during the switch (its job has not run yet): under the new key.
    let late = SecretId(Uuid::new_v4());
    let late_value = SecretBytes::new(b"written during the switch".to_vec());
    e.put(tenant, late, &[("password", &late_value)])
        .await
        .unwrap();
    local(&e).disable(&key);
    e.cache().forget_root(&key);
    assert!(paused(&e, tenant).await.contains("disabled"));

    // The customer takes the key away: back to the global key. A switch to a third key is
    // still refused while this one runs.
    let other = customer("near");
    local(&e).add(&other);
    assert!(matches!(
        e.switch_root_key(tenant, other).await,
        Err(SecretsError::ReencryptionInProgress)
    ));
    let turned = e.switch_root_key(tenant, RootKey::Global).await.unwrap();
    assert_eq!(
        turned.current, key,
        "a field is still under the abandoned key"
    );
    let (target, progress) = turned.switching_to.unwrap();
    assert_eq!(target, RootKey::Global);
    assert_eq!((progress.done, progress.total), (0, 1));
    // New writes go under the global key at once; the old secrets read all along; the field
    // under the disabled key waits for it, and the switch says so.
    let fresh = SecretId(Uuid::new_v4());
    e.put(tenant, fresh, &[("password", &late_value)])
        .await
        .unwrap();
    assert_eq!(
        e.get(tenant, fresh, "password")
            .await
            .unwrap()
            .expose_secret(),
        late_value.expose_secret()
    );
    all_decrypt(&e, tenant, &ids).await;
    assert!(e.get(tenant, late, "password").await.is_err());
    assert!(paused(&e, tenant).await.contains("disabled"));

    // The key is enabled again: the field comes back and the global key is the only one.
    local(&e).enable(&key);
    switched(&e, tenant, &RootKey::Global).await;
    assert_eq!(
        e.get(tenant, late, "password")
            .await
            .unwrap()
            .expose_secret(),
        late_value.expose_secret()
    );
    all_decrypt(&e, tenant, &ids).await;
    let gens = e.store().generations(tenant).await.unwrap();
    assert_eq!(gens.len(), 1);
    assert_eq!(gens[0].root, RootKey::Global);
    assert!(local(&e).calls().contains(&"deregister"));
}

#[tokio::test]
async fn a_rotated_key_rewraps_the_stored_dek() {
    let key = customer("near");
    let e = engine(&[&key], &[]);
    let tenant = TenantId(Uuid::new_v4());
    let ids = fill(&e, tenant, 2).await;
    e.switch_root_key(tenant, key.clone()).await.unwrap();
    switched(&e, tenant, &key).await;
    let before = e.store().generations(tenant).await.unwrap()[0]
        .wrapped_dek
        .clone();

    local(&e).rotate(&key);
    e.cache().forget_root(&key);
    all_decrypt(&e, tenant, &ids).await;
    let after = e.store().generations(tenant).await.unwrap()[0]
        .wrapped_dek
        .clone();
    assert_ne!(
        before, after,
        "the DEK is stored wrapped by the newest version"
    );
    e.cache().forget_root(&key);
    all_decrypt(&e, tenant, &ids).await;
}

#[tokio::test]
async fn a_poll_drops_the_deks_of_a_disabled_remote_key_and_an_outage_drops_nothing() {
    let key = customer("far");
    let e = engine(&[], &[&key]);
    let tenant = TenantId(Uuid::new_v4());
    let ids = fill(&e, tenant, 2).await;
    e.switch_root_key(tenant, key.clone()).await.unwrap();
    switched(&e, tenant, &key).await;
    all_decrypt(&e, tenant, &ids).await;
    assert!(!e.cache().is_empty());
    assert_eq!(e.poll_keys().await.unwrap(), 0, "usable");

    // An unreachable KMS revokes nothing: the cached DEK keeps serving reads.
    remote(&e).set_down(true);
    assert_eq!(e.poll_keys().await.unwrap(), 0);
    assert!(!e.cache().is_empty());
    all_decrypt(&e, tenant, &ids).await;
    remote(&e).set_down(false);

    // A KMS that says the key is disabled: the tenant's DEKs go at once.
    remote(&e).disable(&key);
    assert_eq!(e.poll_keys().await.unwrap(), 1);
    assert!(e.cache().is_empty());
    let refused = e.get(tenant, ids[0], "password").await.unwrap_err();
    assert!(
        matches!(refused, SecretsError::Provider(ProviderError::KeyDisabled)),
        "{refused}"
    );
    remote(&e).enable(&key);
    all_decrypt(&e, tenant, &ids).await;
}
