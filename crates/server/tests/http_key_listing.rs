//! Listing and counting keys over HTTP (`GET`/`HEAD /api/v2/keys` with every filter, paging and
//! ring restriction) and key versions.

mod common;

use common::{KEY_TYPE, TestServer, VERSION_TYPE, id_of, key_collection, key_path, str_of};
use serde_json::json;
use uuid::Uuid;
/// Three root keys (one deleted, one disabled) and two standard keys, in creation order.
async fn populated() -> (TestServer, Vec<String>) {
    let server = TestServer::start().await;
    let mut ids = Vec::new();
    // One second apart, so that the listing order (creation time, then id) is known.
    for i in 0..3 {
        ids.push(server.root_key(&format!("root-{i}")).await);
        server.advance(1);
    }
    for i in 0..2 {
        ids.push(server.standard_key(&format!("std-{i}")).await);
        server.advance(1);
    }
    server
        .delete(&key_path(&ids[0]))
        .send()
        .await
        .expect_status(204);
    server.action(&ids[1], "disable").await.expect_status(204);
    (server, ids)
}

fn ids_in(reply: &common::Reply) -> Vec<String> {
    reply.json()["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(id_of)
        .collect()
}

#[tokio::test]
async fn list_filters_pages_and_counts() {
    let (server, ids) = populated().await;
    let list = |q: &str| server.get(&format!("/api/v2/keys{q}")).send();
    let all = list("").await.expect_status(200);
    all.assert_json_content_type();
    assert_eq!(all.json()["metadata"]["collectionType"], KEY_TYPE);
    assert_eq!(
        ids_in(&all),
        ids[1..].to_vec(),
        "destroyed keys are not listed"
    );
    assert_eq!(all.json()["metadata"]["collectionTotal"], 4);
    assert!(all.json()["metadata"].get("totalCount").is_none());
    assert_eq!(all.header("key-total").as_deref(), Some("4"));

    // The Python SDK always sends `state=`; empty means the default.
    let empty_state = list("?state=").await.expect_status(200);
    assert_eq!(ids_in(&empty_state), ids[1..].to_vec());

    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("?limit=2", ids[1..3].to_vec(), "4"),
        ("?limit=2&offset=2", ids[3..5].to_vec(), "4"),
        ("?offset=3", ids[4..5].to_vec(), "4"),
        ("?offset=10", vec![], "4"),
        ("?state=5", ids[0..1].to_vec(), "1"),
        ("?state=2", ids[1..2].to_vec(), "1"),
        (
            "?state=1,5",
            vec![
                ids[0].clone(),
                ids[2].clone(),
                ids[3].clone(),
                ids[4].clone(),
            ],
            "4",
        ),
        ("?state=0,1,2,3,5", ids.clone(), "5"),
        ("?state=3", vec![], "0"),
        ("?extractable=true", ids[3..5].to_vec(), "2"),
        ("?extractable=false", ids[1..3].to_vec(), "2"),
        ("?extractable=false&state=1,2,5", ids[0..3].to_vec(), "3"),
        ("?extractable=&state=", ids[1..].to_vec(), "4"),
    ];
    for (q, expected, total) in cases {
        let reply = list(q).await.expect_status(200);
        assert_eq!(ids_in(&reply), expected, "{q}");
        assert_eq!(reply.header("key-total").as_deref(), Some(total), "{q}");
        assert_eq!(
            reply.json()["metadata"]["collectionTotal"],
            expected.len(),
            "{q}"
        );
        for k in reply.json()["resources"].as_array().expect("array") {
            assert!(k.get("payload").is_none());
        }
    }
    let counted = list("?limit=1&totalCount=true").await.expect_status(200);
    assert_eq!(counted.json()["metadata"]["totalCount"], 4);
    assert_eq!(counted.json()["metadata"]["collectionTotal"], 1);

    for bad in [
        "?limit=5001",
        "?limit=-1",
        "?limit=abc",
        "?offset=x",
        "?state=4",
        "?state=1,x",
        "?extractable=maybe",
        "?totalCount=yes",
    ] {
        list(bad).await.assert_error(400, "INVALID_FIELD_ERR");
    }
}

