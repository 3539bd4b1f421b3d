//! Fault kit: a node dies under load. Two `keyward serve` nodes on one PostgreSQL database take
//! key unwraps and instance-secret writes from clients on both; node A accepts a tenant's switch
//! to a customer root key and is killed with SIGKILL a moment later, mid-load and mid-switch.
//! Then, with node B never restarted:
//! - B answered every request of the run, none with a 5xx;
//! - B adopted the dead node's switch and finished it within 15 s of the kill;
//! - every write acknowledged by either node is there, and every secret decrypts under the new
//!   key (the history check), and every KMS key whose creation either node acknowledged exists,
//!   in the state its last acknowledged change left it (the KMS's history check);
//! - the audit chain both nodes appended to verifies.
//!
//! Prints `node_kill_adoption_ms` and the answers per node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Database, Server, admin_client, bootstrap, keyward, serve, started, stop};
use keyward_client::{Client, Method};
use serde_json::{Value, json};

/// Service providers written before the switch (enough for the switch to outlast the kill).
const PROVIDERS: usize = 150;

fn node(data: &Path, database_url: &str) -> (Server, String) {
    let mut child = serve(
        data,
        "127.0.0.1:0",
        &[
            "--database-url",
            database_url,
            "--reencrypt-batch-size",
            "5",
            "--rate-limit-per-principal",
            "0",
        ],
    );
    let url = started(data, &mut child);
    (child, url)
}

async fn ok(client: &Client, method: Method, path: &str, body: Option<Value>) -> Value {
    let reply = client.send(method, path, &[], body.as_ref()).await.unwrap();
    assert!(
        (200..300).contains(&reply.status),
        "{path}: {} {}",
        reply.status,
        reply.body
    );
    reply.body
}

