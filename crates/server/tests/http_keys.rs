//! Key resources over HTTP: create and import (and their refusals), get with and without
//! payload, metadata, and moving between rings.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{KEY_TYPE, TestServer, id_of, key_collection, key_path, str_of};
use serde_json::{Value, json};
use uuid::Uuid;

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[tokio::test]
async fn create_root_key_returns_the_documented_resource() {
    let server = TestServer::start().await;
    let reply = server
        .post("/api/v2/keys")
        .header("content-type", KEY_TYPE)
        .header("accept", "application/json")
        .json(&key_collection(json!({
            "type": KEY_TYPE, "name": "root-1", "extractable": false,
            "description": "a root key", "tags": ["t1", "t2"],
        })))
        .send()
        .await
        .expect_status(201);
    reply.assert_json_content_type();
    let v = reply.json();
    assert_eq!(v["metadata"]["collectionType"], KEY_TYPE);
    assert_eq!(v["metadata"]["collectionTotal"], 1);
    assert!(v["metadata"].get("totalCount").is_none());
    let k = &v["resources"][0];
    let id = id_of(k);
    assert!(Uuid::parse_str(&id).is_ok());
    assert_eq!(k["type"], KEY_TYPE);
    assert_eq!(k["name"], "root-1");
    assert_eq!(k["description"], "a root key");
    assert_eq!(k["tags"], json!(["t1", "t2"]));
    assert_eq!(k["state"], 1);
    assert_eq!(k["extractable"], false);
    assert_eq!(k["imported"], false);
    assert_eq!(k["deleted"], false);
    assert_eq!(k["keyRingID"], "default");
    assert_eq!(k["aliases"], json!([]));
    assert_eq!(k["dualAuthDelete"]["enabled"], false);
    assert_eq!(k["createdBy"], server.admin_iam_id);
    assert_eq!(k["algorithmBitSize"], 256);
    assert!(k["creationDate"].as_str().expect("date").ends_with('Z'));
    assert!(k["lastUpdateDate"].is_string());
    assert!(Uuid::parse_str(&str_of(&k["keyVersion"]["id"])).is_ok());
    assert!(k["keyVersion"]["creationDate"].is_string());
    assert_eq!(
        k["crn"],
        format!(
            "crn:v1:keyward:local:kms:local:a/{}:{}:key:{id}",
            server.account, server.instance
        )
    );
    for absent in [
        "payload",
        "deletionDate",
        "deletedBy",
        "lastRotateDate",
        "expirationDate",
        "restoreAllowed",
        "purgeAllowed",
    ] {
        assert!(k.get(absent).is_none(), "{absent} present: {k}");
    }
    // What create returned is what metadata shows.
    assert_eq!(server.metadata(&id).await["keyVersion"], k["keyVersion"]);
}

#[tokio::test]
async fn create_accepts_the_shapes_the_clients_send() {
    let server = TestServer::start().await;
    // Go: no content type, `Tags` with a capital T, `type` field.
    let go = server
        .post("/api/v2/keys")
        .raw(
            &key_collection(json!({"type": KEY_TYPE, "name": "go", "extractable": false,
                                   "Tags": ["go-tag"]}))
            .to_string(),
        )
        .send()
        .await
        .expect_status(201)
        .resource();
    assert_eq!(go["tags"], json!(["go-tag"]));
    // No metadata at all; extractable omitted means a root key.
    let bare = server
        .post("/api/v2/keys")
        .json(&json!({"resources": [{"name": "bare"}]}))
        .send()
        .await
        .expect_status(201)
        .resource();
    assert_eq!(bare["extractable"], false);
    // Prefer: return=minimal still creates.
    server
        .post("/api/v2/keys")
        .header("prefer", "return=minimal")
        .json(&key_collection(json!({"name": "minimal"})))
        .send()
        .await
        .expect_status(201);
}

