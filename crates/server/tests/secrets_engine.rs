//! The secrets library composed as the configuration service uses it: real KMS, real store
//! (SQLite here), switching a tenant between the global key and a customer key.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::byok::{authorize, customer_key, tenant as new_tenant, wait_switched};
use keyward_crypto::SecretBytes;
use keyward_kms::{InstanceId, KeyRef};
use keyward_secrets::{
    GenerationStatus, ProviderError, RootKey, RootKeyCrn, SecretId, SecretStore, SecretsConfig,
    SecretsError, TenantId,
};
use keyward_server::{App, ServeSettings, build};
use tempfile::TempDir;
use uuid::Uuid;

fn settings(dir: &TempDir, batch_size: u32) -> ServeSettings {
    ServeSettings {
        unsafe_test_clock: true,
        secrets: SecretsConfig {
            batch_size,
            ..SecretsConfig::default()
        },
        ..ServeSettings::new(dir.path())
    }
}

async fn app(dir: &TempDir, batch_size: u32) -> App {
    build(&settings(dir, batch_size)).await.unwrap()
}

fn value(n: usize) -> SecretBytes {
    SecretBytes::new(format!("password-{n}").into_bytes())
}

async fn fill(app: &App, tenant: TenantId, n: usize) -> Vec<SecretId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = SecretId(Uuid::new_v4());
        let v = value(i);
        let user = SecretBytes::new(b"admin".to_vec());
        app.state
            .secrets
            .put(tenant, id, &[("password", &v), ("username", &user)])
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

async fn assert_all_decrypt(app: &App, tenant: TenantId, ids: &[SecretId]) {
    for (i, id) in ids.iter().enumerate() {
        let got = app
            .state
            .secrets
            .get(tenant, *id, "password")
            .await
            .unwrap();
        assert!(
            got.ct_eq(value(i).expose_secret()),
            "secret {i} decrypts to its value"
        );
    }
}

async fn generations(app: &App, tenant: TenantId) -> Vec<(GenerationStatus, RootKey)> {
    let mut g: Vec<_> = app
        .store
        .generations(tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.status, g.root))
        .collect();
    g.sort_by_key(|(s, _)| *s == GenerationStatus::Pending);
    g
}

/// Every field's generation and ciphertext, to prove that a refusal changed nothing.
async fn snapshot(app: &App, tenant: TenantId, ids: &[SecretId]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for id in ids {
        for f in app.store.get_fields(tenant, *id).await.unwrap() {
            out.push((f.generation.to_string(), f.ciphertext));
        }
    }
    out.extend(
        app.store
            .generations(tenant)
            .await
            .unwrap()
            .into_iter()
            .map(|g| (g.id.to_string(), g.wrapped_dek)),
    );
    out
}

#[tokio::test]
async fn case_2_switches_to_the_customer_key_and_back_to_the_global_key() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, 64).await;
    let tenant = new_tenant(&app).await;
    let ids = fill(&app, tenant, 300).await;
    assert_eq!(
        generations(&app, tenant).await,
        vec![(GenerationStatus::Current, RootKey::Global)]
    );

    let (_, crn) = customer_key(&app).await;
    authorize(&app).await;
    let customer = RootKey::Customer(crn);
    app.state
        .secrets
        .switch_root_key(tenant, customer.clone())
        .await
        .unwrap();
    wait_switched(&app, tenant, &customer).await;
    assert_eq!(
        generations(&app, tenant).await,
        vec![(GenerationStatus::Current, customer.clone())]
    );
    assert_all_decrypt(&app, tenant, &ids).await;

    app.state
        .secrets
        .switch_root_key(tenant, RootKey::Global)
        .await
        .unwrap();
    wait_switched(&app, tenant, &RootKey::Global).await;
    assert_eq!(
        generations(&app, tenant).await,
        vec![(GenerationStatus::Current, RootKey::Global)]
    );
    assert_all_decrypt(&app, tenant, &ids).await;
}

