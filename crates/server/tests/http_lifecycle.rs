//! Key lifecycle over HTTP with the test clock: delete, purge, restore, disable and enable with
//! their time windows, expiry (Deactivated) and the automatic purge.

mod common;

use common::{KEY_TYPE, TestServer, key_path, str_of};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

fn parse(date: &serde_json::Value) -> OffsetDateTime {
    OffsetDateTime::parse(date.as_str().expect("date string"), &Rfc3339).expect("RFC 3339")
}

async fn unwrap(server: &TestServer, key: &str, ct: &str) -> common::Reply {
    server
        .post(&format!("{}/actions/unwrap", key_path(key)))
        .json(&json!({"ciphertext": ct}))
        .send()
        .await
}

async fn rewrap(server: &TestServer, key: &str, ct: &str) -> common::Reply {
    server
        .post(&format!("{}/actions/rewrap", key_path(key)))
        .json(&json!({"ciphertext": ct}))
        .send()
        .await
}

#[tokio::test]
async fn delete_returns_204_and_the_key_shows_the_deletion() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let reply = server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    assert!(reply.body.is_empty());
    let k = server
        .get(&key_path(&key))
        .send()
        .await
        .expect_status(200)
        .resource();
    assert_eq!(k["state"], 5);
    assert_eq!(k["deleted"], true);
    assert_eq!(k["deletedBy"], server.admin_iam_id);
    let deleted_at = parse(&k["deletionDate"]);
    assert_eq!(
        parse(&k["purgeAllowedFrom"]) - deleted_at,
        time::Duration::hours(4)
    );
    assert_eq!(
        parse(&k["restoreExpirationDate"]) - deleted_at,
        time::Duration::days(30)
    );
    assert_eq!(
        parse(&k["purgeScheduledOn"]) - deleted_at,
        time::Duration::days(90)
    );
    assert_eq!(k["purgeAllowed"], false);
    assert_eq!(server.metadata(&key).await["state"], 5);

    server
        .delete(&key_path(&key))
        .send()
        .await
        .assert_error(410, "KEY_DELETED_ERR");
    server
        .delete(&key_path(&Uuid::new_v4().to_string()))
        .send()
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
}

#[tokio::test]
async fn delete_with_representation_returns_the_destroyed_key() {
    let server = TestServer::start().await;
    let key = server.standard_key("std").await;
    let reply = server
        .delete(&key_path(&key))
        .header("prefer", "return=representation")
        .send()
        .await
        .expect_status(200);
    reply.assert_json_content_type();
    assert_eq!(reply.json()["metadata"]["collectionType"], KEY_TYPE);
    let k = reply.resource();
    assert_eq!(str_of(&k["id"]), key);
    assert_eq!(k["state"], 5);
    assert_eq!(k["deleted"], true);
    assert!(k["deletionDate"].is_string());
    assert_eq!(k["deletedBy"], server.admin_iam_id);
    // (Whether this body carries a standard key's payload is left open: reference §2 and §4.4
    // disagree.)
    // A destroyed standard key no longer shows its payload.
    let got = server
        .get(&key_path(&key))
        .send()
        .await
        .expect_status(200)
        .resource();
    assert!(got.get("payload").is_none());
    // return=minimal is the default.
    let other = server.root_key("k2").await;
    let minimal = server
        .delete(&key_path(&other))
        .header("prefer", "return=minimal")
        .send()
        .await
        .expect_status(204);
    assert!(minimal.body.is_empty());
}

#[tokio::test]
async fn destroyed_keys_refuse_crypto_with_410() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let (ct, _, _) = server.wrap_new(&key).await;
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    server
        .action(&key, "wrap")
        .await
        .assert_error(410, "KEY_DELETED_ERR");
    unwrap(&server, &key, &ct)
        .await
        .assert_error(410, "KEY_DELETED_ERR");
    rewrap(&server, &key, &ct)
        .await
        .assert_error(410, "KEY_DELETED_ERR");
    server
        .delete(&key_path(&key))
        .send()
        .await
        .assert_error(410, "KEY_DELETED_ERR");
}