#[tokio::test]
async fn standard_key_payload_is_shown_only_where_documented() {
    let server = TestServer::start().await;
    let material = b64(b"my standard secret");
    let plain = server
        .create(json!({"name": "std", "extractable": true, "payload": material}))
        .await;
    assert!(
        plain.get("payload").is_none(),
        "create without Prefer: {plain}"
    );
    assert_eq!(plain["imported"], true);
    let id = id_of(&plain);
    let got = server
        .get(&key_path(&id))
        .send()
        .await
        .expect_status(200)
        .resource();
    assert_eq!(got["payload"], material);
    assert!(server.metadata(&id).await.get("payload").is_none());

    let represented = server
        .post("/api/v2/keys")
        .header("prefer", "return=representation")
        .json(&key_collection(json!({"name": "gen", "extractable": true})))
        .send()
        .await
        .expect_status(201)
        .resource();
    let generated = STANDARD
        .decode(str_of(&represented["payload"]))
        .expect("base64 payload");
    assert_eq!(generated.len(), 32);
    assert_eq!(represented["imported"], false);

    // Root keys never show material, not even with return=representation.
    let root = server
        .post("/api/v2/keys")
        .header("prefer", "return=representation")
        .json(&key_collection(
            json!({"name": "root", "extractable": false}),
        ))
        .send()
        .await
        .expect_status(201)
        .resource();
    assert!(root.get("payload").is_none());
    let root_got = server
        .get(&key_path(&id_of(&root)))
        .send()
        .await
        .expect_status(200)
        .resource();
    assert!(root_got.get("payload").is_none());
    // Listing never shows payloads.
    let list = server.get("/api/v2/keys").send().await.expect_status(200);
    for k in list.json()["resources"].as_array().expect("array") {
        assert!(k.get("payload").is_none(), "{k}");
    }
}

#[tokio::test]
async fn import_root_key_of_each_size() {
    let server = TestServer::start().await;
    for (len, bits) in [(16, 128), (24, 192), (32, 256)] {
        let k = server
            .create(json!({"name": "imp", "extractable": false, "payload": b64(&vec![7u8; len])}))
            .await;
        assert_eq!(k["imported"], true);
        assert_eq!(k["algorithmBitSize"], bits);
        assert!(k.get("payload").is_none());
    }
}

async fn create_raw(server: &TestServer, body: &str) -> common::Reply {
    server
        .post("/api/v2/keys")
        .header("content-type", KEY_TYPE)
        .raw(body)
        .send()
        .await
}

async fn create_resource(server: &TestServer, resource: Value) -> common::Reply {
    create_raw(server, &key_collection(resource).to_string()).await
}

#[tokio::test]
async fn create_refusals() {
    let server = TestServer::start().await;
    create_raw(&server, "")
        .await
        .assert_error(400, "NO_BODY_ERR");
    create_raw(&server, "null")
        .await
        .assert_error(400, "NO_BODY_ERR");
    create_raw(&server, "{not json")
        .await
        .assert_error(400, "BAD_BODY_ERR");
    create_raw(&server, "[]")
        .await
        .assert_error(400, "BAD_BODY_ERR");
    let two = json!({
        "metadata": {"collectionType": KEY_TYPE, "collectionTotal": 2},
        "resources": [{"name": "a"}, {"name": "b"}],
    });
    create_raw(&server, &two.to_string())
        .await
        .assert_error(400, "BAD_BODY_ERR");
    let mismatch = json!({
        "metadata": {"collectionType": KEY_TYPE, "collectionTotal": 2},
        "resources": [{"name": "a"}],
    });
    create_raw(&server, &mismatch.to_string())
        .await
        .assert_error(400, "COLLECTION_TOTAL_MISMATCH_ERR");
    let none = json!({"metadata": {"collectionType": KEY_TYPE, "collectionTotal": 0},
                      "resources": []});
    create_raw(&server, &none.to_string())
        .await
        .assert_error(400, "BAD_BODY_ERR");

    let field_errors: Vec<(Value, &str)> = vec![
        (json!({"extractable": false}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(91)}), "name"),
        (json!({"name": "n", "payload": b64(&[1u8; 20])}), "payload"),
        (
            json!({"name": "n", "payload": "***not base64***"}),
            "payload",
        ),
        (
            json!({"name": "n", "extractable": true, "payload": b64(&vec![1u8; 7501])}),
            "payload",
        ),
        (
            json!({"name": "n", "expirationDate": "2001-01-01T00:00:00Z"}),
            "expirationDate",
        ),
        (
            json!({"name": "n", "expirationDate": "tomorrow"}),
            "expirationDate",
        ),
        (
            json!({"name": "n", "description": "d".repeat(241)}),
            "description",
        ),
        (json!({"name": "n", "tags": ["a:b"]}), "tags"),
        (json!({"name": "n", "aliases": ["wrap"]}), "aliases"),
        (
            json!({"name": "n", "aliases": [Uuid::new_v4().to_string()]}),
            "aliases",
        ),
    ];
    for (resource, field) in field_errors {
        let reply = create_resource(&server, resource.clone()).await;
        reply.assert_error(400, "INVALID_FIELD_ERR");
        assert_eq!(
            reply.json()["resources"][0]["reasons"][0]["target"]["name"],
            field,
            "{resource}"
        );
    }
    create_resource(
        &server,
        json!({"name": "n", "aliases": ["a1", "a2", "a3", "a4", "a5", "a6"]}),
    )
    .await
    .assert_error(400, "KEY_ALIAS_QUOTA_ERR");
    create_resource(
        &server,
        json!({"name": "n", "payload": b64(&[1u8; 32]),
               "encryptionAlgorithm": "RSAES_OAEP_SHA_256", "encryptedNonce": "AA==", "iv": "AA=="}),
    )
    .await
    .assert_error(404, "IMPORT_TOKEN_NOT_FOUND_ERR"); // secure import needs the instance's token
    server
        .post("/api/v2/keys")
        .header("x-kms-key-ring", "no-such-ring")
        .json(&key_collection(json!({"name": "n"})))
        .send()
        .await
        .assert_error(404, "KEY_RING_NOT_FOUND_ERR");
    server
        .post("/api/v2/keys")
        .header("x-kms-key-ring", "bad_ring!")
        .json(&key_collection(json!({"name": "n"})))
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    // None of the refused requests created anything.
    let list = server.get("/api/v2/keys?state=0,1,2,3,5").send().await;
    assert_eq!(list.header("key-total").as_deref(), Some("0"));
}

