//! Key rings over HTTP: create (bodyless, any content type), list, delete with and without
//! `force`, the reserved `default` ring, id rules and the per-instance quota.

mod common;

use common::{KEY_RING_TYPE, TestServer, id_of, key_collection, key_path};
use serde_json::json;

fn ring_path(ring: &str) -> String {
    format!("/api/v2/key_rings/{ring}")
}

async fn key_in(server: &TestServer, ring: &str) -> String {
    id_of(
        &server
            .post("/api/v2/keys")
            .header("x-kms-key-ring", ring)
            .json(&key_collection(json!({"name": "k"})))
            .send()
            .await
            .expect_status(201)
            .resource(),
    )
}

fn ring_ids(reply: &common::Reply) -> Vec<String> {
    reply.json()["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(id_of)
        .collect()
}

#[tokio::test]
async fn create_is_bodyless_and_tolerates_any_content_type() {
    let server = TestServer::start().await;
    let variants: [(Option<&str>, &str); 5] = [
        (None, ""),
        (Some("application/json"), ""),
        (Some("application/json"), "{}"),
        (Some("application/json"), "null"),
        (Some("application/vnd.ibm.kms.key_ring+json"), ""),
    ];
    for (i, (ct, body)) in variants.into_iter().enumerate() {
        let mut call = server.post(&ring_path(&format!("ring-{i}")));
        if let Some(ct) = ct {
            call = call.header("content-type", ct);
        }
        let reply = call.raw(body).send().await.expect_status(201);
        assert!(reply.body.is_empty(), "create returns no body");
    }
}

#[tokio::test]
async fn list_shows_default_first_then_rings_in_creation_order() {
    let server = TestServer::start().await;
    let only_default = server
        .get("/api/v2/key_rings")
        .send()
        .await
        .expect_status(200);
    only_default.assert_json_content_type();
    assert_eq!(
        only_default.json()["metadata"]["collectionType"],
        KEY_RING_TYPE
    );
    assert_eq!(ring_ids(&only_default), vec!["default"]);

    for ring in ["ring-b", "ring-a"] {
        server
            .post(&ring_path(ring))
            .send()
            .await
            .expect_status(201);
        // Distinct creation times, so the order is by creation and not by id.
        server.advance(1);
    }
    let all = server
        .get("/api/v2/key_rings")
        .send()
        .await
        .expect_status(200);
    assert_eq!(ring_ids(&all), vec!["default", "ring-b", "ring-a"]);
    assert_eq!(all.json()["metadata"]["collectionTotal"], 3);
    assert!(all.json()["metadata"].get("totalCount").is_none());
    let created = &all.json()["resources"][1];
    assert_eq!(created["createdBy"], server.admin_iam_id);
    assert!(created["creationDate"].is_string());
    assert!(all.json()["resources"][0]["creationDate"].is_string());

    let page = server
        .get("/api/v2/key_rings?limit=1&offset=1&totalCount=true")
        .send()
        .await
        .expect_status(200);
    assert_eq!(ring_ids(&page), vec!["ring-b"]);
    assert_eq!(page.json()["metadata"]["totalCount"], 3);
    assert_eq!(page.json()["metadata"]["collectionTotal"], 1);
    server
        .get("/api/v2/key_rings?limit=x")
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
}

#[tokio::test]
async fn create_refusals() {
    let server = TestServer::start().await;
    server
        .post(&ring_path("ring-a"))
        .send()
        .await
        .expect_status(201);
    server
        .post(&ring_path("ring-a"))
        .send()
        .await
        .assert_error(409, "KEY_RING_EXISTS_ERR");
    server
        .post(&ring_path("default"))
        .send()
        .await
        .assert_error(400, "KEY_RING_RESERVED_ERR");
    let long = "r".repeat(101);
    for bad in ["r", "bad_ring", "dots.here", long.as_str()] {
        server
            .post(&ring_path(bad))
            .send()
            .await
            .assert_error(400, "INVALID_FIELD_ERR");
    }
    server
        .post(&ring_path(&"r".repeat(100)))
        .send()
        .await
        .expect_status(201);
}

#[tokio::test]
async fn an_instance_has_at_most_50_rings_including_default() {
    let server = TestServer::start().await;
    for i in 0..49 {
        server
            .post(&ring_path(&format!("ring-{i}")))
            .send()
            .await
            .expect_status(201);
    }
    server
        .post(&ring_path("ring-49"))
        .send()
        .await
        .assert_error(400, "KEY_RING_QUOTA_ERR");
    let list = server
        .get("/api/v2/key_rings?totalCount=true")
        .send()
        .await
        .expect_status(200);
    assert_eq!(list.json()["metadata"]["totalCount"], 50);
    server
        .delete(&ring_path("ring-0"))
        .send()
        .await
        .expect_status(204);
    server
        .post(&ring_path("ring-49"))
        .send()
        .await
        .expect_status(201);
}

#[tokio::test]
async fn delete_refuses_rings_with_keys_unless_all_are_destroyed_and_forced() {
    let server = TestServer::start().await;
    server
        .post(&ring_path("ring-a"))
        .send()
        .await
        .expect_status(201);
    let key = key_in(&server, "ring-a").await;
    for query in ["", "?force=true"] {
        server
            .delete(&format!("{}{query}", ring_path("ring-a")))
            .send()
            .await
            .assert_error(409, "KEY_RING_KEYS_NOT_DELETED");
    }
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    // A destroyed key still blocks an unforced delete.
    server
        .delete(&ring_path("ring-a"))
        .send()
        .await
        .assert_error(409, "KEY_RING_KEYS_NOT_DELETED");
    server
        .delete(&format!("{}?force=false", ring_path("ring-a")))
        .send()
        .await
        .assert_error(409, "KEY_RING_KEYS_NOT_DELETED");
    let reply = server
        .delete(&format!("{}?force=true", ring_path("ring-a")))
        .send()
        .await
        .expect_status(204);
    assert!(reply.body.is_empty());
    // The destroyed key moved to `default` and can still be restored there.
    assert_eq!(server.metadata(&key).await["keyRingID"], "default");
    server.advance(31);
    server
        .post(&format!("{}/restore", key_path(&key)))
        .send()
        .await
        .expect_status(201);
    let rings = server
        .get("/api/v2/key_rings")
        .send()
        .await
        .expect_status(200);
    assert_eq!(ring_ids(&rings), vec!["default"]);
    server
        .delete(&format!("{}?force=maybe", ring_path("ring-a")))
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
}

#[tokio::test]
async fn delete_an_emptied_ring_and_unknown_or_reserved_rings() {
    let server = TestServer::start().await;
    server
        .post(&ring_path("ring-a"))
        .send()
        .await
        .expect_status(201);
    let key = key_in(&server, "ring-a").await;
    server
        .patch(&key_path(&key))
        .json(&json!({"keyRingID": "default"}))
        .send()
        .await
        .expect_status(200);
    server
        .delete(&ring_path("ring-a"))
        .send()
        .await
        .expect_status(204);
    server
        .delete(&ring_path("ring-a"))
        .send()
        .await
        .assert_error(404, "KEY_RING_NOT_FOUND_ERR");
    server
        .delete(&ring_path("never-made"))
        .send()
        .await
        .assert_error(404, "KEY_RING_NOT_FOUND_ERR");
    server
        .delete(&ring_path("default"))
        .send()
        .await
        .assert_error(400, "KEY_RING_RESERVED_ERR");
    server
        .delete(&ring_path("bad_ring"))
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    // A deleted ring can no longer receive keys, and can be created again.
    server
        .post("/api/v2/keys")
        .header("x-kms-key-ring", "ring-a")
        .json(&key_collection(json!({"name": "k"})))
        .send()
        .await
        .assert_error(404, "KEY_RING_NOT_FOUND_ERR");
    server
        .post(&ring_path("ring-a"))
        .send()
        .await
        .expect_status(201);
    key_in(&server, "ring-a").await;
}

#[tokio::test]
async fn rings_are_per_instance() {
    let server = TestServer::start().await;
    server
        .post(&ring_path("ring-a"))
        .send()
        .await
        .expect_status(201);
    let (foreign, manager) = server.foreign_instance().await;
    let theirs = server
        .get("/api/v2/key_rings")
        .token(&manager.token)
        .instance(&foreign)
        .send()
        .await
        .expect_status(200);
    assert_eq!(ring_ids(&theirs), vec!["default"]);
    server
        .post(&ring_path("ring-a"))
        .token(&manager.token)
        .instance(&foreign)
        .send()
        .await
        .expect_status(201);
}