#[tokio::test]
async fn purge_waits_four_hours_then_the_key_is_gone() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let (ct, _, _) = server.wrap_new(&key).await;
    let purge = format!("{}/purge", key_path(&key));
    server
        .delete(&purge)
        .send()
        .await
        .assert_error(409, "KEY_ACTION_INVALID_STATE_ERR");
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    server
        .delete(&purge)
        .send()
        .await
        .assert_error(409, "REQ_TOO_EARLY_ERR");
    server.advance(4 * 3600 - 60);
    server
        .delete(&purge)
        .send()
        .await
        .assert_error(409, "REQ_TOO_EARLY_ERR");
    server.advance(61);
    assert_eq!(server.metadata(&key).await["purgeAllowed"], true);
    let reply = server.delete(&purge).send().await.expect_status(204);
    assert!(reply.body.is_empty());

    let path = key_path(&key);
    for (reply, what) in [
        (server.get(&path).send().await, "get"),
        (
            server.get(&format!("{path}/metadata")).send().await,
            "metadata",
        ),
        (
            server
                .get(&format!("{path}/versions?allKeyStates=true"))
                .send()
                .await,
            "versions",
        ),
        (server.delete(&path).send().await, "delete"),
        (server.delete(&purge).send().await, "purge"),
        (
            server.post(&format!("{path}/restore")).send().await,
            "restore",
        ),
        (unwrap(&server, &key, &ct).await, "unwrap"),
        (server.action(&key, "rotate").await, "rotate"),
    ] {
        assert_eq!(reply.status.as_u16(), 404, "{what}: {}", reply.text());
        reply.assert_error(404, "KEY_NOT_FOUND_ERR");
    }
    let listed = server
        .get("/api/v2/keys?state=0,1,2,3,5")
        .send()
        .await
        .expect_status(200);
    assert_eq!(listed.header("key-total").as_deref(), Some("0"));
}

#[tokio::test]
async fn purge_with_representation_returns_the_purged_key() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    server.advance(4 * 3600 + 1);
    let reply = server
        .delete(&format!("{}/purge", key_path(&key)))
        .header("prefer", "return=representation")
        .send()
        .await
        .expect_status(200);
    assert_eq!(str_of(&reply.resource()["id"]), key);
    assert_eq!(reply.resource()["state"], 5);
}

#[tokio::test]
async fn restore_waits_30_seconds_and_expires_after_30_days() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let (ct, dek, _) = server.wrap_new(&key).await;
    let restore = format!("{}/restore", key_path(&key));
    server
        .post(&restore)
        .send()
        .await
        .assert_error(409, "KEY_ACTION_INVALID_STATE_ERR");
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    server
        .post(&restore)
        .send()
        .await
        .assert_error(409, "REQ_TOO_EARLY_ERR");
    server.advance(31);
    let reply = server
        .post(&restore)
        .header(
            "content-type",
            "application/vnd.ibm.kms.key_action_restore+json",
        )
        .header("accept", KEY_TYPE)
        .send()
        .await
        .expect_status(201);
    reply.assert_json_content_type();
    assert_eq!(reply.json()["metadata"]["collectionType"], KEY_TYPE);
    let k = reply.resource();
    assert_eq!(k["state"], 1);
    assert_eq!(k["deleted"], false);
    assert!(k.get("deletionDate").is_none());
    let out = unwrap(&server, &key, &ct).await.expect_status(200).json();
    assert_eq!(out["plaintext"], dek);
    server.wrap_new(&key).await;

    // Node 0.1.2 sends an old-style key collection as the body: accepted and ignored.
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    server.advance(31);
    server
        .post(&restore)
        .json(&common::key_collection(
            json!({"type": KEY_TYPE, "payload": "AAAA"}),
        ))
        .send()
        .await
        .expect_status(201);

    // Past 30 days the restore window is closed.
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    server.advance(30 * 86_400 + 60);
    let meta = server.metadata(&key).await;
    assert_eq!(meta["restoreAllowed"], false);
    server
        .post(&restore)
        .send()
        .await
        .assert_error(400, "KEY_RESTORE_EXPIRED");
    assert_eq!(server.state(&key).await, 5);
}

#[tokio::test]
async fn restore_refuses_a_malformed_body() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    server.advance(31);
    server
        .post(&format!("{}/restore", key_path(&key)))
        .header("content-type", "application/json")
        .raw("{broken")
        .send()
        .await
        .assert_error(400, "BAD_BODY_ERR");
    assert_eq!(server.state(&key).await, 5);
}

#[tokio::test]
async fn deleted_keys_are_purged_automatically_after_90_days() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    server.advance(89 * 86_400);
    assert_eq!(server.state(&key).await, 5);
    server.advance(2 * 86_400);
    server
        .get(&key_path(&key))
        .send()
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
    let listed = server
        .get("/api/v2/keys?state=5")
        .send()
        .await
        .expect_status(200);
    assert_eq!(listed.json()["metadata"]["collectionTotal"], 0);
    assert_eq!(listed.header("key-total").as_deref(), Some("0"));
}

#[tokio::test]

