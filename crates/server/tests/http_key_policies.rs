//! Key policies and dual authorization of deletion over HTTP: the policy endpoints' bodies and
//! refusals, who may set and read them, and the two-user deletion with its 7-day lapse on the
//! server's clock.

mod common;

use common::{TestServer, TestUser};
use keyward_iam::Role;
use serde_json::{Value, json};

const POLICY_TYPE: &str = "application/vnd.ibm.kms.policy+json";

fn policies_path(key: &str) -> String {
    format!("/api/v2/keys/{key}/policies")
}

fn body(resources: &[Value]) -> Value {
    json!({
        "metadata": {"collectionType": POLICY_TYPE, "collectionTotal": resources.len()},
        "resources": resources.iter().map(|r| {
            let mut r = r.clone();
            r["type"] = json!(POLICY_TYPE);
            r
        }).collect::<Vec<_>>(),
    })
}

fn rotation(interval_month: i64) -> Value {
    json!({"rotation": {"enabled": true, "interval_month": interval_month}})
}

fn dual_auth(enabled: bool) -> Value {
    json!({"dualAuthDelete": {"enabled": enabled}})
}

/// Sets dual authorization on a fresh root key, as the bootstrap admin.
async fn dual_auth_key(server: &TestServer, name: &str) -> String {
    let key = server.root_key(name).await;
    server
        .call(axum::http::Method::PUT, &policies_path(&key))
        .json(&body(&[dual_auth(true)]))
        .send()
        .await
        .expect_status(200);
    key
}

async fn delete_as(server: &TestServer, key: &str, user: &TestUser) -> common::Reply {
    server
        .delete(&format!("/api/v2/keys/{key}"))
        .token(&user.token)
        .send()
        .await
}

async fn action_as(server: &TestServer, key: &str, action: &str, user: &TestUser) -> common::Reply {
    server
        .post(&format!("/api/v2/keys/{key}/actions/{action}"))
        .token(&user.token)
        .send()
        .await
}

#[tokio::test]
async fn policies_are_set_read_and_shown_in_the_key() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let empty = server
        .get(&policies_path(&key))
        .send()
        .await
        .expect_status(200);
    assert_eq!(
        empty.json(),
        json!({"metadata": {"collectionType": POLICY_TYPE, "collectionTotal": 0}})
    );
    let meta = server.metadata(&key).await;
    assert_eq!(meta["dualAuthDelete"], json!({"enabled": false}));
    assert!(meta.get("rotation").is_none());

    let set = server
        .call(axum::http::Method::PUT, &policies_path(&key))
        .json(&body(&[rotation(3), dual_auth(true)]))
        .send()
        .await
        .expect_status(200);
    let set = set.json();
    assert_eq!(set["metadata"]["collectionTotal"], 2);
    let resources = set["resources"].as_array().expect("resources");
    assert_eq!(
        resources[0]["rotation"],
        json!({"enabled": true, "interval_month": 3})
    );
    assert_eq!(resources[1]["dualAuthDelete"], json!({"enabled": true}));
    for r in resources {
        assert_eq!(r["id"], json!(key));
        assert_eq!(r["type"], POLICY_TYPE);
        assert!(
            r["crn"]
                .as_str()
                .expect("crn")
                .ends_with(&format!(":key:{key}"))
        );
        assert_eq!(r["createdBy"], r["updatedBy"]);
        assert!(r["creationDate"].is_string() && r["lastUpdateDate"].is_string());
    }

    let only = server
        .get(&format!("{}?policy=rotation", policies_path(&key)))
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(only["metadata"]["collectionTotal"], 1);
    assert!(only["resources"][0].get("dualAuthDelete").is_none());
    let meta = server.metadata(&key).await;
    assert_eq!(
        meta["dualAuthDelete"],
        json!({"enabled": true, "keySetForDeletion": false})
    );
    assert_eq!(
        meta["rotation"],
        json!({"enabled": true, "interval_month": 3})
    );
}

