//! After a customer rotates its root key, the configuration service rewraps the DEKs that key
//! protects under the new version in the background, without waiting for a read to do it.

mod common;

use std::time::Duration;

use common::TestServer;
use keyward_secrets::{GenerationStatus, TenantId, WrappedBy};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_rewraps_the_deks_its_key_protects() {
    let server = TestServer::start().await;
    let common::CustomerTenant {
        id: tenant_id,
        tenant,
        key,
        root,
        ..
    } = server.customer_tenant().await;
    let wrapped_by = WrappedBy::CustomerKey {
        instance: server.instance.parse().expect("instance id"),
        key: key.parse().expect("key id"),
    };
    server
        .post(&format!("/openscale/{tenant_id}/v2/service_providers"))
        .no_instance()
        .json(
            &json!({"name": "sp", "service_type": "custom_machine_learning",
            "credentials": {"url": "https://ml.example", "password": "pw"}}),
        )
        .send()
        .await
        .expect_status(201);
    let secrets = &server.state.secrets;
    assert_eq!(secrets.rewrap_under(wrapped_by).await.expect("rewrap"), 0);
    let before = current_wrapped_dek(&server, tenant).await;

    server.action(&key, "rotate").await.expect_status(204);
    let mut after = before.clone();
    for _ in 0..250 {
        after = current_wrapped_dek(&server, tenant).await;
        if after != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(after, before, "the DEK was not rewrapped within 5 s");
    assert_eq!(
        secrets.rewrap_under(wrapped_by).await.expect("rewrap"),
        0,
        "already under the newest version"
    );
    // The rewrapped DEK opens the tenant's secrets.
    secrets.cache().forget_root(&root);
    secrets.verify_root_keys(tenant).await.expect("usable");
    let check = server
        .get(&format!("/openscale/{tenant_id}/v2/secrets_check"))
        .no_instance()
        .send()
        .await
        .expect_status(200)
        .json();
    assert!(
        check["failures"].as_array().is_none_or(Vec::is_empty),
        "{check}"
    );
}

async fn current_wrapped_dek(server: &TestServer, tenant: TenantId) -> Vec<u8> {
    use keyward_secrets::SecretStore as _;
    server
        .store
        .generations(tenant)
        .await
        .expect("generations")
        .into_iter()
        .find(|g| g.status == GenerationStatus::Current)
        .expect("a current generation")
        .wrapped_dek
}