#[tokio::test]
async fn case_1_a_tenant_without_secrets_starts_under_the_customer_key() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, 64).await;
    let tenant = new_tenant(&app).await;
    let (_, crn) = customer_key(&app).await;
    authorize(&app).await;
    let customer = RootKey::Customer(crn);
    app.state
        .secrets
        .switch_root_key(tenant, customer.clone())
        .await
        .unwrap();
    assert_eq!(
        generations(&app, tenant).await,
        vec![(GenerationStatus::Current, customer)]
    );
    let ids = fill(&app, tenant, 3).await;
    assert_all_decrypt(&app, tenant, &ids).await;
}

#[tokio::test]
async fn refusals_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, 64).await;
    let tenant = new_tenant(&app).await;
    let ids = fill(&app, tenant, 20).await;
    let before = snapshot(&app, tenant, &ids).await;
    let (key, crn) = customer_key(&app).await;
    let secrets = &app.state.secrets;

    // No service-to-service authorization yet.
    let e = secrets
        .switch_root_key(tenant, RootKey::Customer(crn.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SecretsError::Provider(ProviderError::NotAuthorized { .. })
        ),
        "{e}"
    );
    assert_eq!(snapshot(&app, tenant, &ids).await, before);

    // A CRN of a KMS this service has no endpoint for (unreachable).
    let foreign: RootKeyCrn = format!(
        "crn:v1:bluemix:public:kms:us-south:a/{}:{}:key:{}",
        app.info.account_id, app.info.kms_instance_id, key
    )
    .parse()
    .unwrap();
    let e = secrets
        .switch_root_key(tenant, RootKey::Customer(foreign))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SecretsError::Provider(ProviderError::UnknownEndpoint)),
        "{e}"
    );

    // A key that does not exist.
    authorize(&app).await;
    let missing: RootKeyCrn = format!(
        "crn:v1:keyward:local:kms:local:a/{}:{}:key:{}",
        app.info.account_id,
        app.info.kms_instance_id,
        Uuid::new_v4()
    )
    .parse()
    .unwrap();
    let e = secrets
        .switch_root_key(tenant, RootKey::Customer(missing))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SecretsError::Provider(ProviderError::KeyNotFound)),
        "{e}"
    );

    // A disabled key, then a deleted one.
    let instance = InstanceId::from_uuid(app.info.kms_instance_id.parse().unwrap());
    let admin = app.admin_access(instance.as_uuid()).await.unwrap();
    app.state
        .kms
        .disable(&admin, instance, &KeyRef::Id(key))
        .await
        .unwrap();
    let e = secrets
        .switch_root_key(tenant, RootKey::Customer(crn.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SecretsError::Provider(ProviderError::KeyDisabled)),
        "{e}"
    );
    app.state
        .kms
        .delete(&admin, instance, &KeyRef::Id(key), false)
        .await
        .unwrap();
    let e = secrets
        .switch_root_key(tenant, RootKey::Customer(crn))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SecretsError::Provider(ProviderError::KeyDeleted)),
        "{e}"
    );

    assert_eq!(snapshot(&app, tenant, &ids).await, before);
    assert_all_decrypt(&app, tenant, &ids).await;
}