#[tokio::test]
async fn hostile_and_mistaken_policy_bodies_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let key = dual_auth_key(&server, "k").await;
    let standard = server.standard_key("s").await;
    let put = |key: &str, query: &str, b: Value| {
        server
            .call(
                axum::http::Method::PUT,
                &format!("{}{query}", policies_path(key)),
            )
            .json(&b)
    };
    put(&standard, "", body(&[rotation(3)]))
        .send()
        .await
        .assert_error(400, "KEY_ROOT_REQ_ERR");
    for month in [0, 13, -1] {
        put(&key, "", body(&[rotation(month)]))
            .send()
            .await
            .assert_error(400, "INVALID_FIELD_ERR");
    }
    put(&key, "", body(&[dual_auth(false)]))
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    put(&key, "?policy=rotation", body(&[dual_auth(true)]))
        .send()
        .await
        .assert_error(400, "BODY_QUERY_PARAM_MISMATCH_ERR");
    put(&key, "?policy=everything", body(&[dual_auth(true)]))
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    let mut wrong_total = body(&[rotation(2)]);
    wrong_total["metadata"]["collectionTotal"] = json!(5);
    put(&key, "", wrong_total)
        .send()
        .await
        .assert_error(400, "COLLECTION_TOTAL_MISMATCH_ERR");
    put(
        &key,
        "",
        json!({"resources": [{"rotation": {"enabled": true, "interval_month": 1, "x": 1}}]}),
    )
    .send()
    .await
    .assert_error(400, "BAD_BODY_ERR");
    server
        .call(axum::http::Method::PUT, &policies_path(&key))
        .send()
        .await
        .assert_error(400, "NO_BODY_ERR");
    // Nothing of the refused bodies was kept.
    let meta = server.metadata(&key).await;
    assert!(meta.get("rotation").is_none());
    assert_eq!(meta["dualAuthDelete"]["enabled"], true);
    put(
        &uuid::Uuid::new_v4().to_string(),
        "",
        body(&[dual_auth(true)]),
    )
    .send()
    .await
    .assert_error(404, "KEY_NOT_FOUND_ERR");
}

#[tokio::test]
async fn only_managers_read_and_set_policies_and_other_instances_see_nothing() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    for role in [Role::Reader, Role::ReaderPlus, Role::Writer] {
        let user = server.user(&[role], None).await;
        server
            .get(&policies_path(&key))
            .token(&user.token)
            .send()
            .await
            .assert_error(403, "FORBIDDEN_ERR");
        server
            .call(axum::http::Method::PUT, &policies_path(&key))
            .token(&user.token)
            .json(&body(&[dual_auth(true)]))
            .send()
            .await
            .assert_error(403, "FORBIDDEN_ERR");
    }
    // A Manager of another account's instance, naming this key under its own instance.
    let (foreign, manager) = server.foreign_instance().await;
    let reply = server
        .call(axum::http::Method::PUT, &policies_path(&key))
        .token(&manager.token)
        .instance(&foreign)
        .json(&body(&[dual_auth(true)]))
        .send()
        .await;
    reply.assert_error(404, "KEY_NOT_FOUND_ERR");
    // And under this instance, where it holds nothing.
    let reply = server
        .get(&policies_path(&key))
        .token(&manager.token)
        .send()
        .await;
    assert!(
        [401, 403].contains(&reply.status.as_u16()),
        "{}",
        reply.text()
    );
    assert_eq!(
        server.metadata(&key).await["dualAuthDelete"]["enabled"],
        false
    );
}

