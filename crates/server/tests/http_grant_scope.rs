//! Scoped grants over HTTP: listing and counting keys without read rights, policies limited to
//! one key ring, and policies limited to one instance of the account.

mod common;

use common::{TestServer, id_of, key_collection, key_path};
use keyward_iam::{IamStore, Instance, Role, ServiceKind};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

#[tokio::test]

async fn key_purge_alone_cannot_list_or_count_keys() {
    let server = TestServer::start().await;
    let purger = server.user(&[Role::KeyPurge], None).await;
    server.root_key("a").await;
    server.root_key("b").await;
    for reply in [
        server
            .get("/api/v2/keys?totalCount=true")
            .token(&purger.token)
            .send()
            .await,
        server
            .head("/api/v2/keys")
            .token(&purger.token)
            .send()
            .await,
    ] {
        match reply.status.as_u16() {
            403 => {}
            200 => assert_eq!(
                reply.header("key-total").as_deref(),
                Some("0"),
                "a caller who may read no key must not learn how many there are"
            ),
            other => panic!("unexpected status {other}: {}", reply.text()),
        }
        if reply.status.as_u16() == 200 && !reply.body.is_empty() {
            assert_eq!(reply.json()["metadata"]["totalCount"], 0);
        }
    }
}

/// Rings `ring-a` and `ring-b`; one root key in each and one in `default`.
async fn rings(server: &TestServer) -> (String, String, String) {
    for ring in ["ring-a", "ring-b"] {
        server
            .post(&format!("/api/v2/key_rings/{ring}"))
            .send()
            .await
            .expect_status(201);
    }
    let in_default = server.root_key("d").await;
    server.advance(1);
    let mut ids = Vec::new();
    for ring in ["ring-a", "ring-b"] {
        ids.push(id_of(
            &server
                .post("/api/v2/keys")
                .header("x-kms-key-ring", ring)
                .json(&key_collection(json!({"name": ring})))
                .send()
                .await
                .expect_status(201)
                .resource(),
        ));
        server.advance(1);
    }
    (in_default, ids[0].clone(), ids[1].clone())
}