#[tokio::test]
async fn get_and_metadata_of_unknown_keys_are_404() {
    let server = TestServer::start().await;
    for id in [
        Uuid::new_v4().to_string(),
        "no-such-alias".into(),
        "!!".into(),
    ] {
        server
            .get(&key_path(&id))
            .send()
            .await
            .assert_error(404, "KEY_NOT_FOUND_ERR");
        server
            .get(&format!("{}/metadata", key_path(&id)))
            .send()
            .await
            .assert_error(404, "KEY_NOT_FOUND_ERR");
    }
}

#[tokio::test]
async fn patch_moves_a_key_between_rings() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    server
        .post("/api/v2/key_rings/ring-b")
        .send()
        .await
        .expect_status(201);
    let moved = server
        .patch(&key_path(&key))
        .header("content-type", KEY_TYPE)
        .json(&json!({"keyRingID": "ring-b"}))
        .send()
        .await
        .expect_status(200);
    assert_eq!(moved.json()["metadata"]["collectionType"], KEY_TYPE);
    assert_eq!(moved.resource()["keyRingID"], "ring-b");
    assert_eq!(server.metadata(&key).await["keyRingID"], "ring-b");
    // The Go client sends `KeyRingID` and no content type.
    let back = server
        .patch(&key_path(&key))
        .raw(r#"{"KeyRingID":"default"}"#)
        .send()
        .await
        .expect_status(200);
    assert_eq!(back.resource()["keyRingID"], "default");

    let patch = |body: &str| server.patch(&key_path(&key)).raw(body).send();
    patch("").await.assert_error(400, "NO_BODY_ERR");
    patch("null").await.assert_error(400, "NO_BODY_ERR");
    patch("{}").await.assert_error(400, "BAD_BODY_ERR");
    patch(r#"{"keyRingID":"nope-ring"}"#)
        .await
        .assert_error(404, "KEY_RING_NOT_FOUND_ERR");
    patch(r#"{"keyRingID":"bad_ring"}"#)
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    server
        .patch(&key_path(&Uuid::new_v4().to_string()))
        .json(&json!({"keyRingID": "ring-b"}))
        .send()
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    patch(r#"{"keyRingID":"ring-b"}"#)
        .await
        .assert_error(410, "KEY_DELETED_ERR");
}
