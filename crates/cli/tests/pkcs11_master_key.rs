//! `keyward serve --master-key pkcs11` from the outside, on a SoftHSM2 token: no key file is
//! written, keys made under the token's master key still open after a restart, the audit trail
//! verifies with the same options, and a missing PIN or another master key stops the server
//! with a message that says which.
//!
//! The token comes from `KEYWARD_TEST_PKCS11_MODULE`, `_TOKEN` and `_PIN` (`scripts/test` makes
//! one; `SOFTHSM2_CONF` reaches the server through the environment). Unset, the test fails.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{admin_client, bootstrap, keyward, serve, started, stop};
use keyward_client::Method;
use serde_json::json;

struct Token {
    module: String,
    label: String,
    pin: String,
}

fn token() -> Token {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run scripts/test, which makes a SoftHSM2 token")
        })
    };
    Token {
        module: var("KEYWARD_TEST_PKCS11_MODULE"),
        label: var("KEYWARD_TEST_PKCS11_TOKEN"),
        pin: var("KEYWARD_TEST_PKCS11_PIN"),
    }
}

fn hsm_args<'a>(t: &'a Token, key_label: &'a str, pin_file: &'a Path) -> Vec<&'a str> {
    vec![
        "--master-key",
        "pkcs11",
        "--pkcs11-module",
        &t.module,
        "--pkcs11-token-label",
        &t.label,
        "--pkcs11-key-label",
        key_label,
        "--pkcs11-pin-file",
        pin_file.to_str().unwrap(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_key_stays_in_the_token_across_restarts() {
    let t = token();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{}\n", t.pin)).unwrap();
    let label = format!("master-{}", uuid::Uuid::new_v4().simple());
    let args = hsm_args(&t, &label, &pin_file);

    let mut server = serve(&data, "127.0.0.1:0", &args);
    let url = started(&data, &mut server);
    assert!(
        !data.join("master.key").exists(),
        "no key file with a token"
    );
    let instance = bootstrap(&data, "kms_instance_id");
    let client = admin_client(&url, &data, None);
    let kms = [("bluemix-instance", instance.as_str())];
    let created = client
        .send(
            Method::POST,
            "/api/v2/keys",
            &kms,
            Some(&json!({
                "metadata": {"collectionType": "application/vnd.ibm.kms.key+json", "collectionTotal": 1},
                "resources": [{"type": "application/vnd.ibm.kms.key+json", "name": "root", "extractable": false}]
            })),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let key = created.body["resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrapped = client
        .send(
            Method::POST,
            &format!("/api/v2/keys/{key}/actions/wrap"),
            &kms,
            Some(&json!({})),
        )
        .await
        .unwrap();
    assert_eq!(wrapped.status, 200, "{}", wrapped.body);
    let stderr = stop(server);
    assert!(!stderr.contains(&t.pin), "the PIN in the log");

    // Restarted: the same key in the token opens what was sealed before.
    std::fs::remove_file(data.join("bootstrap.json")).unwrap();
    let mut server = serve(&data, "127.0.0.1:0", &args);
    let url = started(&data, &mut server);
    let client = admin_client(&url, &data, None);
    let unwrapped = client
        .send(
            Method::POST,
            &format!("/api/v2/keys/{key}/actions/unwrap"),
            &kms,
            Some(&json!({"ciphertext": wrapped.body["ciphertext"]})),
        )
        .await
        .unwrap();
    assert_eq!(unwrapped.status, 200, "{}", unwrapped.body);
    assert_eq!(unwrapped.body["plaintext"], wrapped.body["plaintext"]);
    stop(server);

    let verify = keyward(
        &[
            &["audit", "verify", "--data-dir", data.to_str().unwrap()][..],
            &args,
        ]
        .concat(),
    );
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // Offline commands that need the master key take the same options.
    let rotated = keyward(
        &[
            &[
                "iam",
                "rotate-signing-key",
                "--data-dir",
                data.to_str().unwrap(),
            ][..],
            &args,
        ]
        .concat(),
    );
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(!data.join("master.key").exists(), "no key file made");

    // Another key of the token is not this database's master key.
    let other = hsm_args(&t, "another-master", &pin_file);
    let refused = keyward(
        &[
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                data.to_str().unwrap(),
            ][..],
            &other,
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("\"another-master\"") && stderr.contains("not the one"),
        "{stderr}"
    );

    // Started without the token, it says which options the database needs.
    let refused = keyward(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("--master-key pkcs11"), "{stderr}");

    // No PIN: refused before anything starts, saying how to give one.
    let no_pin: Vec<&str> = args[..args.len() - 2].to_vec();
    let refused = keyward(
        &[
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                data.to_str().unwrap(),
            ][..],
            &no_pin,
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("KEYWARD_PKCS11_PIN"), "{stderr}");
}
