//! Concurrent requests over HTTP: the one-rotation-per-hour rule, state changes, alias
//! uniqueness and quota, and the purge and key-ring checks hold when requests race.

mod common;

use common::race::{count, race, statuses};
use common::{PAST_WINDOWS, TestServer, id_of, key_collection, key_path};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_one_of_concurrent_rotations_wins() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let calls = (0..8)
        .map(|_| server.post(&format!("{}/actions/rotate", key_path(&key))))
        .collect();
    let replies = race(calls).await;
    assert_eq!(count(&replies, 204), 1, "{:?}", statuses(&replies));
    for r in replies.iter().filter(|r| r.status.as_u16() != 204) {
        r.assert_error(409, "KEY_ROTATION_NOT_PERMITTED");
    }
    let versions = server
        .get(&format!("{}/versions", key_path(&key)))
        .send()
        .await
        .expect_status(200);
    assert_eq!(versions.json()["metadata"]["collectionTotal"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_one_of_concurrent_state_changes_wins() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let path = key_path(&key);

    let disables = race(
        (0..6)
            .map(|_| server.post(&format!("{path}/actions/disable")))
            .collect(),
    )
    .await;
    assert_eq!(count(&disables, 204), 1, "{:?}", statuses(&disables));
    assert_eq!(count(&disables, 409), 5, "{:?}", statuses(&disables));

    server.advance(31);
    let enables = race(
        (0..6)
            .map(|_| server.post(&format!("{path}/actions/enable")))
            .collect(),
    )
    .await;
    assert_eq!(count(&enables, 204), 1, "{:?}", statuses(&enables));

    let deletes = race((0..6).map(|_| server.delete(&path)).collect()).await;
    assert_eq!(count(&deletes, 204), 1, "{:?}", statuses(&deletes));
    for r in deletes.iter().filter(|r| r.status.as_u16() != 204) {
        r.assert_error(410, "KEY_DELETED_ERR");
    }

    server.advance(31);
    let restores = race(
        (0..6)
            .map(|_| server.post(&format!("{path}/restore")))
            .collect(),
    )
    .await;
    assert_eq!(count(&restores, 201), 1, "{:?}", statuses(&restores));
    assert_eq!(count(&restores, 409), 5, "{:?}", statuses(&restores));
    assert_eq!(server.state(&key).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_alias_cannot_be_taken_by_two_keys_at_once() {
    let server = TestServer::start().await;
    let mut keys = Vec::new();
    for i in 0..6 {
        keys.push(server.root_key(&format!("k{i}")).await);
    }
    let calls = keys
        .iter()
        .map(|k| server.post(&format!("{}/aliases/contested", key_path(k))))
        .collect();
    let replies = race(calls).await;
    assert_eq!(count(&replies, 201), 1, "{:?}", statuses(&replies));
    for r in replies.iter().filter(|r| r.status.as_u16() != 201) {
        r.assert_error(409, "KEY_ALIAS_NOT_UNIQUE_ERR");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ring_creations_of_one_id() {
    let server = TestServer::start().await;
    let replies = race(
        (0..6)
            .map(|_| server.post("/api/v2/key_rings/contested"))
            .collect(),
    )
    .await;
    assert_eq!(count(&replies, 201), 1, "{:?}", statuses(&replies));
    assert_eq!(count(&replies, 409), 5, "{:?}", statuses(&replies));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]

async fn concurrent_alias_additions_respect_the_quota() {
    let server = TestServer::start().await;
    for round in 0..5 {
        let key = server.root_key("k").await;
        let calls = (0..10)
            .map(|i| server.post(&format!("{}/aliases/r{round}-a{i}", key_path(&key))))
            .collect();
        let replies = race(calls).await;
        let aliases = server.metadata(&key).await["aliases"]
            .as_array()
            .expect("aliases")
            .len();
        assert!(
            aliases <= 5,
            "round {round}: {aliases} aliases on one key; statuses {:?}",
            statuses(&replies)
        );
        assert_eq!(count(&replies, 201), aliases);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]

async fn a_restore_racing_a_purge_never_loses_the_restored_key() {
    let server = TestServer::start().await;
    let mut keys = Vec::new();
    for i in 0..20 {
        let key = server.root_key(&format!("k{i}")).await;
        server
            .delete(&key_path(&key))
            .send()
            .await
            .expect_status(204);
        keys.push(key);
    }
    server.advance(PAST_WINDOWS);
    let mut lost = Vec::new();
    for key in &keys {
        let path = key_path(key);
        let replies = race(vec![
            server.post(&format!("{path}/restore")),
            server.delete(&format!("{path}/purge")),
        ])
        .await;
        let (restore, purge) = (&replies[0], &replies[1]);
        if restore.status.as_u16() == 201 && purge.status.as_u16() == 204 {
            let after = server.get(&path).send().await;
            lost.push(format!(
                "restore 201 and purge 204; the key now answers {}",
                after.status
            ));
        }
    }
    assert!(lost.is_empty(), "{}", lost.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]

async fn a_key_never_lands_in_a_deleted_ring() {
    let server = TestServer::start().await;
    let mut orphans = Vec::new();
    for i in 0..20 {
        let ring = format!("ring-{i}");
        server
            .post(&format!("/api/v2/key_rings/{ring}"))
            .send()
            .await
            .expect_status(201);
        let replies = race(vec![
            server
                .post("/api/v2/keys")
                .header("x-kms-key-ring", &ring)
                .json(&key_collection(json!({"name": "racer"}))),
            server.delete(&format!("/api/v2/key_rings/{ring}")),
        ])
        .await;
        if replies[0].status.as_u16() == 201 && replies[1].status.as_u16() == 204 {
            let key = id_of(&replies[0].resource());
            let ring_now = server.metadata(&key).await["keyRingID"].clone();
            orphans.push(format!("key {key} is in {ring_now}, which was deleted"));
        }
    }
    assert!(orphans.is_empty(), "{}", orphans.join("\n"));
}