#[tokio::test]
async fn ring_scoped_writer_reaches_only_its_ring() {
    let server = TestServer::start().await;
    let writer = server.user(&[Role::Writer], Some("ring-a")).await;
    let (in_default, in_a, in_b) = rings(&server).await;
    let t = writer.token.as_str();
    let create = |ring: Option<&'static str>| {
        let mut call = server
            .post("/api/v2/keys")
            .token(t)
            .json(&key_collection(json!({"name": "scoped"})));
        if let Some(ring) = ring {
            call = call.header("x-kms-key-ring", ring);
        }
        call.send()
    };
    let created = create(Some("ring-a")).await.expect_status(201).resource();
    assert_eq!(created["keyRingID"], "ring-a");
    create(None).await.assert_error(403, "FORBIDDEN_ERR");
    create(Some("ring-b"))
        .await
        .assert_error(403, "FORBIDDEN_ERR");

    for (key, expected) in [(&in_a, true), (&in_default, false), (&in_b, false)] {
        let p = key_path(key);
        let alias = format!("{p}/aliases/al-{}", &key[..8]);
        let results = [
            server.get(&p).token(t).send().await.status.as_u16(),
            server
                .get(&format!("{p}/versions"))
                .token(t)
                .send()
                .await
                .status
                .as_u16(),
            server
                .post(&format!("{p}/actions/wrap"))
                .token(t)
                .send()
                .await
                .status
                .as_u16(),
            server
                .post(&format!("{p}/actions/rotate"))
                .token(t)
                .send()
                .await
                .status
                .as_u16(),
            server.post(&alias).token(t).send().await.status.as_u16(),
        ];
        let want: [u16; 5] = if expected {
            [200, 200, 200, 204, 201]
        } else {
            [403; 5]
        };
        assert_eq!(results, want, "key in ring? {expected}");
    }
    // Moving needs rights on both the key's ring and the target ring.
    server
        .patch(&key_path(&in_a))
        .token(t)
        .json(&json!({"keyRingID": "ring-b"}))
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    server
        .patch(&key_path(&in_default))
        .token(t)
        .json(&json!({"keyRingID": "ring-a"}))
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    // A Writer cannot delete even in its ring.
    server
        .delete(&key_path(&in_a))
        .token(t)
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    // The listing shows only the ring's keys.
    let listed = server
        .get("/api/v2/keys")
        .token(t)
        .send()
        .await
        .expect_status(200);
    let mut ids: Vec<String> = listed.json()["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(id_of)
        .collect();
    ids.sort();
    let mut expected = vec![in_a.clone(), id_of(&created)];
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn ring_scoped_manager_manages_only_its_ring() {
    let server = TestServer::start().await;
    let manager = server.user(&[Role::Manager], Some("ring-a")).await;
    let (in_default, in_a, _) = rings(&server).await;
    let t = manager.token.as_str();
    for key in [&in_a, &in_default] {
        let allowed = key == &in_a;
        let disable = server
            .post(&format!("{}/actions/disable", key_path(key)))
            .token(t)
            .send()
            .await;
        let delete = server.delete(&key_path(key)).token(t).send().await;
        if allowed {
            disable.expect_status(204);
            delete.expect_status(204);
        } else {
            disable.assert_error(403, "FORBIDDEN_ERR");
            delete.assert_error(403, "FORBIDDEN_ERR");
        }
    }
    server
        .delete("/api/v2/key_rings/ring-b")
        .token(t)
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    server
        .post("/api/v2/key_rings/ring-c")
        .token(t)
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    server
        .delete("/api/v2/key_rings/ring-a?force=true")
        .token(t)
        .send()
        .await
        .expect_status(204);
    assert_eq!(server.state(&in_default).await, 1);
}

fn listed_ids(reply: &common::Reply) -> Vec<String> {
    reply.json()["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(id_of)
        .collect()
}

#[tokio::test]

async fn ring_scoped_listing_counts_only_visible_keys() {
    let server = TestServer::start().await;
    let reader = server.user(&[Role::Reader], Some("ring-b")).await;
    let (_, _, in_b) = rings(&server).await;
    let listed = server
        .get("/api/v2/keys?totalCount=true")
        .token(&reader.token)
        .send()
        .await
        .expect_status(200);
    assert_eq!(listed_ids(&listed), vec![in_b]);
    assert_eq!(listed.json()["metadata"]["collectionTotal"], 1);
    assert_eq!(listed.json()["metadata"]["totalCount"], 1);
    assert_eq!(listed.header("key-total").as_deref(), Some("1"));
    let head = server
        .head("/api/v2/keys")
        .token(&reader.token)
        .send()
        .await
        .expect_status(200);
    assert_eq!(head.header("key-total").as_deref(), Some("1"));
}

#[tokio::test]

async fn ring_scoped_listing_pages_over_visible_keys() {
    let server = TestServer::start().await;
    let reader = server.user(&[Role::Reader], Some("ring-b")).await;
    // In creation order: default, ring-a, ring-b; only the last is visible.
    let (_, _, in_b) = rings(&server).await;
    let page = server
        .get("/api/v2/keys?limit=1")
        .token(&reader.token)
        .send()
        .await
        .expect_status(200);
    assert_eq!(
        listed_ids(&page),
        vec![in_b],
        "the first page of what the caller may see is its one key"
    );
}

#[tokio::test]
async fn roles_on_one_instance_do_not_reach_another_instance_of_the_account() {
    let server = TestServer::start().await;
    let second = Instance {
        id: Uuid::new_v4(),
        account: server.account.clone(),
        service: ServiceKind::Kms,
        name: "second".into(),
        created_at: OffsetDateTime::now_utc(),
    };
    server
        .store
        .create_instance(&second)
        .await
        .expect("create instance");
    let second_id = second.id.to_string();
    let scoped = server.user(&[Role::Manager], None).await;
    let account_wide = server
        .user_in(&server.account, None, &[Role::Reader], None)
        .await;
    server
        .get("/api/v2/keys")
        .token(&scoped.token)
        .instance(&second_id)
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    server.root_key("first-instance-key").await;
    for instance in [server.instance.as_str(), second_id.as_str()] {
        let body: Value = server
            .get("/api/v2/keys")
            .token(&account_wide.token)
            .instance(instance)
            .send()
            .await
            .expect_status(200)
            .json();
        let expected = usize::from(instance == server.instance);
        assert_eq!(body["metadata"]["collectionTotal"], expected);
    }
    // Keys do not cross instances, even for the same caller.
    let key = server.root_key("k").await;
    server
        .get(&key_path(&key))
        .token(&account_wide.token)
        .instance(&second_id)
        .send()
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
}
