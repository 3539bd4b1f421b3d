//! Two `keyward serve` nodes on one PostgreSQL database: the node that accepted a switch to a
//! customer key is killed with SIGKILL mid-way, and the surviving node adopts the re-encryption
//! once the dead node's lease lapses, finishes it without a restart, and every secret decrypts.
//! Prints the adoption time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keyward_client::{Client, Method, RetryPolicy};
use serde_json::{Value, json};

const PROVIDERS: usize = 400;

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-Atqc", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start(dir: &Path, database_url: &str) -> (Child, String) {
    let _ = std::fs::remove_file(dir.join("bootstrap.json"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--reencrypt-batch-size",
            "5",
            "--data-dir",
        ])
        .arg(dir)
        .env("KEYWARD_DATABASE_URL", database_url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start keyward");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let url = std::fs::read_to_string(dir.join("bootstrap.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["url"].as_str().map(str::to_owned))
            .filter(|u| !u.is_empty());
        if let Some(url) = url {
            return (child, url);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("keyward exited during start: {status}");
        }
        assert!(Instant::now() < deadline, "keyward did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
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

async fn call(c: &Client, method: Method, path: &str, body: Option<Value>) -> Value {
    let r = c.send(method, path, &[], body.as_ref()).await.unwrap();
    assert!(
        (200..300).contains(&r.status),
        "{path}: {} {}",
        r.status,
        r.body
    );
    r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_surviving_node_adopts_and_finishes_a_dead_nodes_switch() {
    let admin_url = std::env::var("KEYWARD_TEST_DATABASE_URL")
        .expect("KEYWARD_TEST_DATABASE_URL must point at a PostgreSQL database");
    let db = format!("keyward_adopt_{}", uuid::Uuid::new_v4().simple());
    psql(&admin_url, &format!("CREATE DATABASE {db}"));
    let url = format!("{}/{db}", admin_url.rsplit_once('/').unwrap().0);
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();

    let (mut node_a, url_a) = start(dir_a.path(), &url);
    std::fs::copy(
        dir_a.path().join("master.key"),
        dir_b.path().join("master.key"),
    )
    .unwrap();
    let (mut node_b, url_b) = start(dir_b.path(), &url);
    let apikey = std::fs::read_to_string(dir_a.path().join("admin.apikey"))
        .unwrap()
        .trim()
        .to_owned();
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(dir_a.path().join("bootstrap.json")).unwrap(),
    )
    .unwrap();
    let (kms, config) = (
        info["kms_instance_id"].as_str().unwrap().to_owned(),
        info["config_instance_id"].as_str().unwrap().to_owned(),
    );
    let a = client(&url_a, &apikey);
    let b = client(&url_b, &apikey);

    let key = a
        .send(
            Method::POST,
            "/api/v2/keys",
            &[("bluemix-instance", kms.as_str())],
            Some(&json!({"resources": [{"name": "adopted", "extractable": false}]})),
        )
        .await
        .unwrap();
    assert_eq!(key.status, 201, "{}", key.body);
    let crn = key.body["resources"][0]["crn"].as_str().unwrap().to_owned();
    call(
        &a,
        Method::POST,
        "/v1/policies",
        Some(json!({"type": "authorization",
            "subjects": [{"attributes": [{"name": "serviceName", "value": "configsvc"}]}],
            "roles": [{"role_id": "Reader"}],
            "resources": [{"attributes": [{"name": "serviceName", "value": "kms"},
                {"name": "serviceInstance", "value": kms}]}]})),
    )
    .await;
    for i in 0..PROVIDERS {
        call(
            &a,
            Method::POST,
            &format!("/openscale/{config}/v2/service_providers"),
            Some(json!({"name": format!("sp-{i}"), "service_type": "custom_machine_learning",
                "credentials": {"url": format!("https://ml-{i}.example"), "password": format!("pw-{i}")}})),
        )
        .await;
    }

    // Node A accepts the switch and dies in the middle of it.
    let prefs = format!("/openscale/{config}/v2/user_preferences");
    call(
        &a,
        Method::PUT,
        &format!("{prefs}/user_root_key_crn"),
        Some(json!({"user_root_key_crn": crn})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    node_a.kill().unwrap();
    node_a.wait().unwrap();
    let killed = Instant::now();
    let at_kill = call(&b, Method::GET, &prefs, None).await["key_protection"].clone();
    assert!(
        !at_kill["switching_to"].is_null(),
        "the switch finished before the kill: {at_kill}"
    );

    // Node B, never restarted, adopts the job once A's lease lapses and finishes it.
    let adopted = loop {
        let p = call(&b, Method::GET, &prefs, None).await["key_protection"].clone();
        if p["switching_to"].is_null() {
            assert_eq!(p["root_key"], crn.as_str(), "{p}");
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(40),
            "node B has not finished the switch: {p}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let check = call(
        &b,
        Method::GET,
        &format!("/openscale/{config}/v2/secrets_check"),
        None,
    )
    .await;
    assert_eq!(check["secrets"], PROVIDERS, "{check}");
    assert_eq!(check["fields_decrypted"], 2 * PROVIDERS, "{check}");
    assert_eq!(check["failures"], json!([]), "{check}");
    println!(
        "{}",
        json!({"adoption_after_kill_s": adopted.as_secs_f64(), "at_kill": at_kill["progress"]})
    );
    node_b.kill().unwrap();
    node_b.wait().unwrap();
    psql(
        &admin_url,
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    );
}
