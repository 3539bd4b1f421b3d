//! `keyward keys import` against a running server: a root key made from material that never
//! crosses the wire in the clear, its rotation to new material, and clear one-line refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use keyward_client::Method;
use serde_json::{Value, json};

fn import(
    url: &str,
    instance: &str,
    apikey: &str,
    args: &[&str],
    material: &std::path::Path,
) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["keys", "--output", "json", "import"])
        .args(args)
        .arg("--material-file")
        .arg(material)
        .env("KEYWARD_URL", url)
        .env("KEYWARD_INSTANCE", instance)
        .env("KEYWARD_APIKEY", apikey)
        .env("KEYWARD_CONFIG_DIR", "/nonexistent/keyward-test")
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_key_is_imported_and_rotated_through_import_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = common::serve(&data, "127.0.0.1:0", &[]);
    let url = common::started(&data, &mut server);
    let instance = common::bootstrap(&data, "kms_instance_id");
    let apikey = std::fs::read_to_string(data.join("admin.apikey")).unwrap();
    let apikey = apikey.trim();
    let material = dir.path().join("material.bin");
    std::fs::write(&material, keyward_crypto::random_bytes(32).unwrap()).unwrap();

    let out = import(&url, &instance, apikey, &["imported-by-cli"], &material);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: Value = serde_json::from_slice::<Value>(&out.stdout).unwrap()["resources"][0].clone();
    assert_eq!(made["imported"], true);
    let key = made["id"].as_str().unwrap().to_owned();
    // The material is nowhere in what the command printed.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("material"));

    let client = common::admin_client(&url, &data, None);
    let headers = [("bluemix-instance", instance.as_str())];
    let wrapped = client
        .send(
            Method::POST,
            &format!("/api/v2/keys/{key}/actions/wrap"),
            &headers,
            Some(&json!({})),
        )
        .await
        .unwrap();
    assert_eq!(wrapped.status, 200);

    std::fs::write(&material, keyward_crypto::random_bytes(16).unwrap()).unwrap();
    let out = import(&url, &instance, apikey, &["--rotate", &key], &material);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated: Value =
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["resources"][0].clone();
    assert_eq!(rotated["id"], json!(key));
    assert_ne!(rotated["keyVersion"]["id"], made["keyVersion"]["id"]);
    let unwrapped = client
        .send(
            Method::POST,
            &format!("/api/v2/keys/{key}/actions/unwrap"),
            &headers,
            Some(&json!({"ciphertext": wrapped.body["ciphertext"]})),
        )
        .await
        .unwrap();
    assert_eq!(unwrapped.status, 200);
    assert_eq!(unwrapped.body["plaintext"], wrapped.body["plaintext"]);

    // Refusals: one line each, non-zero exit.
    std::fs::write(&material, [0u8; 20]).unwrap();
    let out = import(&url, &instance, apikey, &["odd"], &material);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("16, 24 or 32"), "{stderr}");
    std::fs::write(&material, [0u8; 32]).unwrap();
    let out = import(&url, &instance, "not-an-api-key", &["nope"], &material);
    assert!(!out.status.success());
    let out = import(
        &url,
        &instance,
        apikey,
        &["--rotate", "no-such-key"],
        &material,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("KEY_NOT_FOUND_ERR"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    common::stop(server);
}
