//! The audit trail: every request that names an action leaves an event (who, what, on which
//! key, how it ended, with the request's correlation id), refused ones too; an account reads
//! only its own events; the chain and its signed checkpoints reveal an altered, missing or
//! forged row; and when an event cannot be written, the answer (a plaintext) is withheld.

mod common;

use common::database::Database;
use common::race::{count, race, statuses};
use common::{Grant, TestServer, key_path, str_of};
use keyward_iam::{AccountId, IamStore, Instance, PrincipalKind, Role, ServiceKind};
use keyward_server::ServeSettings;
use keyward_server::audit::{Broken, CheckpointPolicy, checkpoint_key, verify};
use serde_json::{Value, json};
use uuid::Uuid;

/// Every event the admin's account may read.
async fn events(server: &TestServer) -> Vec<Value> {
    let mut all = Vec::new();
    let mut start = 0;
    loop {
        let page = server
            .get(&format!("/api/v2/audit/events?start={start}&limit=1000"))
            .send()
            .await
            .expect_status(200)
            .json();
        let resources = page["resources"].as_array().expect("resources").clone();
        let last_page = resources.len() < 1000;
        start = page["metadata"]["next"].as_i64().expect("next");
        all.extend(resources.into_iter().map(|r| r["event"].clone()));
        // Reading is audited too: every read adds an event, so stop at a short page.
        if last_page {
            return all;
        }
    }
}

