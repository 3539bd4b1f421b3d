//! The per-version encryption budget over HTTP (a server built with a budget of 3): a generated
//! root key rotates itself when a version has sealed its budget, an imported one asks for new
//! material, and every ciphertext keeps unwrapping.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{TestServer, id_of, key_path, str_of};
use keyward_kms::KmsConfig;
use serde_json::json;

async fn small_budget() -> TestServer {
    TestServer::start_with_kms(KmsConfig {
        encryption_limit: 3,
        lease_size: 2,
        ..KmsConfig::default()
    })
    .await
}

async fn unwrap(server: &TestServer, key: &str, ct: &str) -> serde_json::Value {
    server
        .post(&format!("{}/actions/unwrap", key_path(key)))
        .json(&json!({"ciphertext": ct}))
        .send()
        .await
        .expect_status(200)
        .json()
}

#[tokio::test]
async fn a_generated_key_rotates_when_a_version_spends_its_budget() {
    let server = small_budget().await;
    let key = server.root_key("k").await;
    let v1 = str_of(&server.metadata(&key).await["keyVersion"]["id"]);
    let mut wrapped = Vec::new();
    for _ in 0..3 {
        let (ct, dek, v) = server.wrap_new(&key).await;
        assert_eq!(v, v1);
        wrapped.push((ct, dek));
    }
    let (ct, dek, v2) = server.wrap_new(&key).await;
    assert_ne!(v2, v1, "the fourth wrap needs a new version");
    wrapped.push((ct, dek));
    assert_eq!(server.metadata(&key).await["keyVersion"]["id"], v2);
    let versions = server
        .get(&format!("{}/versions", key_path(&key)))
        .send()
        .await
        .expect_status(200);
    assert_eq!(versions.json()["metadata"]["collectionTotal"], 2);
    assert_eq!(versions.resource()["id"], v2);
    for (ct, dek) in &wrapped {
        assert_eq!(unwrap(&server, &key, ct).await["plaintext"], *dek);
    }
}

#[tokio::test]
async fn an_imported_key_asks_for_new_material_when_its_budget_is_spent() {
    let server = small_budget().await;
    let key = id_of(
        &server
            .create(json!({"name": "imp", "payload": STANDARD.encode([4u8; 32])}))
            .await,
    );
    let mut wrapped = Vec::new();
    for _ in 0..3 {
        wrapped.push(server.wrap_new(&key).await);
    }
    server
        .action(&key, "wrap")
        .await
        .assert_error(409, "KEY_ROTATION_REQUIRED_ERR");
    // Unwrapping needs no budget.
    for (ct, dek, _) in &wrapped {
        assert_eq!(unwrap(&server, &key, ct).await["plaintext"], *dek);
    }
    server
        .post(&format!("{}/actions/rotate", key_path(&key)))
        .json(&json!({"payload": STANDARD.encode([8u8; 32])}))
        .send()
        .await
        .expect_status(204);
    let (_, _, v) = server.wrap_new(&key).await;
    assert_eq!(server.metadata(&key).await["keyVersion"]["id"], v);
    let (ct, dek, _) = &wrapped[0];
    let out = unwrap(&server, &key, ct).await;
    assert_eq!(out["plaintext"], *dek);
    assert_eq!(out["rewrappedKeyVersion"]["id"], v);
}
