//! `keyward audit` from the outside: after a server on PostgreSQL has answered some requests,
//! `audit verify` reports the trail intact and `audit export` prints each event with its
//! correlation id; once a row is altered in the database, `audit verify` exits non-zero naming
//! the event.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Database, admin_client, bootstrap, keyward, serve, started, stop};
use keyward_client::Method;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_an_altered_event_and_export_prints_every_event() {
    let db = Database::create();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = serve(&data, "127.0.0.1:0", &["--database-url", &db.url]);
    let url = started(&data, &mut server);
    let client = admin_client(&url, &data, None);
    let instance = bootstrap(&data, "kms_instance_id");
    for i in 0..3 {
        let reply = client
            .send(
                Method::GET,
                "/api/v2/keys",
                &[
                    ("bluemix-instance", &instance),
                    ("correlation-id", &format!("listing-{i}")),
                ],
                None,
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 200);
    }
    stop(server);

    let source = [
        "--data-dir",
        data.to_str().unwrap(),
        "--database-url",
        &db.url,
    ];
    let verified = keyward(&[&["audit", "verify"][..], &source].concat());
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    // The client's login, then its three listings.
    assert!(stdout.contains("audit trail intact: 4 events"), "{stdout}");

    let exported = keyward(&[&["audit", "export"][..], &source].concat());
    assert!(exported.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&exported.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<_> = lines
        .iter()
        .map(|l| l["event"]["correlationId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids[1..], ["listing-0", "listing-1", "listing-2"]);
    assert_eq!(lines[0]["event"]["action"], "iam-identity.apikey.login");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l["event"]["action"] == "kms.secrets.list")
    );
    let none = keyward(
        &[
            &["audit", "export", "--since", "2999-01-01T00:00:00Z"][..],
            &source,
        ]
        .concat(),
    );
    assert!(none.status.success() && none.stdout.is_empty());

    db.sql("UPDATE audit_events SET body = replace(body, 'listing-1', 'listing-X') WHERE seq = 3");
    let broken = keyward(&[&["audit", "verify"][..], &source].concat());
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(!broken.status.success());
    assert!(stderr.contains("event 3 was altered"), "{stderr}");
}