async fn auto_purged_keys_are_not_found_even_right_after_a_crypto_call() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let (ct, _, _) = server.wrap_new(&key).await;
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    // This refusal loads the destroyed key into the server's key cache.
    unwrap(&server, &key, &ct)
        .await
        .assert_error(410, "KEY_DELETED_ERR");
    server.advance(91 * 86_400);
    unwrap(&server, &key, &ct)
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
    server
        .action(&key, "wrap")
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
}

#[tokio::test]
async fn disable_and_enable_follow_the_30_second_rule() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let (ct, _, _) = server.wrap_new(&key).await;
    server
        .action(&key, "enable")
        .await
        .assert_error(409, "KEY_ACTION_INVALID_STATE_ERR");
    server.action(&key, "disable").await.expect_status(204);
    assert_eq!(server.state(&key).await, 2);
    server
        .action(&key, "disable")
        .await
        .assert_error(409, "KEY_ACTION_INVALID_STATE_ERR");
    server
        .action(&key, "wrap")
        .await
        .assert_error(409, "KEY_ACTION_INVALID_STATE_ERR");
    unwrap(&server, &key, &ct)
        .await
        .assert_error(409, "KEY_ACTION_INVALID_STATE_ERR");
    server
        .action(&key, "enable")
        .await
        .assert_error(409, "REQ_TOO_EARLY_ERR");
    server.advance(20);
    server
        .action(&key, "enable")
        .await
        .assert_error(409, "REQ_TOO_EARLY_ERR");
    server.advance(11);
    server.action(&key, "enable").await.expect_status(204);
    assert_eq!(server.state(&key).await, 1);
    unwrap(&server, &key, &ct).await.expect_status(200);
    // Disabling again right away is allowed (only enable waits).
    server.action(&key, "disable").await.expect_status(204);
}

#[tokio::test]
async fn expired_keys_are_deactivated_unwrap_and_rotate_only() {
    let server = TestServer::start().await;
    let key = server.expiring_root_key("k", 120).await;
    let expiration = server.metadata(&key).await["expirationDate"].clone();
    assert!(expiration.is_string());
    let (ct, dek, v1) = server.wrap_new(&key).await;
    server.advance(121);

    assert_eq!(server.state(&key).await, 3);
    let listed = server
        .get("/api/v2/keys?state=3")
        .send()
        .await
        .expect_status(200);
    assert_eq!(listed.header("key-total").as_deref(), Some("1"));
    assert_eq!(listed.resource()["state"], 3);
    let default_list = server.get("/api/v2/keys").send().await.expect_status(200);
    assert_eq!(default_list.header("key-total").as_deref(), Some("1"));
    let active = server
        .get("/api/v2/keys?state=1")
        .send()
        .await
        .expect_status(200);
    assert_eq!(active.header("key-total").as_deref(), Some("0"));

    server
        .action(&key, "wrap")
        .await
        .assert_error(409, "KEY_ACTION_INVALID_STATE_ERR");
    let out = unwrap(&server, &key, &ct).await.expect_status(200).json();
    assert_eq!(out["plaintext"], dek);
    rewrap(&server, &key, &ct).await.expect_status(200);
    server
        .action(&key, "disable")
        .await
        .assert_error(409, "KEY_ACTION_INVALID_STATE_ERR");
    server
        .action(&key, "enable")
        .await
        .assert_error(409, "KEY_ACTION_INVALID_STATE_ERR");

    server.action(&key, "rotate").await.expect_status(204);
    let meta = server.metadata(&key).await;
    assert_eq!(meta["state"], 3, "rotation does not reactivate");
    assert_eq!(
        meta["expirationDate"], expiration,
        "rotation does not extend expiry"
    );
    server
        .action(&key, "wrap")
        .await
        .assert_error(409, "KEY_ACTION_INVALID_STATE_ERR");
    let out = unwrap(&server, &key, &ct).await.expect_status(200).json();
    assert_eq!(out["keyVersion"]["id"], v1);
    assert!(out["rewrappedKeyVersion"]["id"].is_string());

    // Deleting and restoring an expired key does not make it usable again.
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    assert_eq!(server.state(&key).await, 5);
    server.advance(31);
    assert_eq!(server.metadata(&key).await["restoreAllowed"], false);
    server
        .post(&format!("{}/restore", key_path(&key)))
        .send()
        .await
        .assert_error(400, "KEY_EXPIRED_ERR");
}

#[tokio::test]
async fn a_suspended_key_that_expired_cannot_be_enabled() {
    let server = TestServer::start().await;
    let key = server.expiring_root_key("k", 60).await;
    server.action(&key, "disable").await.expect_status(204);
    server.advance(61);
    server
        .action(&key, "enable")
        .await
        .assert_error(400, "KEY_EXPIRED_ERR");
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
}