fn with_correlation<'a>(events: &'a [Value], id: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["correlationId"] == id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_use_of_a_key_is_recorded_with_who_what_and_how_it_ended() {
    let server = TestServer::start().await;
    let key = server.root_key("audited").await;
    let crn = server.crn_of(&key).await;

    let reply = server
        .post(&format!("{}/actions/wrap", key_path(&key)))
        .header("correlation-id", "wrap-1")
        .send()
        .await
        .expect_status(200);
    assert_eq!(reply.header("correlation-id").as_deref(), Some("wrap-1"));
    let ciphertext = str_of(&reply.json()["ciphertext"]);

    // Allowed nothing on the instance: refused, and recorded as refused.
    let nobody = server.user(&[], None).await;
    server
        .post(&format!("{}/actions/unwrap", key_path(&key)))
        .token(&nobody.token)
        .header("correlation-id", "unwrap-refused")
        .json(&json!({ "ciphertext": ciphertext }))
        .send()
        .await;
    // No token at all.
    server
        .post(&format!("{}/actions/unwrap", key_path(&key)))
        .no_auth()
        .header("correlation-id", "unwrap-anonymous")
        .json(&json!({ "ciphertext": ciphertext }))
        .send()
        .await
        .expect_status(401);
    // A correlation id is made when none is given, and echoed.
    let made = server
        .get(&key_path(&key))
        .send()
        .await
        .expect_status(200)
        .header("correlation-id")
        .expect("a correlation id");

    let all = events(&server).await;
    let wrap = with_correlation(&all, "wrap-1");
    assert_eq!(wrap.len(), 1, "{all:#?}");
    assert_eq!(wrap[0]["action"], "kms.secrets.wrap");
    assert_eq!(wrap[0]["outcome"], "success");
    assert_eq!(wrap[0]["reason"]["reasonCode"], 200);
    assert_eq!(wrap[0]["initiator"]["id"], server.admin_iam_id.as_str());
    assert_eq!(wrap[0]["target"]["id"], crn.as_str());
    assert!(
        wrap[0]["eventTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{}",
        wrap[0]
    );

    let refused = with_correlation(&all, "unwrap-refused");
    assert_eq!(refused.len(), 1, "{all:#?}");
    assert_eq!(refused[0]["action"], "kms.secrets.unwrap");
    assert_eq!(refused[0]["outcome"], "failure");
    assert_eq!(refused[0]["initiator"]["id"], nobody.iam_id.as_str());
    assert!(
        refused[0]["reason"]["reasonCode"]
            .as_u64()
            .is_some_and(|c| c >= 400)
    );
    assert_eq!(with_correlation(&all, &made).len(), 1);

    // The anonymous attempt has no account: it is kept, for the operator (export), not shown
    // to any account.
    assert!(with_correlation(&all, "unwrap-anonymous").is_empty());
    let anonymous = server
        .store
        .audit_events(None, 0, 1000)
        .await
        .expect("events")
        .into_iter()
        .find(|r| r.body.contains("unwrap-anonymous"))
        .expect("the anonymous attempt is recorded");
    let event: Value = serde_json::from_str(&anonymous.body).expect("JSON");
    assert_eq!(event["action"], "kms.secrets.unwrap");
    assert_eq!(event["reason"]["reasonCode"], 401);
    assert_eq!(event["initiator"]["id"], "");

    // Nothing secret in any event.
    let text = serde_json::to_string(&all).expect("JSON");
    assert!(!text.contains(&ciphertext) && !text.contains(&server.admin_token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_client_went_away_still_completes_with_its_event() {
    let server = TestServer::start().await;
    server
        .post("/api/v2/keys")
        .header("correlation-id", "abandoned-1")
        .json(&common::key_collection(
            json!({"type": "application/vnd.ibm.kms.key+json", "name": "abandoned"}),
        ))
        .abandon()
        .await;
    // The request runs on without its client: the key is made and its creation recorded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let all = events(&server).await;
        let recorded = with_correlation(&all, "abandoned-1");
        if let Some(event) = recorded.first() {
            assert_eq!(event["action"], "kms.secrets.create");
            assert_eq!(event["outcome"], "success");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned creation was never recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let keys = server
        .get("/api/v2/keys")
        .send()
        .await
        .expect_status(200)
        .json();
    let names: Vec<_> = keys["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|k| k["name"].clone())
        .collect();
    assert!(names.contains(&json!("abandoned")), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_owner_sees_every_use_of_its_key_by_the_service() {
    let server = TestServer::start().await;
    let common::CustomerTenant {
        id: tenant_id,
        key,
        crn,
        ..
    } = server.customer_tenant().await;
    server
        .post(&format!("/openscale/{tenant_id}/v2/service_providers"))
        .no_instance()
        .header("correlation-id", "sp-create")
        .json(
            &json!({"name": "sp", "service_type": "custom_machine_learning",
            "credentials": {"url": "https://ml.example", "password": "pw"}}),
        )
        .send()
        .await
        .expect_status(201);
    // Disabled: the DEKs it wrapped are dropped, and the next read asks the KMS, which refuses.
    server.action(&key, "disable").await.expect_status(204);
    server
        .get(&format!("/openscale/{tenant_id}/v2/secrets_check"))
        .no_instance()
        .header("correlation-id", "check-disabled")
        .send()
        .await
        .expect_status(200);

    let all = events(&server).await;
    let uses: Vec<_> = all
        .iter()
        .filter(|e| e["target"]["id"] == crn.as_str())
        .collect();
    let by_service = |e: &&&Value| {
        e["initiator"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("iam-ServiceId-"))
    };
    // The switch made a DEK under the key (a wrap, in the background: its own correlation id).
    assert!(
        uses.iter()
            .filter(by_service)
            .any(|e| e["action"] == "kms.secrets.wrap" && e["outcome"] == "success"),
        "{uses:#?}"
    );
    // The tenant registered on the key.
    assert!(
        uses.iter()
            .filter(by_service)
            .any(|e| e["action"] == "kms.registrations.create" && e["outcome"] == "success"),
        "{uses:#?}"
    );
    // The refused unwrap, under the correlation id of the request that caused it.
    let refused: Vec<_> = with_correlation(&all, "check-disabled")
        .into_iter()
        .filter(|e| e["target"]["id"] == crn.as_str())
        .collect();
    assert_eq!(refused.len(), 1, "{all:#?}");
    assert_eq!(refused[0]["action"], "kms.secrets.unwrap");
    assert_eq!(refused[0]["outcome"], "failure");
    assert_eq!(refused[0]["reason"]["reasonCode"], 409);
    assert!(by_service(&&refused[0]), "{}", refused[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_login_is_recorded_and_no_api_key_is() {
    let server = TestServer::start().await;
    let user = server.user(&[], None).await;
    let login = |apikey: &str, correlation: &'static str| {
        server
            .post("/identity/token")
            .no_auth()
            .no_instance()
            .header("correlation-id", correlation)
            .form(&[("grant_type", common::APIKEY_GRANT), ("apikey", apikey)])
            .send()
    };
    login(&user.apikey, "login-ok").await.expect_status(200);
    let guessed = format!("{}x", user.apikey);
    login(&guessed, "login-guessed").await.expect_status(400);

    let all = events(&server).await;
    let ok = with_correlation(&all, "login-ok");
    assert_eq!(ok.len(), 1, "{all:#?}");
    assert_eq!(ok[0]["action"], "iam-identity.apikey.login");
    assert_eq!(ok[0]["outcome"], "success");
    assert_eq!(ok[0]["initiator"]["id"], user.iam_id.as_str());
    let target = str_of(&ok[0]["target"]["id"]);
    assert!(
        target.contains(":iam-identity:") && target.ends_with(&user.iam_id),
        "{target}"
    );
    // A guessed key names nobody: kept for the operator, shown to no account.
    assert!(with_correlation(&all, "login-guessed").is_empty());
    let rows = server
        .store
        .audit_events(None, 0, 10_000)
        .await
        .expect("events");
    let guessed_event = rows
        .iter()
        .find(|r| r.body.contains("login-guessed"))
        .expect("the refused login is recorded");
    let event: Value = serde_json::from_str(&guessed_event.body).expect("JSON");
    assert_eq!(event["action"], "iam-identity.apikey.login");
    assert_eq!(event["outcome"], "failure");
    assert_eq!(event["reason"]["reasonCode"], 400);
    assert!(
        rows.iter().all(|r| !r.body.contains(&user.apikey)),
        "an API key reached the audit trail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_reads_only_its_own_events_and_only_as_administrator() {
    let server = TestServer::start().await;
    server.root_key("ours").await;
    // Another account, whose user manages its own instance and administers its own account.
    let account = AccountId::new_random();
    server
        .store
        .create_account(&account, "other")
        .await
        .expect("account");
    let instance = Instance {
        id: Uuid::new_v4(),
        account: account.clone(),
        service: ServiceKind::Kms,
        name: "other".into(),
        created_at: time::OffsetDateTime::now_utc(),
    };
    server
        .store
        .create_instance(&instance)
        .await
        .expect("instance");
    let grants = [
        Grant {
            service: ServiceKind::Kms,
            instance: Some(instance.id),
            ring: None,
            roles: &[Role::Manager],
        },
        Grant {
            service: ServiceKind::Iam,
            instance: None,
            ring: None,
            roles: &[Role::Administrator],
        },
    ];
    let foreign = server
        .principal(&account, PrincipalKind::User, &grants)
        .await;
    server
        .get("/api/v2/keys")
        .token(&foreign.token)
        .instance(&instance.id.to_string())
        .header("correlation-id", "foreign-list")
        .send()
        .await
        .expect_status(200);
    let ours = events(&server).await;
    assert!(!ours.is_empty());
    assert!(with_correlation(&ours, "foreign-list").is_empty());

    let theirs = server
        .get("/api/v2/audit/events")
        .token(&foreign.token)
        .send()
        .await
        .expect_status(200)
        .json();
    let theirs = theirs["resources"].as_array().expect("resources").clone();
    assert!(
        theirs
            .iter()
            .all(|r| r["event"]["initiator"]["id"] != server.admin_iam_id.as_str()),
        "{theirs:#?}"
    );
    assert!(
        theirs
            .iter()
            .any(|r| r["event"]["correlationId"] == "foreign-list"),
        "{theirs:#?}"
    );

    // Roles on the KMS do not open the audit trail.
    let manager = server.user(&[Role::Manager], None).await;
    server
        .get("/api/v2/audit/events")
        .token(&manager.token)
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    server
        .get("/api/v2/audit/events?limit=0")
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
}

async fn on_postgres(db: &Database, policy: CheckpointPolicy) -> TestServer {
    let url = db.url.clone();
    TestServer::start_adjusted(|s| ServeSettings {
        database_url: Some(url),
        audit_checkpoints: policy,
        ..s
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_and_its_checkpoints_reveal_any_change() {
    let db = Database::create();
    let server = on_postgres(
        &db,
        CheckpointPolicy {
            every_events: 4,
            ..CheckpointPolicy::default()
        },
    )
    .await;
    let key = server.root_key("k").await;
    for _ in 0..12 {
        server.wrap_new(&key).await;
    }
    let secret = checkpoint_key(&server.store, server.state.kms.master())
        .await
        .expect("checkpoint key");
    let intact = verify(&server.store, &secret).await.expect("intact");
    assert!(intact.events >= 13, "{intact:?}");
    assert!(intact.checkpoints >= 2, "{intact:?}");

    // A changed word in an event.
    db.sql("UPDATE audit_events SET body = replace(body, 'success', 'failure') WHERE seq = 5");
    assert_eq!(
        verify(&server.store, &secret).await,
        Err(Broken::Altered(5))
    );
    db.sql("UPDATE audit_events SET body = replace(body, 'failure', 'success') WHERE seq = 5");
    assert_eq!(verify(&server.store, &secret).await, Ok(intact));

    // An event moved to another account (out of its administrators' sight), or in time.
    db.sql("UPDATE audit_events SET account_id = 'another' WHERE seq = 6");
    assert_eq!(
        verify(&server.store, &secret).await,
        Err(Broken::Altered(6))
    );
    db.sql(&format!(
        "UPDATE audit_events SET account_id = '{}' WHERE seq = 6",
        server.account
    ));
    db.sql("UPDATE audit_events SET at = at + 1 WHERE seq = 6");
    assert_eq!(
        verify(&server.store, &secret).await,
        Err(Broken::Altered(6))
    );
    db.sql("UPDATE audit_events SET at = at - 1 WHERE seq = 6");
    assert_eq!(verify(&server.store, &secret).await, Ok(intact));

    // Two events swapped (their texts, times and accounts trade rows).
    let swap = |a: i64, b: i64| {
        format!(
            "UPDATE audit_events AS e SET body = o.body, at = o.at, account_id = o.account_id \
             FROM audit_events AS o WHERE (e.seq, o.seq) IN (({a}, {b}), ({b}, {a}))"
        )
    };
    db.sql(&swap(8, 9));
    assert_eq!(
        verify(&server.store, &secret).await,
        Err(Broken::Altered(8))
    );
    db.sql(&swap(8, 9));
    assert_eq!(verify(&server.store, &secret).await, Ok(intact));

    // A forged checkpoint signature.
    db.sql(
        "UPDATE audit_checkpoints SET signature = decode(repeat('00', 32), 'hex') \
         WHERE seq = (SELECT min(seq) FROM audit_checkpoints)",
    );
    assert!(matches!(
        verify(&server.store, &secret).await,
        Err(Broken::CheckpointForged(_))
    ));
    db.sql("DELETE FROM audit_checkpoints");

    // A removed event.
    db.sql("DELETE FROM audit_events WHERE seq = 7");
    assert_eq!(
        verify(&server.store, &secret).await,
        Err(Broken::Missing {
            expected: 7,
            found: 8
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_no_event_can_be_written_no_plaintext_leaves() {
    let db = Database::create();
    let server = on_postgres(&db, CheckpointPolicy::default()).await;
    let key = server.root_key("k").await;
    let (ciphertext, _, _) = server.wrap_new(&key).await;
    let unwrap = || {
        server
            .post(&format!("{}/actions/unwrap", key_path(&key)))
            .json(&json!({ "ciphertext": ciphertext }))
            .send()
    };

    db.sql("ALTER TABLE audit_events RENAME TO audit_events_away");
    let reply = unwrap().await;
    reply.assert_error(503, "AUDIT_UNAVAILABLE_ERR");
    assert!(!reply.text().contains("plaintext"), "{}", reply.text());

    db.sql("ALTER TABLE audit_events_away RENAME TO audit_events");
    let reply = unwrap().await.expect_status(200);
    assert!(reply.json()["plaintext"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_append_to_one_unbroken_chain() {
    let db = Database::create();
    let first = on_postgres(
        &db,
        CheckpointPolicy {
            every_events: 8,
            ..CheckpointPolicy::default()
        },
    )
    .await;
    let second = first.another_node().await;
    let key = first.root_key("shared").await;
    let before = first
        .store
        .audit_head()
        .await
        .expect("head")
        .map_or(0, |h| h.0);

    let wrap = |node: &TestServer| node.post(&format!("{}/actions/wrap", key_path(&key)));
    let calls = (0..40)
        .map(|i| wrap(if i % 2 == 0 { &first } else { &second }))
        .collect();
    let replies = race(calls).await;
    assert_eq!(count(&replies, 200), 40, "{:?}", statuses(&replies));

    let secret = checkpoint_key(&first.store, first.state.kms.master())
        .await
        .expect("checkpoint key");
    let intact = verify(&first.store, &secret)
        .await
        .expect("one unbroken chain");
    assert_eq!(intact.events, before + 40, "{intact:?}");
    assert!(intact.checkpoints >= 2, "{intact:?}");
}

/// A change commits with its event: its provisional event is written in the change's own
/// transaction. With the chain unwritable, a read is refused (503, nothing leaves) while a
/// change is made and answered as made, its provisional event pending; once the chain is back,
/// that event joins it (after the grace time) and the chain verifies. With no place for the
/// provisional event, the change does not happen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_and_its_event_commit_together() {
    let db = Database::create();
    let url = db.url.clone();
    let server = TestServer::start_adjusted(|s| ServeSettings {
        database_url: Some(url),
        audit_pending_grace: std::time::Duration::from_secs(2),
        ..s
    })
    .await;
    let key = server.root_key("k").await;
    // Answered and recorded: nothing is left pending.
    assert_eq!(db.value("SELECT count(*) FROM audit_pending"), "0");

    db.sql("ALTER TABLE audit_events RENAME TO audit_events_away");
    server
        .get(&key_path(&key))
        .send()
        .await
        .assert_error(503, "AUDIT_UNAVAILABLE_ERR");
    let made = server
        .post("/api/v2/keys")
        .header("correlation-id", "made-while-the-chain-was-away")
        .json(&json!({
            "metadata": {"collectionType": "application/vnd.ibm.kms.key+json", "collectionTotal": 1},
            "resources": [{"type": "application/vnd.ibm.kms.key+json", "name": "made", "extractable": false}]
        }))
        .send()
        .await
        .expect_status(201);
    let made_id = str_of(&made.json()["resources"][0]["id"]);
    assert_eq!(db.value("SELECT count(*) FROM audit_pending"), "1");
    db.sql("ALTER TABLE audit_events_away RENAME TO audit_events");

    // The pending event joins the chain by itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while db.value("SELECT count(*) FROM audit_pending") != "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "the provisional event stayed pending"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let all = events(&server).await;
    let recorded = with_correlation(&all, "made-while-the-chain-was-away");
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["action"], "kms.secrets.create");
    assert_eq!(recorded[0]["outcome"], "success");
    assert_eq!(
        recorded[0]["reason"]["reasonType"],
        keyward_server::audit::PROVISIONAL_REASON
    );
    let secret = checkpoint_key(&server.store, server.state.kms.master())
        .await
        .expect("checkpoint key");
    verify(&server.store, &secret)
        .await
        .expect("the chain is intact");

    // No place for the provisional event: the change is refused and not made.
    let keys_before = db.value("SELECT count(*) FROM keys");
    db.sql("ALTER TABLE audit_pending RENAME TO audit_pending_away");
    let refused = server
        .post("/api/v2/keys")
        .json(&json!({
            "metadata": {"collectionType": "application/vnd.ibm.kms.key+json", "collectionTotal": 1},
            "resources": [{"type": "application/vnd.ibm.kms.key+json", "name": "never", "extractable": false}]
        }))
        .send()
        .await;
    assert!(refused.status.is_server_error(), "{}", refused.text());
    assert_eq!(db.value("SELECT count(*) FROM keys"), keys_before);
    db.sql("ALTER TABLE audit_pending_away RENAME TO audit_pending");
    server
        .get(&key_path(&made_id))
        .send()
        .await
        .expect_status(200);
}

/// A trail that goes quiet still gets its checkpoint: no event stays after the last signed
/// checkpoint much longer than the checkpoint period, busy or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_trail_still_gets_its_checkpoint() {
    let server = TestServer::start_adjusted(|s| ServeSettings {
        audit_checkpoints: CheckpointPolicy {
            every_events: 1000,
            every: std::time::Duration::from_secs(1),
        },
        ..s
    })
    .await;
    let key = server.root_key("k").await;
    server.wrap_new(&key).await;
    let secret = checkpoint_key(&server.store, server.state.kms.master())
        .await
        .expect("checkpoint key");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let verified = verify(&server.store, &secret).await.expect("intact");
        if verified.after_last_checkpoint == 0 {
            assert!(
                verified.checkpoints >= 1 && verified.events >= 3,
                "{verified:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "events left unsigned: {verified:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
