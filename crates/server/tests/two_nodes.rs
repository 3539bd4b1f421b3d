//! Several nodes, one truth: two nodes on one PostgreSQL database, with the same requests racing
//! across them. One rotation per hour, one winner per state change, alias and key-ring quotas,
//! a restore racing a purge, and the encryption budget of a key version hold across nodes as
//! they do on one.

mod common;

use std::collections::HashMap;

use common::database::Database;
use common::race::{count, race, statuses};
use common::{Call, PAST_WINDOWS, TestServer, key_path, str_of};
use keyward_kms::KmsConfig;
use keyward_server::ServeSettings;
use serde_json::json;

/// Two nodes on a fresh database; the database is dropped after the nodes.
async fn two_nodes(kms: KmsConfig) -> (Database, TestServer, TestServer) {
    let db = Database::create();
    let url = db.url.clone();
    let a = TestServer::start_adjusted(|s| ServeSettings {
        database_url: Some(url),
        kms,
        ..s
    })
    .await;
    let b = a.another_node().await;
    (db, a, b)
}

/// `n` calls, alternately to node A and node B.
fn across(
    a: &TestServer,
    b: &TestServer,
    n: usize,
    call: impl Fn(&TestServer) -> Call,
) -> Vec<Call> {
    (0..n)
        .map(|i| call(if i % 2 == 0 { a } else { b }))
        .collect()
}