/// What one client saw: answers by status (0: no answer), the names it wrote, and the KMS keys
/// it created with the state each must be in (`None` when a change's answer was lost).
#[derive(Default)]
struct History {
    answers: BTreeMap<(&'static str, u16), usize>,
    written: Vec<String>,
    keys: Vec<(String, Option<i64>)>,
}

/// One client's target: a node, its credentials, and what it sends.
#[derive(Clone)]
struct Target {
    node: &'static str,
    http: reqwest::Client,
    url: String,
    token: String,
    kms: String,
    config: String,
    key: String,
    ciphertext: String,
}

/// Sends a secret write and an unwrap to one node, over and over until `until`, recording
/// each answer.
async fn load(t: Target, until: Instant, history: Arc<Mutex<History>>) {
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let name = format!("{}-{n}", t.node);
        let written = t
            .http
            .post(format!(
                "{}/openscale/{}/v2/service_providers",
                t.url, t.config
            ))
            .bearer_auth(&t.token)
            .json(
                &json!({"name": name, "service_type": "custom_machine_learning",
                "credentials": {"url": "https://ml.example", "password": format!("pw-{name}")}}),
            )
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        let unwrapped = t
            .http
            .post(format!("{}/api/v2/keys/{}/actions/unwrap", t.url, t.key))
            .bearer_auth(&t.token)
            .header("bluemix-instance", &t.kms)
            .json(&json!({"ciphertext": t.ciphertext}))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        let (kms_answers, key) = kms_change(&t, &name, n % 2 == 0).await;
        {
            let mut h = history.lock().unwrap();
            *h.answers.entry((t.node, written)).or_default() += 1;
            *h.answers.entry((t.node, unwrapped)).or_default() += 1;
            if written == 201 {
                h.written.push(name);
            }
            for status in kms_answers {
                *h.answers.entry((t.node, status)).or_default() += 1;
            }
            h.keys.extend(key);
        }
        if written == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Creates a KMS key named `name` on the target's node and, with `disable`, disables it. Returns
/// the answers' statuses (0: none) and, when its creation was acknowledged, the key and the
/// state it must now be in.
async fn kms_change(
    t: &Target,
    name: &str,
    disable: bool,
) -> (Vec<u16>, Option<(String, Option<i64>)>) {
    let created = t
        .http
        .post(format!("{}/api/v2/keys", t.url))
        .bearer_auth(&t.token)
        .header("bluemix-instance", &t.kms)
        .json(&json!({"resources": [{"name": name, "extractable": false}]}))
        .send()
        .await;
    let Ok(created) = created else {
        return (vec![0], None);
    };
    let status = created.status().as_u16();
    let id = match created.json::<Value>().await {
        Ok(body) if status == 201 => body["resources"][0]["id"].as_str().map(str::to_owned),
        _ => None,
    };
    let Some(id) = id else {
        return (vec![status], None);
    };
    if !disable {
        return (vec![status], Some((id, Some(1))));
    }
    let disabled = t
        .http
        .post(format!("{}/api/v2/keys/{id}/actions/disable", t.url))
        .bearer_auth(&t.token)
        .header("bluemix-instance", &t.kms)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    let state = match disabled {
        204 => Some(2),
        0 => None,
        _ => Some(1),
    };
    (vec![status, disabled], Some((id, state)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_and_mid_switch_loses_nothing() {
    let db = Database::create();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (data_a, data_b) = (dir_a.path().join("data"), dir_b.path().join("data"));
    let (mut node_a, url_a) = node(&data_a, &db.url);
    std::fs::create_dir_all(&data_b).unwrap();
    std::fs::copy(data_a.join("master.key"), data_b.join("master.key")).unwrap();
    let (node_b, url_b) = node(&data_b, &db.url);
    let a = admin_client(&url_a, &data_a, None);
    let b = admin_client(&url_b, &data_a, None);
    let kms = bootstrap(&data_a, "kms_instance_id");
    let config = bootstrap(&data_a, "config_instance_id");

    // A customer key the configuration service may use, a DEK wrapped under it, and secrets.
    let on_kms = [("bluemix-instance", kms.as_str())];
    let key = a
        .send(
            Method::POST,
            "/api/v2/keys",
            &on_kms,
            Some(&json!({"resources": [{"name": "customer", "extractable": false}]})),
        )
        .await
        .unwrap()
        .body["resources"][0]
        .clone();
    let (key_id, crn) = (
        key["id"].as_str().unwrap().to_owned(),
        key["crn"].as_str().unwrap().to_owned(),
    );
    let wrapped = a
        .send(
            Method::POST,
            &format!("/api/v2/keys/{key_id}/actions/wrap"),
            &on_kms,
            Some(&json!({})),
        )
        .await
        .unwrap()
        .body;
    ok(
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
        ok(
            &a,
            Method::POST,
            &format!("/openscale/{config}/v2/service_providers"),
            Some(
                json!({"name": format!("before-{i}"), "service_type": "custom_machine_learning",
                "credentials": {"url": "https://ml.example", "password": format!("pw-{i}")}}),
            ),
        )
        .await;
    }

    // Load on both nodes.
    let history = Arc::new(Mutex::new(History::default()));
    let began = Instant::now();
    let until = began + Duration::from_secs(60);
    let token = a.token().await.unwrap().to_string();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let workers: Vec<_> = [("a", &url_a), ("b", &url_b)]
        .into_iter()
        .map(|(node, url)| {
            let target = Target {
                node,
                http: http.clone(),
                url: url.clone(),
                token: token.clone(),
                kms: kms.clone(),
                config: config.clone(),
                key: key_id.clone(),
                ciphertext: wrapped["ciphertext"].as_str().unwrap().to_owned(),
            };
            tokio::spawn(load(target, until, Arc::clone(&history)))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;

    // Node A accepts the switch, and dies in the middle of it and of the load.
    let prefs = format!("/openscale/{config}/v2/user_preferences");
    ok(
        &a,
        Method::PUT,
        &format!("{prefs}/user_root_key_crn"),
        Some(json!({"user_root_key_crn": crn})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    node_a.kill().unwrap();
    node_a.wait().unwrap();
    let killed = Instant::now();
    let at_kill = ok(&b, Method::GET, &prefs, None).await["key_protection"].clone();
    assert!(
        !at_kill["switching_to"].is_null(),
        "the switch finished before the kill: {at_kill}"
    );

    // Node B adopts the switch and finishes it.
    let adopted = loop {
        let p = ok(&b, Method::GET, &prefs, None).await["key_protection"].clone();
        if p["switching_to"].is_null() {
            assert_eq!(p["root_key"], crn.as_str(), "{p}");
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "node B has not finished the dead node's switch 15 s after the kill: {p}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    for w in workers {
        w.abort();
        let _ = w.await;
    }
    let history = Arc::try_unwrap(history)
        .ok()
        .map(|m| m.into_inner().unwrap())
        .unwrap_or_else(|| panic!("a worker still holds the history"));
    println!(
        "node_kill_adoption_ms={} answers={:?} written={} keys={}",
        adopted.as_millis(),
        history.answers,
        history.written.len(),
        history.keys.len()
    );

    // Node B answered everything, never with a 5xx.
    let b_failures: Vec<_> = history
        .answers
        .iter()
        .filter(|((node, status), _)| *node == "b" && (*status == 0 || *status >= 500))
        .collect();
    assert!(
        b_failures.is_empty(),
        "node B failed: {:?}",
        history.answers
    );

    // History: every acknowledged write is there, and every secret decrypts.
    let listed = ok(
        &b,
        Method::GET,
        &format!("/openscale/{config}/v2/service_providers"),
        None,
    )
    .await;
    let names: std::collections::HashSet<_> = listed["service_providers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["entity"]["name"].as_str().map(str::to_owned))
        .collect();
    let lost: Vec<_> = history
        .written
        .iter()
        .filter(|n| !names.contains(*n))
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    let check = ok(
        &b,
        Method::GET,
        &format!("/openscale/{config}/v2/secrets_check"),
        None,
    )
    .await;
    assert_eq!(check["failures"], json!([]), "{check}");
    assert_eq!(
        check["fields_decrypted"].as_u64().unwrap(),
        2 * check["secrets"].as_u64().unwrap(),
        "{check}"
    );
    assert!(check["secrets"].as_u64().unwrap() >= (PROVIDERS + history.written.len()) as u64);

    // The KMS's history: every key whose creation was acknowledged is there, in the state its
    // last acknowledged change left it.
    assert!(!history.keys.is_empty());
    for (id, state) in &history.keys {
        let reply = b
            .send(Method::GET, &format!("/api/v2/keys/{id}"), &on_kms, None)
            .await
            .unwrap();
        assert_eq!(
            reply.status, 200,
            "key {id} acknowledged and lost: {}",
            reply.body
        );
        if let Some(state) = state {
            assert_eq!(
                reply.body["resources"][0]["state"].as_i64(),
                Some(*state),
                "key {id}: {}",
                reply.body
            );
        }
    }

    stop(node_b);
    let verify = keyward(&[
        "audit",
        "verify",
        "--data-dir",
        data_a.to_str().unwrap(),
        "--database-url",
        &db.url,
    ]);
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
