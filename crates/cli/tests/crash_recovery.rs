//! Crash injection: the real `keyward` binary is killed with SIGKILL at random moments while it
//! re-encrypts a few thousand instance secrets, in both directions (global key → customer key
//! and back), at least 30 times, restarting it each time. Afterwards every secret decrypts to
//! its original value, each tenant has one generation left, and the last switch completed.
//!
//! With `KEYWARD_TEST_DATABASE_URL` set, the same runs against a fresh PostgreSQL database too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keyward_client::{Client, Method, RetryPolicy};
use rand::Rng;
use serde_json::{Value, json};

const KILLS: usize = 30;
const PROVIDERS: usize = 1000;

struct Server {
    child: Child,
    url: String,
}

fn start(dir: &Path, database_url: Option<&str>) -> Server {
    let _ = std::fs::remove_file(dir.join("bootstrap.json"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--reencrypt-batch-size",
        "40",
        "--data-dir",
    ])
    .arg(dir)
    .env_remove("KEYWARD_DATABASE_URL")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Some(url) = database_url {
        cmd.env("KEYWARD_DATABASE_URL", url);
    }
    let mut child = cmd.spawn().expect("start keyward");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let url = std::fs::read_to_string(dir.join("bootstrap.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|v| v["url"].as_str().map(str::to_owned))
            .filter(|url| !url.is_empty());
        if let Some(url) = url {
            return Server { child, url };
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("keyward exited during start: {status}");
        }
        assert!(Instant::now() < deadline, "keyward did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill(mut s: Server) {
    s.child.kill().expect("SIGKILL");
    s.child.wait().expect("reap");
}

fn client(url: &str, apikey: &str) -> Client {
    Client::new(
        url,
        url,
        apikey.to_owned(),
        Duration::from_secs(30),
        RetryPolicy::default(),
    )
    .unwrap()
}

fn bootstrap(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("bootstrap.json")).unwrap()).unwrap()
}

async fn protection(c: &Client, instance: &str) -> Value {
    let r = c
        .send(
            Method::GET,
            &format!("/openscale/{instance}/v2/user_preferences"),
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["key_protection"].clone()
}

async fn run(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().to_owned();
    let server = start(&data, database_url);
    let apikey = std::fs::read_to_string(data.join("admin.apikey"))
        .unwrap()
        .trim()
        .to_owned();
    let info = bootstrap(&data);
    let (kms, config) = (
        info["kms_instance_id"].as_str().unwrap().to_owned(),
        info["config_instance_id"].as_str().unwrap().to_owned(),
    );
    let c = client(&server.url, &apikey);

    // The customer's root key and its authorization for the configuration service.
    let key = c
        .send(
            Method::POST,
            "/api/v2/keys",
            &[("bluemix-instance", kms.as_str())],
            Some(&json!({"resources": [{"name": "crash-test", "extractable": false}]})),
        )
        .await
        .unwrap();
    assert_eq!(key.status, 201, "{}", key.body);
    let crn = key.body["resources"][0]["crn"].as_str().unwrap().to_owned();
    let policy = json!({"type": "authorization",
        "subjects": [{"attributes": [{"name": "serviceName", "value": "configsvc"}]}],
        "roles": [{"role_id": "Reader"}],
        "resources": [{"attributes": [{"name": "serviceName", "value": "kms"}, {"name": "serviceInstance", "value": kms}]}]});
    assert_eq!(
        c.send(Method::POST, "/v1/policies", &[], Some(&policy))
            .await
            .unwrap()
            .status,
        201
    );

    // A few thousand secret fields: service providers with three credential fields each.
    let mut expected = Vec::new();
    let path = format!("/openscale/{config}/v2/service_providers");
    for i in 0..PROVIDERS {
        let creds = json!({"url": format!("https://ml-{i}.example"), "username": format!("user-{i}"), "password": format!("pw-{i}-{}", rand::rng().random::<u64>())});
        let body = json!({"name": format!("sp-{i}"), "service_type": "custom_machine_learning", "credentials": creds});
        let r = c.send(Method::POST, &path, &[], Some(&body)).await.unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        let secret = r.body["entity"]["credentials"]["secret_id"]
            .as_str()
            .unwrap()
            .to_owned();
        for (field, value) in creds.as_object().unwrap() {
            expected.push(
                json!({"instance": config, "secret": secret, "field": field, "value": value}),
            );
        }
    }

    let mut server = Some(server);
    let mut hit_mid_switch = 0;
    let mut switches = 0;
    // How long to wait before a kill adapts to the machine: shorter after a kill that came too
    // late (the switch had finished), longer after one that landed mid-switch, so that about
    // half the kills land mid-switch and switches keep completing, however fast the machine.
    let mut max_delay_ms: u64 = 200;
    for _ in 0..KILLS {
        let s = server.take().unwrap();
        let c = client(&s.url, &apikey);
        let p = protection(&c, &config).await;
        if p["switching_to"].is_null() {
            let to_customer = p["root_key"] == "global";
            let prefs = format!("/openscale/{config}/v2/user_preferences/user_root_key_crn");
            let r = if to_customer {
                c.send(
                    Method::PUT,
                    &prefs,
                    &[],
                    Some(&json!({"user_root_key_crn": crn})),
                )
                .await
                .unwrap()
            } else {
                c.send(Method::DELETE, &prefs, &[], None).await.unwrap()
            };
            assert_eq!(r.status, 200, "{}", r.body);
            switches += 1;
        }
        let delay = rand::rng().random_range(0..=max_delay_ms);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if protection(&c, &config).await["switching_to"].is_null() {
            max_delay_ms = (max_delay_ms * 3 / 4).max(5);
        } else {
            hit_mid_switch += 1;
            max_delay_ms = (max_delay_ms * 5 / 4).min(2000);
        }
        kill(s);
        server = Some(start(&data, database_url));
    }
    kill(server.take().unwrap());
    assert!(
        switches >= 4,
        "both directions were exercised more than once ({switches} switches)"
    );
    assert!(
        hit_mid_switch >= KILLS / 3,
        "only {hit_mid_switch} of {KILLS} kills landed during a re-encryption"
    );

    let mut file = tempfile::NamedTempFile::new().unwrap();
    for line in &expected {
        writeln!(file, "{line}").unwrap();
    }
    let mut verify = Command::new(env!("CARGO_BIN_EXE_keyward"));
    verify
        .args(["verify-secrets", "--data-dir"])
        .arg(&data)
        .arg("--expect")
        .arg(file.path());
    verify.env_remove("KEYWARD_DATABASE_URL");
    if let Some(url) = database_url {
        verify.env("KEYWARD_DATABASE_URL", url);
    }
    let out = verify.output().unwrap();
    assert!(
        out.status.success(),
        "verify-secrets failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{KILLS} kills ({hit_mid_switch} during a re-encryption, {switches} switches started): {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_reencryption_loses_nothing_on_sqlite() {
    run(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_reencryption_loses_nothing_on_postgres() {
    // A fresh database, so that the server bootstraps from nothing.
    let Some(db) = common::FreshDatabase::create("keyward_crash") else {
        return;
    };
    run(Some(&db.url)).await;
}