/// Moves both nodes' clocks forward.
fn advance(a: &TestServer, b: &TestServer, seconds: i64) {
    a.advance(seconds);
    b.advance(seconds);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_rotation_wins_across_nodes() {
    let (_db, a, b) = two_nodes(KmsConfig::default()).await;
    let key = a.root_key("k").await;
    let path = format!("{}/actions/rotate", key_path(&key));
    let replies = race(across(&a, &b, 8, |n| n.post(&path))).await;
    assert_eq!(count(&replies, 204), 1, "{:?}", statuses(&replies));
    for r in replies.iter().filter(|r| r.status.as_u16() != 204) {
        r.assert_error(409, "KEY_ROTATION_NOT_PERMITTED");
    }
    for node in [&a, &b] {
        let versions = node
            .get(&format!("{}/versions", key_path(&key)))
            .send()
            .await
            .expect_status(200);
        assert_eq!(versions.json()["metadata"]["collectionTotal"], 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_state_change_wins_across_nodes() {
    let (_db, a, b) = two_nodes(KmsConfig::default()).await;
    let key = a.root_key("k").await;
    let path = key_path(&key);

    let disables = race(across(&a, &b, 6, |n| {
        n.post(&format!("{path}/actions/disable"))
    }))
    .await;
    assert_eq!(count(&disables, 204), 1, "{:?}", statuses(&disables));
    assert_eq!(count(&disables, 409), 5, "{:?}", statuses(&disables));

    advance(&a, &b, 31);
    let enables = race(across(&a, &b, 6, |n| {
        n.post(&format!("{path}/actions/enable"))
    }))
    .await;
    assert_eq!(count(&enables, 204), 1, "{:?}", statuses(&enables));
    assert_eq!(count(&enables, 409), 5, "{:?}", statuses(&enables));

    let deletes = race(across(&a, &b, 6, |n| n.delete(&path))).await;
    assert_eq!(count(&deletes, 204), 1, "{:?}", statuses(&deletes));
    for r in deletes.iter().filter(|r| r.status.as_u16() != 204) {
        r.assert_error(410, "KEY_DELETED_ERR");
    }

    advance(&a, &b, 31);
    let restores = race(across(&a, &b, 6, |n| n.post(&format!("{path}/restore")))).await;
    assert_eq!(count(&restores, 201), 1, "{:?}", statuses(&restores));
    assert_eq!(count(&restores, 409), 5, "{:?}", statuses(&restores));
    assert_eq!(a.state(&key).await, 1);
    assert_eq!(b.state(&key).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alias_quotas_hold_across_nodes() {
    let (_db, a, b) = two_nodes(KmsConfig {
        max_aliases_per_instance: 12,
        ..KmsConfig::default()
    })
    .await;

    // Five per key: ten additions to one key, half on each node.
    let key = a.root_key("k").await;
    let replies = race(
        (0..10)
            .map(|i| {
                let node = if i % 2 == 0 { &a } else { &b };
                node.post(&format!("{}/aliases/a{i}", key_path(&key)))
            })
            .collect(),
    )
    .await;
    assert_eq!(count(&replies, 201), 5, "{:?}", statuses(&replies));
    for r in replies.iter().filter(|r| r.status.as_u16() != 201) {
        r.assert_error(400, "KEY_ALIAS_QUOTA_ERR");
    }
    for node in [&a, &b] {
        let aliases = node.metadata(&key).await["aliases"]
            .as_array()
            .expect("aliases")
            .len();
        assert_eq!(aliases, 5);
    }

    // Twelve per instance (five are taken): one addition to each of ten keys at once.
    let mut keys = Vec::new();
    for i in 0..10 {
        keys.push(a.root_key(&format!("q{i}")).await);
    }
    let replies = race(
        keys.iter()
            .enumerate()
            .map(|(i, k)| {
                let node = if i % 2 == 0 { &a } else { &b };
                node.post(&format!("{}/aliases/q{i}", key_path(k)))
            })
            .collect(),
    )
    .await;
    assert_eq!(count(&replies, 201), 7, "{:?}", statuses(&replies));
    for r in replies.iter().filter(|r| r.status.as_u16() != 201) {
        r.assert_error(400, "KEY_ALIAS_QUOTA_ERR");
    }

    // One alias, six keys, both nodes: one owner.
    let replies = race(
        keys.iter()
            .take(6)
            .enumerate()
            .map(|(i, k)| {
                let node = if i % 2 == 0 { &a } else { &b };
                node.delete(&format!("{}/aliases/q{i}", key_path(k)))
            })
            .collect(),
    )
    .await;
    assert!(
        replies
            .iter()
            .all(|r| r.status.is_success() || r.status.as_u16() == 404)
    );
    let replies = race(
        keys.iter()
            .take(6)
            .enumerate()
            .map(|(i, k)| {
                let node = if i % 2 == 0 { &a } else { &b };
                node.post(&format!("{}/aliases/contested", key_path(k)))
            })
            .collect(),
    )
    .await;
    assert_eq!(count(&replies, 201), 1, "{:?}", statuses(&replies));
    for r in replies.iter().filter(|r| r.status.as_u16() != 201) {
        r.assert_error(409, "KEY_ALIAS_NOT_UNIQUE_ERR");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_ring_quota_and_names_hold_across_nodes() {
    let (_db, a, b) = two_nodes(KmsConfig {
        max_key_rings: 4,
        ..KmsConfig::default()
    })
    .await;
    let replies = race(across(&a, &b, 6, |n| n.post("/api/v2/key_rings/contested"))).await;
    assert_eq!(count(&replies, 201), 1, "{:?}", statuses(&replies));
    assert_eq!(count(&replies, 409), 5, "{:?}", statuses(&replies));

    // `default` and `contested` leave room for two more.
    let replies = race(
        (0..8)
            .map(|i| {
                let node = if i % 2 == 0 { &a } else { &b };
                node.post(&format!("/api/v2/key_rings/r{i}"))
            })
            .collect(),
    )
    .await;
    assert_eq!(count(&replies, 201), 2, "{:?}", statuses(&replies));
    for r in replies.iter().filter(|r| r.status.as_u16() != 201) {
        r.assert_error(400, "KEY_RING_QUOTA_ERR");
    }
    let listed = b
        .get("/api/v2/key_rings?totalCount=true")
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(listed["metadata"]["collectionTotal"], 4, "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restore_on_one_node_racing_a_purge_on_the_other_never_loses_the_key() {
    let (_db, a, b) = two_nodes(KmsConfig::default()).await;
    let mut keys = Vec::new();
    for i in 0..10 {
        let key = a.root_key(&format!("k{i}")).await;
        a.delete(&key_path(&key)).send().await.expect_status(204);
        keys.push(key);
    }
    advance(&a, &b, PAST_WINDOWS);
    let mut lost = Vec::new();
    for key in &keys {
        let path = key_path(key);
        let replies = race(vec![
            a.post(&format!("{path}/restore")),
            b.delete(&format!("{path}/purge")),
        ])
        .await;
        if replies[0].status.as_u16() == 201 && replies[1].status.as_u16() == 204 {
            let after = a.get(&path).send().await;
            lost.push(format!("restore 201 and purge 204; now {}", after.status));
        }
    }
    assert!(lost.is_empty(), "{}", lost.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_versions_encryption_budget_holds_across_nodes() {
    let (_db, a, b) = two_nodes(KmsConfig {
        encryption_limit: 10,
        lease_size: 3,
        ..KmsConfig::default()
    })
    .await;
    let key = a.root_key("k").await;
    let path = format!("{}/actions/wrap", key_path(&key));
    let mut sealed: HashMap<String, usize> = HashMap::new();
    let mut wrapped = Vec::new();
    for _ in 0..5 {
        let replies = race(across(&a, &b, 8, |n| n.post(&path))).await;
        for r in replies {
            let v = r.expect_status(200).json();
            *sealed.entry(str_of(&v["keyVersion"]["id"])).or_default() += 1;
            wrapped.push((str_of(&v["ciphertext"]), str_of(&v["plaintext"])));
        }
    }
    assert!(
        sealed.values().all(|&n| n <= 10),
        "a version sealed more than its budget: {sealed:?}"
    );
    assert!(
        sealed.len() >= 4,
        "40 wraps need at least 4 versions: {sealed:?}"
    );
    // Every ciphertext unwraps on both nodes.
    let unwrap = format!("{}/actions/unwrap", key_path(&key));
    for (ct, dek) in &wrapped {
        for node in [&a, &b] {
            let v = node
                .post(&unwrap)
                .json(&json!({"ciphertext": ct}))
                .send()
                .await
                .expect_status(200)
                .json();
            assert_eq!(&str_of(&v["plaintext"]), dek);
        }
    }
}

#[tokio::test]
async fn a_due_key_is_rotated_once_when_both_nodes_run_the_scheduler() {
    let db = Database::create();
    let url = db.url.clone();
    let a = TestServer::start_adjusted(|s| ServeSettings {
        database_url: Some(url),
        schedule_rotations: false,
        ..s
    })
    .await;
    let b = a.another_node().await;
    let key = a.root_key("scheduled").await;
    a.call(
        axum::http::Method::PUT,
        &format!("/api/v2/keys/{key}/policies"),
    )
    .json(&serde_json::json!({"resources": [{"rotation": {"enabled": true, "interval_month": 1}}]}))
    .send()
    .await
    .expect_status(200);
    let later = time::Duration::days(32);
    a.clock.advance(later);
    b.clock.advance(later);
    let (on_a, on_b) = tokio::join!(
        keyward_server::rotation_scheduler::run_once(&a.state),
        keyward_server::rotation_scheduler::run_once(&b.state)
    );
    let (on_a, on_b) = (on_a.expect("node A"), on_b.expect("node B"));
    assert_eq!(
        on_a.rotated.len() + on_b.rotated.len(),
        1,
        "{on_a:?} {on_b:?}"
    );
    assert!(
        on_a.ran != on_b.ran,
        "one node holds the lease: {on_a:?} {on_b:?}"
    );
    let versions = a
        .get(&format!("/api/v2/keys/{key}/versions"))
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(versions["resources"].as_array().expect("versions").len(), 2);
    drop((a, b));
    drop(db);
}
