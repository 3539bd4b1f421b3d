//! Aliases over HTTP: creating and deleting them, their naming rules and uniqueness, and using an
//! alias in place of the key id on every endpoint.

mod common;

use common::{KEY_TYPE, TestServer, id_of, key_collection, key_path, str_of};
use serde_json::json;
use uuid::Uuid;

fn alias_path(key: &str, alias: &str) -> String {
    format!("{}/aliases/{alias}", key_path(key))
}

#[tokio::test]
async fn create_alias_returns_201_and_the_alias_resource() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let reply = server
        .post(&alias_path(&key, "my-alias_1"))
        .header("content-type", "application/json")
        .send()
        .await
        .expect_status(201);
    reply.assert_json_content_type();
    let v = reply.json();
    assert_eq!(v["metadata"]["collectionType"], KEY_TYPE);
    assert_eq!(v["metadata"]["collectionTotal"], 1);
    let a = &v["resources"][0];
    assert_eq!(a["keyId"], key);
    assert_eq!(a["alias"], "my-alias_1");
    assert_eq!(a["createdBy"], server.admin_iam_id);
    assert!(a["creationDate"].is_string());
    assert_eq!(
        server.metadata(&key).await["aliases"],
        json!(["my-alias_1"])
    );
    // Adding it again to the same key is harmless and does not duplicate it.
    server
        .post(&alias_path(&key, "my-alias_1"))
        .send()
        .await
        .expect_status(201);
    assert_eq!(
        server.metadata(&key).await["aliases"],
        json!(["my-alias_1"])
    );
}

#[tokio::test]
async fn alias_works_in_place_of_the_id_everywhere() {
    let server = TestServer::start().await;
    server
        .post("/api/v2/key_rings/ring-x")
        .send()
        .await
        .expect_status(201);
    let key = id_of(
        &server
            .create(json!({"name": "k", "extractable": false, "aliases": ["payroll"]}))
            .await,
    );
    let a = "payroll";
    let ap = key_path(a);
    let got = server.get(&ap).send().await.expect_status(200).resource();
    assert_eq!(id_of(&got), key);
    assert_eq!(got["aliases"], json!([a]));
    assert_eq!(server.metadata(a).await["id"], key);
    server
        .get(&format!("{ap}/versions"))
        .send()
        .await
        .expect_status(200);

    let (ct, dek, _) = server.wrap_new(a).await;
    let out = server
        .post(&format!("{ap}/actions/unwrap"))
        .json(&json!({"ciphertext": ct}))
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(out["plaintext"], dek);
    // The same ciphertext unwraps through the id: the alias names the same key.
    server
        .post(&format!("{}/actions/unwrap", key_path(&key)))
        .json(&json!({"ciphertext": ct}))
        .send()
        .await
        .expect_status(200);
    server
        .post(&format!("{ap}/actions/rewrap"))
        .json(&json!({"ciphertext": ct}))
        .send()
        .await
        .expect_status(200);
    server.action(a, "rotate").await.expect_status(204);
    server.action(a, "sync").await.expect_status(204);
    server.action(a, "disable").await.expect_status(204);
    server.advance(31);
    server.action(a, "enable").await.expect_status(204);
    server
        .post(&format!("{ap}?action=wrap"))
        .send()
        .await
        .expect_status(200);
    let moved = server
        .patch(&ap)
        .json(&json!({"keyRingID": "ring-x"}))
        .send()
        .await
        .expect_status(200);
    assert_eq!(moved.resource()["keyRingID"], "ring-x");
    server
        .post(&alias_path(a, "second"))
        .send()
        .await
        .expect_status(201);
    assert_eq!(server.metadata("second").await["id"], key);
    server
        .delete(&alias_path(a, "second"))
        .send()
        .await
        .expect_status(204);

    server.delete(&ap).send().await.expect_status(204);
    assert_eq!(server.state(a).await, 5);
    server.advance(31);
    server
        .post(&format!("{ap}/restore"))
        .send()
        .await
        .expect_status(201);
    server.delete(&ap).send().await.expect_status(204);
    server.advance(4 * 3600 + 1);
    server
        .delete(&format!("{ap}/purge"))
        .send()
        .await
        .expect_status(204);
    server
        .get(&ap)
        .send()
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
    // The alias is free again once its key is purged.
    let next = server.root_key("next").await;
    server
        .post(&alias_path(&next, a))
        .send()
        .await
        .expect_status(201);
    assert_eq!(server.metadata(a).await["id"], next);
}

#[tokio::test]
async fn an_alias_belongs_to_one_key_of_the_instance() {
    let server = TestServer::start().await;
    let first = server.root_key("first").await;
    let second = server.root_key("second").await;
    server
        .post(&alias_path(&first, "shared"))
        .send()
        .await
        .expect_status(201);
    server
        .post(&alias_path(&second, "shared"))
        .send()
        .await
        .assert_error(409, "KEY_ALIAS_NOT_UNIQUE_ERR");
    server
        .post("/api/v2/keys")
        .json(&key_collection(
            json!({"name": "third", "aliases": ["shared"]}),
        ))
        .send()
        .await
        .assert_error(409, "KEY_ALIAS_NOT_UNIQUE_ERR");
    assert_eq!(server.metadata("shared").await["id"], first);
    // Aliases are case-sensitive.
    server
        .post(&alias_path(&second, "Shared"))
        .send()
        .await
        .expect_status(201);
    assert_eq!(server.metadata("Shared").await["id"], second);
    // Removing an alias through the wrong key is refused.
    server
        .delete(&alias_path(&second, "shared"))
        .send()
        .await
        .assert_error(404, "KEY_ALIAS_NOT_FOUND_ERR");
    // Another instance may use the same alias.
    let (foreign, manager) = server.foreign_instance().await;
    let other = server
        .post("/api/v2/keys")
        .token(&manager.token)
        .instance(&foreign)
        .json(&key_collection(json!({"name": "x", "aliases": ["shared"]})))
        .send()
        .await
        .expect_status(201)
        .resource();
    assert_eq!(other["aliases"], json!(["shared"]));
    assert_eq!(server.metadata("shared").await["id"], first);
}

