//! Registrations over HTTP: write, list (one key, all keys, CRN wildcard), the deletion rules
//! they impose (409 without force, PREV_KEY_DEL_ERR even with force), 422 on a non-active key,
//! and 403 for a caller who may not use the key.

mod common;

use common::{TestServer, key_path};
use iam::Role;
use keyward_iam as iam;
use serde_json::json;

const CRN_A: &str =
    "crn:v1:keyward:local:configsvc:local:a/acc:11111111-1111-4111-8111-111111111111::";
const CRN_B: &str = "crn:v1:keyward:local:cos:local:a/acc:22222222-2222-4222-8222-222222222222::";

fn reg_path(key: &str, crn: &str) -> String {
    format!(
        "{}/registrations/{}",
        key_path(key),
        crn.replace('/', "%2F")
    )
}

#[tokio::test]
async fn registrations_are_written_listed_and_filtered() {
    let server = TestServer::start().await;
    let key = server.root_key("protected").await;
    let created = server
        .post(&reg_path(&key, CRN_A))
        .json(&json!({"resources": [{"description": "configsvc secrets", "preventKeyDeletion": false}]}))
        .send()
        .await
        .expect_status(201)
        .resource();
    assert_eq!(created["resourceCrn"], CRN_A);
    assert_eq!(created["keyId"], key);
    server
        .post(&reg_path(&key, CRN_B))
        .send()
        .await
        .expect_status(201);

    let listed = server
        .get(&format!("{}/registrations?totalCount=true", key_path(&key)))
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(
        listed["metadata"]["collectionType"],
        "application/vnd.ibm.kms.registration+json"
    );
    assert_eq!(listed["metadata"]["totalCount"], 2);
    let all = server
        .get("/api/v2/keys/registrations?urlEncodedResourceCRNQuery=crn:v1:keyward:local:configsvc:*")
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(all["resources"].as_array().map(Vec::len), Some(1));
    assert_eq!(all["resources"][0]["resourceCrn"], CRN_A);

    server
        .delete(&reg_path(&key, CRN_B))
        .send()
        .await
        .expect_status(204);
    server
        .delete(&reg_path(&key, CRN_B))
        .send()
        .await
        .expect_status(404);
}

#[tokio::test]
async fn registrations_block_deletion_unless_forced_and_retention_blocks_it_always() {
    let server = TestServer::start().await;
    let key = server.root_key("protected").await;
    server
        .post(&reg_path(&key, CRN_A))
        .send()
        .await
        .expect_status(201);
    let refused = server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(409);
    assert_eq!(refused.code(), "PROTECTED_RESOURCE_ERR");
    assert_eq!(server.state(&key).await, 1, "nothing changed");
    server
        .delete(&format!("{}?force=true", key_path(&key)))
        .send()
        .await
        .expect_status(204);
    assert_eq!(server.state(&key).await, 5);

    let kept = server.root_key("retained").await;
    server
        .post(&reg_path(&kept, CRN_A))
        .json(&json!({"resources": [{"preventKeyDeletion": true}]}))
        .send()
        .await
        .expect_status(201);
    let refused = server
        .delete(&format!("{}?force=true", key_path(&kept)))
        .send()
        .await
        .expect_status(409);
    assert_eq!(refused.code(), "PREV_KEY_DEL_ERR");
    assert_eq!(server.state(&kept).await, 1);
}

#[tokio::test]
async fn registrations_need_an_active_root_key_and_a_role_that_may_use_it() {
    let server = TestServer::start().await;
    let standard = server.standard_key("std").await;
    assert_eq!(
        server
            .post(&reg_path(&standard, CRN_A))
            .send()
            .await
            .expect_status(422)
            .code(),
        "KEY_INVALID_STATE_FOR_REGISTRATION_ERR"
    );
    let key = server.root_key("r").await;
    server.action(&key, "disable").await;
    server
        .post(&reg_path(&key, CRN_A))
        .send()
        .await
        .expect_status(422);
    let other = server.root_key("o").await;
    server
        .post(&reg_path(&other, "not-a-crn"))
        .send()
        .await
        .expect_status(400);

    let purger = server.user(&[Role::KeyPurge], None).await;
    let refused = server
        .post(&reg_path(&other, CRN_A))
        .token(&purger.token)
        .send()
        .await
        .expect_status(403);
    assert_eq!(refused.code(), "FORBIDDEN_ERR");
    server
        .get(&format!("{}/registrations", key_path(&other)))
        .token(&purger.token)
        .send()
        .await
        .expect_status(403);
    server
        .get(&format!("{}/registrations", key_path(&other)))
        .no_auth()
        .send()
        .await
        .expect_status(401);
}
