//! Fault kit: the database goes away under load. A `keyward serve` node on the fault kit's
//! private PostgreSQL (`tests/faults/private_postgres.sh`) serves unwraps and key creations from
//! several clients while PostgreSQL is restarted, every connection of the node is terminated,
//! and PostgreSQL is stopped for a few seconds and started again. Then:
//! - no answer was a 5xx other than 503, and every 503 said why (a reason code);
//! - the node answered during the outage instead of hanging, and recovered by itself;
//! - every key whose creation was acknowledged exists, every acknowledged ciphertext unwraps,
//!   and the audit chain verifies across the outage.
//!
//! Prints `first_success_after_start_ms` (from asking PostgreSQL to start again to the node's
//! first success) and the answers per phase.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{admin_client, bootstrap, keyward, psql, serve, started, stop};
use serde_json::{Value, json};

/// The fault kit's PostgreSQL and its handle (`ctl stop|start|restart|terminate DB`).
struct PrivatePostgres {
    url: String,
    ctl: String,
}

impl PrivatePostgres {
    fn from_env() -> Self {
        let need = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} must be set: source tests/faults/private_postgres.sh (scripts/test does)")
            })
        };
        Self {
            url: need("KEYWARD_TEST_FAULT_DATABASE_URL"),
            ctl: need("KEYWARD_TEST_FAULT_PG_CTL"),
        }
    }

    fn ctl(&self, args: &[&str]) {
        let out = Command::new(&self.ctl).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            self.ctl,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A fresh database on the private server.
    fn database(&self) -> (String, String) {
        let name = format!("keyward_fault_{}", std::process::id());
        psql(
            &self.url,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        psql(&self.url, &format!("CREATE DATABASE {name}"));
        let base = self.url.rsplit_once('/').unwrap().0;
        (name.clone(), format!("{base}/{name}"))
    }
}

/// One answer the load saw: when (since the load began), what was asked, and how it ended.
#[derive(Debug, Clone)]
struct Seen {
    at: Duration,
    took: Duration,
    what: &'static str,
    status: u16,
    code: String,
}

/// The first reason code of a Key Protect error body.
fn reason_code(body: &Value) -> String {
    body["resources"][0]["reasons"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

struct Load {
    http: reqwest::Client,
    url: String,
    token: String,
    instance: String,
    key: String,
    ciphertext: String,
    began: Instant,
    seen: Mutex<Vec<Seen>>,
    created: Mutex<Vec<String>>,
}

impl Load {
    async fn post(&self, what: &'static str, path: &str, body: Value) -> Option<Value> {
        let sent = Instant::now();
        let answer = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .header("bluemix-instance", &self.instance)
            .header("content-type", "application/vnd.ibm.kms.key+json")
            .json(&body)
            .send()
            .await;
        let (status, body) = match answer {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap_or(Value::Null))
            }
            // No answer at all (a timeout): recorded as 0.
            Err(_) => (0, Value::Null),
        };
        self.seen.lock().unwrap().push(Seen {
            at: sent - self.began,
            took: sent.elapsed(),
            what,
            status,
            code: reason_code(&body),
        });
        (200..300).contains(&status).then_some(body)
    }

    async fn unwraps(self: Arc<Self>, until: Instant) {
        let path = format!("/api/v2/keys/{}/actions/unwrap", self.key);
        while Instant::now() < until {
            let body = json!({ "ciphertext": self.ciphertext });
            if self.post("unwrap", &path, body).await.is_none() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    async fn creations(self: Arc<Self>, until: Instant) {
        let mut n = 0;
        while Instant::now() < until {
            n += 1;
            let body = json!({
                "metadata": {"collectionType": "application/vnd.ibm.kms.key+json", "collectionTotal": 1},
                "resources": [{"type": "application/vnd.ibm.kms.key+json", "name": format!("fault-{n}"), "extractable": false}]
            });
            match self.post("create", "/api/v2/keys", body).await {
                Some(created) => {
                    let id = created["resources"][0]["id"].as_str().unwrap().to_owned();
                    self.created.lock().unwrap().push(id);
                }
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

fn summary(seen: &[Seen], from: Duration, to: Duration) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for s in seen.iter().filter(|s| s.at >= from && s.at < to) {
        let key = if s.code.is_empty() {
            format!("{} {}", s.what, s.status)
        } else {
            format!("{} {} {}", s.what, s.status, s.code)
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_cut_off_and_stopped_under_load_loses_nothing_and_never_500s() {
    let pg = PrivatePostgres::from_env();
    let (db_name, db_url) = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = serve(&data, "127.0.0.1:0", &["--database-url", &db_url]);
    let url = started(&data, &mut server);
    let admin = admin_client(&url, &data, None);
    let instance = bootstrap(&data, "kms_instance_id");
    let headers = [("bluemix-instance", instance.as_str())];
    let create = json!({
        "metadata": {"collectionType": "application/vnd.ibm.kms.key+json", "collectionTotal": 1},
        "resources": [{"type": "application/vnd.ibm.kms.key+json", "name": "fault-root", "extractable": false}]
    });
    let key = admin
        .send(
            reqwest::Method::POST,
            "/api/v2/keys",
            &headers,
            Some(&create),
        )
        .await
        .unwrap()
        .body["resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let plaintext = "c2VjcmV0IGRhdGEga2V5IG9mIDMyIGJ5dGVzISEhISE=";
    let wrapped = admin
        .send(
            reqwest::Method::POST,
            &format!("/api/v2/keys/{key}/actions/wrap"),
            &headers,
            Some(&json!({ "plaintext": plaintext })),
        )
        .await
        .unwrap();
    assert_eq!(wrapped.status, 200, "{}", wrapped.body);
    let load = Arc::new(Load {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap(),
        url: url.clone(),
        token: admin.token().await.unwrap().to_string(),
        instance: instance.clone(),
        key: key.clone(),
        ciphertext: wrapped.body["ciphertext"].as_str().unwrap().to_owned(),
        began: Instant::now(),
        seen: Mutex::new(Vec::new()),
        created: Mutex::new(Vec::new()),
    });

    // The faults, on a timeline the load runs through.
    let until = Instant::now() + Duration::from_secs(60);
    let mut workers = Vec::new();
    for _ in 0..3 {
        workers.push(tokio::spawn(Arc::clone(&load).unwraps(until)));
    }
    workers.push(tokio::spawn(Arc::clone(&load).creations(until)));
    let mark = || load.began.elapsed();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restart_at = mark();
    pg.ctl(&["restart"]);
    let restarted_at = mark();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let terminate_at = mark();
    pg.ctl(&["terminate", &db_name]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stop_at = mark();
    pg.ctl(&["stop"]);
    let stopped_at = mark();
    tokio::time::sleep(Duration::from_secs(6)).await;
    // PostgreSQL accepts connections a moment before `pg_ctl start` returns: the outage ends
    // when the start is asked for.
    let start_at = mark();
    pg.ctl(&["start"]);
    let started_at = mark();
    // Let the node recover, then stop the load once it has answered well for 2 s.
    let recovered = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let seen = load.seen.lock().unwrap().clone();
        let first_ok = seen
            .iter()
            .filter(|s| s.at >= start_at && s.status == 200)
            .map(|s| s.at)
            .min();
        if let Some(first) = first_ok
            && mark() > first + Duration::from_secs(2)
        {
            break first;
        }
        assert!(
            mark() < started_at + Duration::from_secs(30),
            "the node did not recover within 30 s of PostgreSQL's start: {:#?}",
            summary(&seen, started_at, mark())
        );
    };
    let end = mark();
    for w in workers {
        w.abort();
    }
    let seen = load.seen.lock().unwrap().clone();

    let phases = [
        ("before", Duration::ZERO, restart_at),
        ("restart", restart_at, terminate_at),
        ("terminate", terminate_at, stop_at),
        ("stopped", stop_at, start_at),
        ("started", start_at, end),
    ];
    for (name, from, to) in phases {
        println!(
            "phase {name} ({from:.1?}..{to:.1?}): {:?}",
            summary(&seen, from, to)
        );
    }
    println!(
        "pg_restart_ms={} pg_start_ms={} first_success_after_start_ms={}",
        (restarted_at - restart_at).as_millis(),
        (started_at - start_at).as_millis(),
        (recovered - start_at).as_millis()
    );

    // Never a 500, never silence: a 503 that says why, or an answer.
    let bad: Vec<_> = seen
        .iter()
        .filter(|s| s.status == 0 || (s.status >= 500 && s.status != 503))
        .collect();
    assert!(bad.is_empty(), "answers other than 503 or none: {bad:#?}");
    let mute: Vec<_> = seen
        .iter()
        .filter(|s| s.status == 503 && s.code.is_empty())
        .collect();
    assert!(mute.is_empty(), "503 without a reason: {mute:#?}");
    // While PostgreSQL was down, requests were answered 503, and none was left hanging: a
    // request waits at most 3 s for a connection, twice when its handler and then its audit
    // event each wait (2 x 3 s), plus a margin.
    let answered_in_outage: Vec<_> = seen
        .iter()
        .filter(|s| s.at + s.took >= stopped_at && s.at + s.took < start_at)
        .collect();
    assert!(
        answered_in_outage
            .iter()
            .filter(|s| s.status == 503)
            .count()
            >= 2,
        "too few answers while PostgreSQL was down: {answered_in_outage:#?}"
    );
    let sent_in_outage: Vec<_> = seen
        .iter()
        .filter(|s| s.at >= stopped_at && s.at < start_at)
        .collect();
    let wrong: Vec<_> = sent_in_outage
        .iter()
        .filter(|s| s.at + s.took < start_at && s.status != 503)
        .collect();
    assert!(
        wrong.is_empty(),
        "answered other than 503 while down: {wrong:#?}"
    );
    let slowest = sent_in_outage
        .iter()
        .map(|s| s.took)
        .max()
        .unwrap_or_default();
    println!("slowest_answer_during_outage_ms={}", slowest.as_millis());
    let slow: Vec<_> = sent_in_outage
        .iter()
        .filter(|s| s.took > Duration::from_millis(7500))
        .collect();
    assert!(slow.is_empty(), "left hanging during the outage: {slow:#?}");
    // Everything after the recovery's first success succeeded.
    let after: Vec<_> = seen
        .iter()
        .filter(|s| {
            s.at > recovered + Duration::from_millis(500) && s.status != 200 && s.status != 201
        })
        .collect();
    assert!(after.is_empty(), "failures after recovery: {after:#?}");

    // History: every acknowledged creation exists; the ciphertext still unwraps.
    let created = load.created.lock().unwrap().clone();
    assert!(!created.is_empty());
    for id in &created {
        let reply = admin
            .send(
                reqwest::Method::GET,
                &format!("/api/v2/keys/{id}"),
                &headers,
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            reply.status, 200,
            "acknowledged key {id} lost: {}",
            reply.body
        );
    }
    let reply = admin
        .send(
            reqwest::Method::POST,
            &format!("/api/v2/keys/{key}/actions/unwrap"),
            &headers,
            Some(&json!({ "ciphertext": load.ciphertext })),
        )
        .await
        .unwrap();
    assert_eq!(reply.body["plaintext"], plaintext);
    let log = stop(server);
    // The audit chain held across the outage.
    let verify = keyward(&[
        "audit",
        "verify",
        "--database-url",
        &db_url,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        verify.status.success(),
        "{}{}\nserver log:\n{log}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(!log.contains("panicked"), "{log}");
    psql(
        &pg.url,
        &format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"),
    );
    let _ = Path::new(&data);
}