#[tokio::test]
async fn crypto_through_an_alias_follows_the_alias_when_it_moves() {
    let server = TestServer::start().await;
    let first = server.root_key("first").await;
    let second = server.root_key("second").await;
    let first_version = str_of(&server.metadata(&first).await["keyVersion"]["id"]);
    let second_version = str_of(&server.metadata(&second).await["keyVersion"]["id"]);
    server
        .post(&alias_path(&first, "moving"))
        .send()
        .await
        .expect_status(201);
    // Wrapping through the alias caches the key behind it.
    let (_, _, v) = server.wrap_new("moving").await;
    assert_eq!(v, first_version);
    server
        .delete(&alias_path(&first, "moving"))
        .send()
        .await
        .expect_status(204);
    server
        .action("moving", "wrap")
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
    server
        .post(&alias_path(&second, "moving"))
        .send()
        .await
        .expect_status(201);
    let (_, _, v) = server.wrap_new("moving").await;
    assert_eq!(v, second_version);
}

#[tokio::test]
async fn alias_naming_rules() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let reserved = [
        "allowed_ip",
        "key",
        "keys",
        "metadata",
        "policy",
        "policies",
        "registration",
        "registrations",
        "ring",
        "rings",
        "rotate",
        "wrap",
        "unwrap",
        "rewrap",
        "version",
        "versions",
    ];
    let long = "a".repeat(91);
    let uuid = Uuid::new_v4().to_string();
    let mut invalid: Vec<&str> = reserved.to_vec();
    invalid.extend([
        "a",
        "has.dot",
        "sp%20ace",
        "emoji%F0%9F%94%91",
        long.as_str(),
        uuid.as_str(),
    ]);
    for alias in invalid {
        let reply = server.post(&alias_path(&key, alias)).send().await;
        reply.assert_error(400, "INVALID_FIELD_ERR");
        assert_eq!(
            reply.json()["resources"][0]["reasons"][0]["target"]["name"],
            "alias",
            "{alias}"
        );
    }
    server
        .post(&alias_path(&key, &"b".repeat(90)))
        .send()
        .await
        .expect_status(201);
    server
        .post(&alias_path(&key, "ab"))
        .send()
        .await
        .expect_status(201);
    assert_eq!(
        server.metadata(&key).await["aliases"]
            .as_array()
            .expect("aliases")
            .len(),
        2
    );
}

#[tokio::test]
async fn at_most_five_aliases_per_key() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    for i in 0..5 {
        server
            .post(&alias_path(&key, &format!("alias-{i}")))
            .send()
            .await
            .expect_status(201);
    }
    server
        .post(&alias_path(&key, "alias-5"))
        .send()
        .await
        .assert_error(400, "KEY_ALIAS_QUOTA_ERR");
    server
        .delete(&alias_path(&key, "alias-0"))
        .send()
        .await
        .expect_status(204);
    server
        .post(&alias_path(&key, "alias-5"))
        .send()
        .await
        .expect_status(201);
}

#[tokio::test]
async fn deleting_an_alias() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    server
        .post(&alias_path(&key, "gone-soon"))
        .send()
        .await
        .expect_status(201);
    let reply = server
        .delete(&alias_path(&key, "gone-soon"))
        .send()
        .await
        .expect_status(204);
    assert!(reply.body.is_empty());
    assert_eq!(server.metadata(&key).await["aliases"], json!([]));
    server
        .get(&key_path("gone-soon"))
        .send()
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
    server
        .delete(&alias_path(&key, "gone-soon"))
        .send()
        .await
        .assert_error(404, "KEY_ALIAS_NOT_FOUND_ERR");
    server
        .delete(&alias_path(&Uuid::new_v4().to_string(), "gone-soon"))
        .send()
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
    server
        .post(&alias_path(&Uuid::new_v4().to_string(), "fresh"))
        .send()
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
}

#[tokio::test]
async fn aliases_cannot_be_added_to_destroyed_keys() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    server
        .post(&alias_path(&key, "kept"))
        .send()
        .await
        .expect_status(201);
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    server
        .post(&alias_path(&key, "late"))
        .send()
        .await
        .assert_error(410, "KEY_DELETED_ERR");
    // A destroyed key is still found through its alias.
    let got = server.metadata("kept").await;
    assert_eq!(str_of(&got["id"]), key);
    assert_eq!(got["state"], 5);
}

#[tokio::test]

async fn at_most_1000_aliases_per_instance() {
    let server = TestServer::start().await;
    for i in 0..200 {
        let aliases: Vec<String> = (0..5).map(|j| format!("k{i}-a{j}")).collect();
        server
            .create(json!({"name": "k", "aliases": aliases}))
            .await;
    }
    let key = server.root_key("one-too-many").await;
    let reply = server.post(&alias_path(&key, "alias-1001")).send().await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.text());
    assert_eq!(server.metadata(&key).await["aliases"], json!([]));
}