#[tokio::test]
async fn a_dual_authorization_key_is_deleted_by_a_second_user_after_the_first_authorizes() {
    let server = TestServer::start().await;
    let key = dual_auth_key(&server, "k").await;
    let first = server.user(&[Role::Writer], None).await;
    let second = server.user(&[Role::Manager], None).await;

    delete_as(&server, &key, &second)
        .await
        .assert_error(409, "AUTHORIZATIONS_NOT_MET");
    // A Writer may authorize (Key Protect's role table) but not delete.
    let expiration = server.date_window(7 * 24 * 3600);
    action_as(&server, &key, "setKeyForDeletion", &first)
        .await
        .expect_status(204);
    let meta = server.metadata(&key).await;
    assert_eq!(meta["dualAuthDelete"]["keySetForDeletion"], true);
    expiration.assert_holds(&server, &meta["dualAuthDelete"]["authExpiration"]);
    delete_as(&server, &key, &first)
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    // The user who authorized cannot also delete.
    let same = server.user(&[Role::Manager], None).await;
    action_as(&server, &key, "setKeyForDeletion", &same)
        .await
        .expect_status(204);
    delete_as(&server, &key, &same)
        .await
        .assert_error(409, "AUTHORIZATIONS_NOT_MET");
    assert_eq!(server.state(&key).await, 1);

    delete_as(&server, &key, &second).await.expect_status(204);
    assert_eq!(server.state(&key).await, 5);
    // Restored, the key needs a new authorization.
    server.advance(31);
    server
        .post(&format!("/api/v2/keys/{key}/restore"))
        .send()
        .await
        .expect_status(201);
    let meta = server.metadata(&key).await;
    assert_eq!(
        meta["dualAuthDelete"],
        json!({"enabled": true, "keySetForDeletion": false})
    );
    delete_as(&server, &key, &second)
        .await
        .assert_error(409, "AUTHORIZATIONS_NOT_MET");
}

#[tokio::test]
async fn an_authorization_lapses_after_seven_days_and_can_be_withdrawn() {
    let server = TestServer::start_with(true).await;
    let key = dual_auth_key(&server, "k").await;
    let first = server.user(&[Role::Manager], None).await;
    let second_key = server.user(&[Role::Manager], None).await;
    action_as(&server, &key, "setKeyForDeletion", &first)
        .await
        .expect_status(204);
    server.advance(7 * 24 * 3600 - 1);
    // Tokens are short-lived; fresh ones at the moved clock.
    let second = TestUser {
        token: server.token_for(&second_key.apikey).await,
        ..second_key
    };
    let meta = server.metadata(&key).await;
    assert_eq!(meta["dualAuthDelete"]["keySetForDeletion"], true);
    server.advance(1);
    let meta = server.metadata(&key).await;
    assert_eq!(
        meta["dualAuthDelete"],
        json!({"enabled": true, "keySetForDeletion": false})
    );
    delete_as(&server, &key, &second)
        .await
        .assert_error(409, "AUTHORIZATIONS_NOT_MET");

    let first = TestUser {
        token: server.token_for(&first.apikey).await,
        ..first
    };
    action_as(&server, &key, "setKeyForDeletion", &first)
        .await
        .expect_status(204);
    action_as(&server, &key, "unsetKeyForDeletion", &first)
        .await
        .expect_status(204);
    delete_as(&server, &key, &second)
        .await
        .assert_error(409, "AUTHORIZATIONS_NOT_MET");
    // A Reader may do neither.
    let reader = server.user(&[Role::Reader], None).await;
    for action in ["setKeyForDeletion", "unsetKeyForDeletion"] {
        action_as(&server, &key, action, &reader)
            .await
            .assert_error(403, "FORBIDDEN_ERR");
    }
    assert_eq!(server.state(&key).await, 1);
}

#[tokio::test]
async fn a_refused_deletion_keeps_the_keys_registrations() {
    let server = TestServer::start().await;
    let key = dual_auth_key(&server, "k").await;
    let crn = "crn:v1:keyward:local:cos:local:a%2Facc:22222222-2222-4222-8222-222222222222::";
    server
        .post(&format!("/api/v2/keys/{key}/registrations/{crn}"))
        .json(&json!({"resources": [{"description": "bucket", "preventKeyDeletion": false}]}))
        .send()
        .await
        .expect_status(201);
    server
        .delete(&format!("/api/v2/keys/{key}?force=true"))
        .send()
        .await
        .assert_error(409, "AUTHORIZATIONS_NOT_MET");
    let listed = server
        .get(&format!("/api/v2/keys/{key}/registrations"))
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(listed["metadata"]["collectionTotal"], 1);
}