#[tokio::test]
async fn head_counts_keys_without_a_body() {
    let (server, _) = populated().await;
    for (q, total) in [
        ("", "4"),
        ("?state=", "4"),
        ("?state=5", "1"),
        ("?extractable=true", "2"),
        ("?limit=1", "4"),
    ] {
        let reply = server
            .head(&format!("/api/v2/keys{q}"))
            .send()
            .await
            .expect_status(200);
        assert!(reply.body.is_empty(), "HEAD{q} has a body");
        assert_eq!(reply.header("key-total").as_deref(), Some(total), "HEAD{q}");
    }
}

#[tokio::test]
async fn list_restricted_to_a_ring() {
    let server = TestServer::start().await;
    server
        .post("/api/v2/key_rings/ring-a")
        .send()
        .await
        .expect_status(201);
    let in_default = server.root_key("d").await;
    server.advance(1);
    let in_ring = id_of(
        &server
            .post("/api/v2/keys")
            .header("x-kms-key-ring", "ring-a")
            .json(&key_collection(json!({"name": "r"})))
            .send()
            .await
            .expect_status(201)
            .resource(),
    );
    assert_eq!(server.metadata(&in_ring).await["keyRingID"], "ring-a");
    let ring = server
        .get("/api/v2/keys")
        .header("x-kms-key-ring", "ring-a")
        .send()
        .await
        .expect_status(200);
    assert_eq!(ids_in(&ring), vec![in_ring.clone()]);
    assert_eq!(ring.header("key-total").as_deref(), Some("1"));
    let all = server.get("/api/v2/keys").send().await.expect_status(200);
    assert_eq!(ids_in(&all), vec![in_default, in_ring]);
}

fn version_ids(reply: &common::Reply) -> Vec<String> {
    reply.json()["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(id_of)
        .collect()
}

#[tokio::test]
async fn versions_are_listed_newest_first() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let path = format!("{}/versions", key_path(&key));
    let first = server.get(&path).send().await.expect_status(200);
    assert_eq!(first.json()["metadata"]["collectionType"], VERSION_TYPE);
    let v1 = str_of(&server.metadata(&key).await["keyVersion"]["id"]);
    assert_eq!(version_ids(&first), vec![v1.clone()]);
    assert!(first.resource()["creationDate"].is_string());

    server.action(&key, "rotate").await.expect_status(204);
    let v2 = str_of(&server.metadata(&key).await["keyVersion"]["id"]);
    server.advance(3601);
    server.action(&key, "rotate").await.expect_status(204);
    let v3 = str_of(&server.metadata(&key).await["keyVersion"]["id"]);
    assert!(v1 != v2 && v2 != v3 && v1 != v3);

    let all = server.get(&path).send().await.expect_status(200);
    assert_eq!(version_ids(&all), vec![v3.clone(), v2.clone(), v1.clone()]);
    assert_eq!(all.json()["metadata"]["collectionTotal"], 3);
    assert!(all.json()["metadata"].get("totalCount").is_none());
    let page = server
        .get(&format!("{path}?limit=1&offset=1&totalCount=true"))
        .send()
        .await
        .expect_status(200);
    assert_eq!(version_ids(&page), vec![v2]);
    assert_eq!(page.json()["metadata"]["totalCount"], 3);
    assert_eq!(page.json()["metadata"]["collectionTotal"], 1);
    server
        .get(&format!("{path}?limit=9999"))
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
}

#[tokio::test]
async fn versions_of_non_active_keys_need_all_key_states() {
    let server = TestServer::start().await;
    let disabled = server.root_key("disabled").await;
    server.action(&disabled, "disable").await.expect_status(204);
    let deleted = server.root_key("deleted").await;
    server
        .delete(&key_path(&deleted))
        .send()
        .await
        .expect_status(204);
    let expiring = server.expiring_root_key("expiring", 60).await;
    server.advance(61);
    for key in [&disabled, &deleted, &expiring] {
        let path = format!("{}/versions", key_path(key));
        server
            .get(&path)
            .send()
            .await
            .assert_error(409, "KEY_ACTION_INVALID_STATE_ERR");
        server
            .get(&format!("{path}?allKeyStates=false"))
            .send()
            .await
            .assert_error(409, "KEY_ACTION_INVALID_STATE_ERR");
        let ok = server
            .get(&format!("{path}?allKeyStates=true"))
            .send()
            .await
            .expect_status(200);
        assert_eq!(ok.json()["metadata"]["collectionTotal"], 1);
    }
    server
        .get(&format!(
            "{}/versions",
            key_path(&Uuid::new_v4().to_string())
        ))
        .send()
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
}
