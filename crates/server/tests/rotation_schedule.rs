//! Scheduled rotation on the server's clock: a key with a rotation policy is rotated when its
//! interval has passed and not before, once, by the service (as the audit trail records), and
//! only while it is Active.

mod common;

use axum::http::Method;
use common::TestServer;
use keyward_kms::policy::add_months;
use keyward_kms::{KeyRef, KeyStore as _};
use keyward_server::ServeSettings;
use keyward_server::rotation_scheduler::{SCHEDULER_ID, run_once};
use serde_json::json;
use time::{Duration, OffsetDateTime};

async fn stepped_server() -> TestServer {
    TestServer::start_adjusted(|s| ServeSettings {
        schedule_rotations: false,
        ..s
    })
    .await
}

async fn rotation_policy(server: &TestServer, key: &str, months: u8) {
    server
        .call(Method::PUT, &format!("/api/v2/keys/{key}/policies"))
        .json(&json!({"resources": [{"rotation": {"enabled": true, "interval_month": months}}]}))
        .send()
        .await
        .expect_status(200);
}

/// When the key's policy makes it due, read from the store (milliseconds, as kept).
async fn due_at(server: &TestServer, key: &str, months: u8) -> OffsetDateTime {
    let stored = server
        .store
        .find_key(
            server.instance.parse().expect("instance"),
            &KeyRef::Id(key.parse().expect("key id")),
        )
        .await
        .expect("store")
        .expect("key");
    add_months(stored.last_rotated_at.unwrap_or(stored.created_at), months)
}

/// Moves the clock to `offset` from `at`.
fn move_to(server: &TestServer, at: OffsetDateTime, offset: Duration) {
    server.clock.advance(at + offset - server.now());
}

async fn versions(server: &TestServer, key: &str) -> usize {
    server
        .get(&format!("/api/v2/keys/{key}/versions?allKeyStates=true"))
        .send()
        .await
        .expect_status(200)
        .json()["resources"]
        .as_array()
        .expect("versions")
        .len()
}

#[tokio::test]
async fn a_key_is_rotated_when_its_interval_passes_not_before_and_once() {
    let server = stepped_server().await;
    let key = server.root_key("scheduled").await;
    let (ciphertext, dek, _) = server.wrap_new(&key).await;
    rotation_policy(&server, &key, 1).await;
    let due = due_at(&server, &key, 1).await;

    move_to(&server, due, Duration::seconds(-2));
    let early = run_once(&server.state).await.expect("run");
    assert!(early.ran && early.rotated.is_empty(), "{early:?}");
    assert_eq!(versions(&server, &key).await, 1);

    // The test clock moves in whole steps; the exact instant is the domain's test
    // (`rotation_is_due_an_interval_after_the_last_rotation_and_only_while_active`).
    move_to(&server, due, Duration::seconds(1));
    let run = run_once(&server.state).await.expect("run");
    assert_eq!(run.rotated.len(), 1, "{run:?}");
    assert_eq!(versions(&server, &key).await, 2);
    let again = run_once(&server.state).await.expect("run");
    assert!(again.rotated.is_empty(), "rotated twice: {again:?}");
    // The next rotation is an interval after this one; old ciphertexts still unwrap.
    let next = add_months(run.rotated[0].last_rotated_at.expect("rotated"), 1);
    let stored_next = due_at(&server, &key, 1).await;
    assert!(
        (stored_next - next).abs() < Duration::milliseconds(1),
        "{stored_next} {next}"
    );
    let unwrapped = server
        .post(&format!("/api/v2/keys/{key}/actions/unwrap"))
        .json(&json!({"ciphertext": ciphertext}))
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(unwrapped["plaintext"], json!(dek));

    // The audit trail names the service as who rotated it.
    let trail = server
        .get("/api/v2/audit/events?limit=1000")
        .send()
        .await
        .expect_status(200)
        .json();
    let scheduled: Vec<_> = trail["resources"]
        .as_array()
        .expect("events")
        .iter()
        .map(|r| &r["event"])
        .filter(|e| e["initiator"]["id"] == SCHEDULER_ID)
        .collect();
    assert_eq!(scheduled.len(), 1, "{trail}");
    assert_eq!(scheduled[0]["action"], "kms.secrets.rotate");
    assert!(
        scheduled[0]["target"]["id"]
            .as_str()
            .expect("crn")
            .ends_with(&format!(":key:{key}"))
    );
}

#[tokio::test]
async fn suspended_keys_and_keys_without_an_enabled_policy_wait() {
    let server = stepped_server().await;
    let suspended = server.root_key("suspended").await;
    let switched_off = server.root_key("off").await;
    let plain = server.root_key("plain").await;
    rotation_policy(&server, &suspended, 1).await;
    rotation_policy(&server, &switched_off, 1).await;
    server
        .call(
            Method::PUT,
            &format!("/api/v2/keys/{switched_off}/policies"),
        )
        .json(&json!({"resources": [{"rotation": {"enabled": false, "interval_month": 1}}]}))
        .send()
        .await
        .expect_status(200);
    server
        .action(&suspended, "disable")
        .await
        .expect_status(204);
    let due = due_at(&server, &suspended, 1).await;
    move_to(&server, due, Duration::days(40));
    let run = run_once(&server.state).await.expect("run");
    assert!(run.rotated.is_empty(), "{run:?}");
    for key in [&suspended, &switched_off, &plain] {
        assert_eq!(versions(&server, key).await, 1, "{key}");
    }
    // Enabled again, the overdue key is rotated at the next run.
    server.action(&suspended, "enable").await.expect_status(204);
    let run = run_once(&server.state).await.expect("run");
    assert_eq!(run.rotated.len(), 1);
    assert_eq!(versions(&server, &suspended).await, 2);
}