#[tokio::test]
async fn reads_and_writes_keep_working_during_a_switch_and_a_second_node_can_resume() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, 8).await;
    let tenant = new_tenant(&app).await;
    let ids = fill(&app, tenant, 400).await;
    let (_, crn) = customer_key(&app).await;
    authorize(&app).await;
    let customer = RootKey::Customer(crn);
    app.state
        .secrets
        .switch_root_key(tenant, customer.clone())
        .await
        .unwrap();

    // A second node on the same database, with its own (empty) caches, picks the job up too.
    let node_b = build(&settings(&dir, 8)).await.unwrap();
    let resumed = node_b.state.secrets.resume_all().await.unwrap();
    assert!(resumed <= 1);

    // Meanwhile: reads of old secrets and new writes on both nodes.
    assert_all_decrypt(&node_b, tenant, &ids[..50]).await;
    let late = SecretId(Uuid::new_v4());
    let v = SecretBytes::new(b"written during the switch".to_vec());
    node_b
        .state
        .secrets
        .put(tenant, late, &[("password", &v)])
        .await
        .unwrap();

    wait_switched(&app, tenant, &customer).await;
    wait_switched(&node_b, tenant, &customer).await;
    assert_eq!(
        generations(&app, tenant).await,
        vec![(GenerationStatus::Current, customer)]
    );
    assert_all_decrypt(&app, tenant, &ids).await;
    let got = app
        .state
        .secrets
        .get(tenant, late, "password")
        .await
        .unwrap();
    assert!(got.ct_eq(b"written during the switch"));
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_secret_field_or_tenant_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, 64).await;
    let (t1, t2) = (new_tenant(&app).await, new_tenant(&app).await);
    let a = fill(&app, t1, 2).await;
    let b = fill(&app, t2, 1).await;
    let stolen = app
        .store
        .get_field(t1, a[0], "password")
        .await
        .unwrap()
        .unwrap();

    let mut moved = stolen.clone();
    moved.secret = a[1];
    app.store.put_field(&moved).await.unwrap();
    assert!(matches!(
        app.state.secrets.get(t1, a[1], "password").await,
        Err(SecretsError::Undecryptable)
    ));

    let mut other_field = stolen.clone();
    other_field.field = "username".into();
    app.store.put_field(&other_field).await.unwrap();
    assert!(matches!(
        app.state.secrets.get(t1, a[0], "username").await,
        Err(SecretsError::Undecryptable)
    ));

    // Into another tenant: its generation is not the other tenant's, so nothing opens it.
    let mut other_tenant = stolen;
    other_tenant.tenant = t2;
    other_tenant.secret = b[0];
    assert!(app.store.put_field(&other_tenant).await.is_ok());
    assert!(matches!(
        app.state.secrets.get(t2, b[0], "password").await,
        Err(SecretsError::Undecryptable)
    ));
}

#[tokio::test]
async fn a_rotated_customer_key_rewraps_the_stored_dek() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, 64).await;
    let tenant = new_tenant(&app).await;
    let (key, crn) = customer_key(&app).await;
    authorize(&app).await;
    app.state
        .secrets
        .switch_root_key(tenant, RootKey::Customer(crn))
        .await
        .unwrap();
    let ids = fill(&app, tenant, 2).await;
    let before = app.store.generations(tenant).await.unwrap()[0]
        .wrapped_dek
        .clone();

    let instance = InstanceId::from_uuid(app.info.kms_instance_id.parse().unwrap());
    let admin = app.admin_access(instance.as_uuid()).await.unwrap();
    app.state
        .kms
        .rotate(&admin, instance, &KeyRef::Id(key), None)
        .await
        .unwrap();
    // A fresh node has no cached DEK, so it unwraps, gets the rewrapped DEK and stores it.
    let node_b = Arc::new(build(&settings(&dir, 64)).await.unwrap());
    assert_all_decrypt(&node_b, tenant, &ids).await;
    let after = app.store.generations(tenant).await.unwrap()[0]
        .wrapped_dek
        .clone();
    assert_ne!(
        before, after,
        "the wrapped DEK was replaced by the rewrapped one"
    );
    let node_c = build(&settings(&dir, 64)).await.unwrap();
    assert_all_decrypt(&node_c, tenant, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_switches_all_finish() {
    // A switch requested the moment the previous one completes must not be left pending
    // because the previous job had not yet marked itself finished.
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, 64).await;
    let tenant = new_tenant(&app).await;
    let ids = fill(&app, tenant, 3).await;
    let (_, a) = customer_key(&app).await;
    let (_, b) = customer_key(&app).await;
    authorize(&app).await;
    let targets = [RootKey::Customer(a), RootKey::Customer(b), RootKey::Global];
    for round in 0..30 {
        let target = targets[round % targets.len()].clone();
        app.state
            .secrets
            .switch_root_key(tenant, target.clone())
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let p = app.state.secrets.protection(tenant).await.unwrap();
            if p.switching_to.is_none() && p.current == target {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "switch {round} was left pending"
            );
            tokio::task::yield_now().await;
        }
    }
    assert_all_decrypt(&app, tenant, &ids).await;
}
