//! Revocation in seconds: when a customer disables (or deletes) its root key, the configuration
//! service stops decrypting that tenant's secrets at once on the node that served the change, and
//! within a second on another node of the same PostgreSQL database (key events over
//! LISTEN/NOTIFY); enabling the key brings access back. The cross-node case prints its latencies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use common::byok::wait_switched_state;
use common::database::Database;
use keyward_crypto::SecretBytes;
use keyward_secrets::{ProviderError, RootKey, SecretId, SecretsError, TenantId};
use keyward_server::{App, ServeSettings, build};
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn a_disabled_key_stops_decryption_at_once_on_this_node() {
    let server = TestServer::start().await;
    let common::CustomerTenant {
        id: tenant_id,
        tenant,
        key,
        ..
    } = server.customer_tenant().await;
    let created = server
        .post(&format!("/openscale/{tenant_id}/v2/service_providers"))
        .no_instance()
        .json(
            &json!({"name": "sp", "service_type": "custom_machine_learning",
            "credentials": {"url": "https://ml.example", "password": "pw"}}),
        )
        .send()
        .await
        .expect_status(201)
        .json();
    let secret = SecretId(
        created["entity"]["credentials"]["secret_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    );
    let secrets = &server.state.secrets;
    assert!(secrets.get(tenant, secret, "password").await.is_ok());
    assert!(!secrets.cache().is_empty(), "the DEK is cached");

    server.action(&key, "disable").await.expect_status(204);
    let refused = secrets.get(tenant, secret, "password").await;
    assert!(
        matches!(
            refused,
            Err(SecretsError::Provider(ProviderError::KeyDisabled))
        ),
        "decrypted after the disable: {:?}",
        refused.err()
    );
    let check = server
        .get(&format!("/openscale/{tenant_id}/v2/secrets_check"))
        .no_instance()
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(check["fields_decrypted"], 0, "{check}");
    let failure = check["failures"][0].as_str().unwrap_or_default();
    assert!(failure.contains("disabled"), "{check}");

    server.advance(31);
    server.action(&key, "enable").await.expect_status(204);
    assert!(secrets.get(tenant, secret, "password").await.is_ok());

    // Deleting the key revokes the same way.
    server
        .delete(&format!("/api/v2/keys/{key}?force=true"))
        .send()
        .await
        .expect_status(204);
    assert!(secrets.get(tenant, secret, "password").await.is_err());
}

async fn node(dir: &std::path::Path, url: &str) -> App {
    let settings = ServeSettings {
        database_url: Some(url.to_owned()),
        unsafe_test_clock: true,
        ..ServeSettings::new(dir)
    };
    build(&settings).await.unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_stops_decrypting_within_a_second() {
    let db = Database::create();
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = node(dir_a.path(), &db.url).await;
    // The second node shares the database and the master key.
    std::fs::copy(
        dir_a.path().join("master.key"),
        dir_b.path().join("master.key"),
    )
    .unwrap();
    let b = node(dir_b.path(), &db.url).await;

    // Node A: a customer key, its authorization, a tenant under it, one secret.
    let kms_instance: Uuid = a.info.kms_instance_id.parse().unwrap();
    let access = a.admin_access(kms_instance).await.unwrap();
    let instance = keyward_kms::InstanceId::from_uuid(kms_instance);
    let key = a
        .state
        .kms
        .create_key(&access, instance, keyward_kms::NewKey::root("customer"))
        .await
        .unwrap()
        .key
        .id;
    let account: keyward_iam::AccountId = a.info.account_id.parse().unwrap();
    keyward_server::iam_admin::authorize_service(
        &a.store,
        &account,
        keyward_iam::ServiceKind::ConfigSvc,
        None,
        kms_instance,
        keyward_iam::Role::Reader,
    )
    .await
    .unwrap();
    a.state.iam.invalidate();
    b.state.iam.invalidate();
    let tenant = TenantId(a.create_tenant("tenant").await.unwrap());
    let root = RootKey::Customer(
        a.state
            .crn
            .key_crn(&a.info.account_id, instance, key)
            .parse()
            .unwrap(),
    );
    a.state
        .secrets
        .switch_root_key(tenant, root.clone())
        .await
        .unwrap();
    wait_switched_state(&a.state, tenant, &root).await;
    let secret = SecretId(Uuid::new_v4());
    a.state
        .secrets
        .put(
            tenant,
            secret,
            &[("password", &SecretBytes::new(b"pw".to_vec()))],
        )
        .await
        .unwrap();

    let mut latencies = Vec::new();
    for round in 0..20 {
        // Node B decrypts (and caches the DEK and the key).
        let deadline = Instant::now() + Duration::from_secs(5);
        while b
            .state
            .secrets
            .get(tenant, secret, "password")
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "round {round}: node B never decrypted"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        a.state
            .kms
            .disable(&access, instance, &keyward_kms::KeyRef::Id(key))
            .await
            .unwrap();
        let disabled = Instant::now();
        loop {
            if b.state
                .secrets
                .get(tenant, secret, "password")
                .await
                .is_err()
            {
                latencies.push(disabled.elapsed());
                break;
            }
            assert!(
                disabled.elapsed() < Duration::from_secs(1),
                "round {round}: node B still decrypts {:?} after the disable",
                disabled.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        a.test_clock
            .as_ref()
            .unwrap()
            .advance(time::Duration::seconds(31));
        a.state
            .kms
            .enable(&access, instance, &keyward_kms::KeyRef::Id(key))
            .await
            .unwrap();
    }
    latencies.sort();
    println!(
        "{}",
        json!({
            "cross_node_revocation_ms": {
                "rounds": latencies.len(),
                "p50": percentile(&latencies, 0.5).as_secs_f64() * 1e3,
                "p99": percentile(&latencies, 0.99).as_secs_f64() * 1e3,
                "max": latencies.last().unwrap().as_secs_f64() * 1e3,
            }
        })
    );
    a.store.close().await;
    b.store.close().await;
}
