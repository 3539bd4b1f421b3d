//! `keyward serve --master-key pkcs11` from the outside, on a SoftHSM2 token: no key file is
//! written, keys made under the token's master key still open after a restart, the audit trail
//! verifies with the same options, and a missing PIN or another master key stops the server
//! with a message that says which.
//!
//! The token comes from `KEYWARD_TEST_PKCS11_MODULE`, `_TOKEN` and `_PIN` (`scripts/test` makes
//! one; `SOFTHSM2_CONF` reaches the server through the environment). Unset, the test fails.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

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

/// What each test starts from: the token, a temporary directory holding a data directory and a
/// file with the PIN, and a key label of its own.
struct Setup {
    token: Token,
    _dir: tempfile::TempDir,
    data: PathBuf,
    pin_file: PathBuf,
    label: String,
}

impl Setup {
    fn new(label: &str) -> Self {
        let token = token();
        let dir = tempfile::tempdir().unwrap();
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, format!("{}\n", token.pin)).unwrap();
        Self {
            data: dir.path().join("data"),
            label: format!("{label}-{}", uuid::Uuid::new_v4().simple()),
            token,
            _dir: dir,
            pin_file,
        }
    }
}

/// SoftHSM2 keeps a token in files that one process rewrites while another reads them: the
/// tests of this file use the token one at a time.
static TOKEN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_key_stays_in_the_token_across_restarts() {
    let _token = TOKEN.lock().await;
    let setup = Setup::new("master");
    let (t, data, pin_file, label) = (&setup.token, &setup.data, &setup.pin_file, &setup.label);
    let args = hsm_args(t, label, pin_file);

    let mut server = serve(data, "127.0.0.1:0", &args);
    let url = started(data, &mut server);
    assert!(
        !data.join("master.key").exists(),
        "no key file with a token"
    );
    let (key, wrapped) = key_and_wrapped(&url, data).await;
    let stderr = stop(server);
    assert!(!stderr.contains(&t.pin), "the PIN in the log");

    // Restarted: the same key in the token opens what was sealed before.
    still_opens(data, &args, &key, &wrapped).await;

    let data_dir = data.to_str().unwrap();
    run_ok(&[&["audit", "verify", "--data-dir", data_dir][..], &args].concat());

    // Offline commands that need the master key take the same options.
    run_ok(
        &[
            &["iam", "rotate-signing-key", "--data-dir", data_dir][..],
            &args,
        ]
        .concat(),
    );
    assert!(!data.join("master.key").exists(), "no key file made");

    // Another key of the token is not this database's master key.
    let other = hsm_args(t, "another-master", pin_file);
    let stderr = refused_start(data.to_str().unwrap(), &other);
    assert!(
        stderr.contains("\"another-master\"") && stderr.contains("not the one"),
        "{stderr}"
    );

    // Started without the token, it says which options the database needs.
    let stderr = refused_start(data.to_str().unwrap(), &[]);
    assert!(stderr.contains("--master-key pkcs11"), "{stderr}");

    // No PIN: refused before anything starts, saying how to give one.
    let stderr = refused_start(data.to_str().unwrap(), &args[..args.len() - 2]);
    assert!(stderr.contains("KEYWARD_PKCS11_PIN"), "{stderr}");
}

/// Creates a root key and wraps a fresh DEK under it; returns the key id and the wrap's answer.
async fn key_and_wrapped(url: &str, data: &Path) -> (String, serde_json::Value) {
    let client = admin_client(url, data, None);
    let instance = bootstrap(data, "kms_instance_id");
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
    let (status, wrapped) = key_action(url, data, &key, "wrap", json!({})).await;
    assert_eq!(status, 200, "{wrapped}");
    (key, wrapped)
}

/// `POST /api/v2/keys/{key}/actions/{action}` in the bootstrap KMS instance of `data`, as its
/// admin; the reply's status and body.
async fn key_action(
    url: &str,
    data: &Path,
    key: &str,
    action: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let instance = bootstrap(data, "kms_instance_id");
    let reply = admin_client(url, data, None)
        .send(
            Method::POST,
            &format!("/api/v2/keys/{key}/actions/{action}"),
            &[("bluemix-instance", instance.as_str())],
            Some(&body),
        )
        .await
        .unwrap();
    (reply.status, reply.body)
}

/// Serves `data` with `args`, checks that a token is issued (the signing keys open) and that
/// `wrapped` unwraps under `key` to its plaintext, and stops.
async fn still_opens(data: &Path, args: &[&str], key: &str, wrapped: &serde_json::Value) {
    let _ = std::fs::remove_file(data.join("bootstrap.json"));
    let mut server = serve(data, "127.0.0.1:0", args);
    let url = started(data, &mut server);
    let (status, unwrapped) = key_action(
        &url,
        data,
        key,
        "unwrap",
        json!({"ciphertext": wrapped["ciphertext"]}),
    )
    .await;
    assert_eq!(status, 200, "{unwrapped}");
    assert_eq!(unwrapped["plaintext"], wrapped["plaintext"]);
    stop(server);
}

/// [`keyward`] with owned arguments.
fn keyward_of<S: AsRef<str>>(args: &[S]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    keyward(&args)
}

/// Runs `keyward` expecting it to fail; returns what it wrote to stderr.
fn run_refused<S: AsRef<str> + std::fmt::Debug>(args: &[S]) -> String {
    let out = keyward_of(args);
    assert!(!out.status.success(), "keyward {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `keyward serve` on `data_dir` with `args`, which must refuse to start; its stderr.
fn refused_start(data_dir: &str, args: &[&str]) -> String {
    let serve = ["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir];
    run_refused(&[&serve[..], args].concat())
}

fn run_ok<S: AsRef<str> + std::fmt::Debug>(args: &[S]) -> String {
    let out = keyward_of(args);
    assert!(
        out.status.success(),
        "keyward {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_moves_its_master_key_into_the_token_and_back() {
    let _token = TOKEN.lock().await;
    let setup = Setup::new("migrated");
    let (t, data, pin_file, label) = (&setup.token, &setup.data, &setup.pin_file, &setup.label);
    let data_dir = data.to_str().unwrap();
    let hsm = hsm_args(t, label, pin_file);
    let token_options = &hsm[2..]; // without `--master-key pkcs11`

    // A deployment on the file key, with a key, a signing key and an audit checkpoint key.
    let mut server = serve(data, "127.0.0.1:0", &[]);
    let url = started(data, &mut server);
    let (key, wrapped) = key_and_wrapped(&url, data).await;
    stop(server);

    // Into the token.
    let migrate = |to: &str, current: &[&str]| -> Vec<String> {
        ["master-key", "migrate", "--to", to, "--data-dir", data_dir]
            .iter()
            .chain(current)
            .map(|a| (*a).to_owned())
            .collect()
    };
    let out = run_ok(&migrate("pkcs11", token_options));
    assert!(out.contains("values sealed again"), "{out}");
    still_opens(data, &hsm, &key, &wrapped).await;
    run_ok(&[&["audit", "verify", "--data-dir", data_dir][..], &hsm].concat());
    // The old file key no longer opens this database.
    refused_start(data_dir, &[]);
    // The same command again: nothing left to do.
    let out = run_ok(&migrate("pkcs11", token_options));
    assert!(out.contains("(0 values sealed again"), "{out}");

    // A migration to some other key was started and not finished: no node starts, and a
    // migration to this target is refused until that one is finished.
    let db = data.join("keyward.db");
    let sql = |statement: &str, params: &str| {
        let status = std::process::Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import hashlib,sqlite3,sys,uuid; c=sqlite3.connect(sys.argv[1]); \
                 file_key=hashlib.sha256(b'keyward master key id v1'+open(sys.argv[2],'rb').read()).digest()[:16]; \
                 c.execute({statement:?}, {params}); c.commit()"
            ))
            .arg(&db)
            .arg(data.join("master.key"))
            .status()
            .unwrap();
        assert!(status.success(), "{statement}");
    };
    sql(
        "INSERT INTO settings (name, value) VALUES ('master_key_migration', ?)",
        "(uuid.uuid4().bytes,)",
    );
    let stderr = refused_start(data_dir, &hsm);
    assert!(stderr.contains("migration"), "{stderr}");
    let stderr = run_refused(&migrate("file", &hsm));
    assert!(stderr.contains("not finished"), "{stderr}");
    sql(
        "DELETE FROM settings WHERE name = 'master_key_migration'",
        "()",
    );

    // Interrupted on the way back, right after it began (its marker written, nothing sealed
    // again): no node starts, and the same command finishes the work.
    sql(
        "INSERT INTO settings (name, value) VALUES ('master_key_migration', ?)",
        "(file_key,)",
    );
    refused_start(data_dir, &hsm);
    let out = run_ok(&migrate("file", &hsm));
    assert!(out.contains("values sealed again"), "{out}");
    still_opens(data, &[], &key, &wrapped).await;
    run_ok(&["audit", "verify", "--data-dir", data_dir]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_on_postgres_moves_its_master_key_too() {
    let _token = TOKEN.lock().await;
    let db = common::Database::create();
    let setup = Setup::new("migrated-pg");
    let (t, data, pin_file, label) = (&setup.token, &setup.data, &setup.pin_file, &setup.label);
    let data_dir = data.to_str().unwrap();
    let on_db = ["--database-url", db.url.as_str()];
    let hsm = [&hsm_args(t, label, pin_file)[..], &on_db].concat();

    let mut server = serve(data, "127.0.0.1:0", &on_db);
    let url = started(data, &mut server);
    let (key, wrapped) = key_and_wrapped(&url, data).await;
    stop(server);

    let to_token = [
        &[
            "master-key",
            "migrate",
            "--to",
            "pkcs11",
            "--data-dir",
            data_dir,
        ][..],
        &hsm[2..],
    ]
    .concat();
    assert!(run_ok(&to_token).contains("values sealed again"));
    still_opens(data, &hsm, &key, &wrapped).await;
    let back = [
        &[
            "master-key",
            "migrate",
            "--to",
            "file",
            "--data-dir",
            data_dir,
        ][..],
        &hsm,
    ]
    .concat();
    assert!(run_ok(&back).contains("values sealed again"));
    still_opens(data, &on_db, &key, &wrapped).await;
    run_ok(&[&["audit", "verify", "--data-dir", data_dir][..], &on_db].concat());
}

/// Strict mode: the root key's versions are objects in the token, the database keeps only
/// their ids, wrap and unwrap (and the rewrap of an old ciphertext after a rotation) work across
/// a restart, a purge destroys the objects, and neither a start without strict mode nor a
/// master key migration can strand them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_strict_mode_every_root_key_version_is_an_object_in_the_token() {
    let _token = TOKEN.lock().await;
    let setup = Setup::new("strict");
    let (t, data, pin_file, label) = (&setup.token, &setup.data, &setup.pin_file, &setup.label);
    let data_dir = data.to_str().unwrap();
    let args = [
        &hsm_args(t, label, pin_file)[..],
        &["--pkcs11-strict", "--unsafe-test-clock"],
    ]
    .concat();

    let mut server = serve(data, "127.0.0.1:0", &args);
    let url = started(data, &mut server);
    let (key, wrapped) = key_and_wrapped(&url, data).await;
    let instance = bootstrap(data, "kms_instance_id");
    let kms = [("bluemix-instance", instance.as_str())];
    let (status, rotated) = key_action(&url, data, &key, "rotate", json!({})).await;
    assert_eq!(status, 204, "{rotated}");
    // The ciphertext of the first version opens, and comes back wrapped by the second.
    let (status, unwrapped) = key_action(
        &url,
        data,
        &key,
        "unwrap",
        json!({"ciphertext": wrapped["ciphertext"]}),
    )
    .await;
    assert_eq!(status, 200, "{unwrapped}");
    assert_eq!(unwrapped["plaintext"], wrapped["plaintext"]);
    assert!(unwrapped["rewrappedKeyVersion"].is_object(), "{unwrapped}");
    stop(server);

    // What the database keeps of each version: a tag and the version's id, no material.
    let stored = versions_stored(data, &key);
    assert_eq!(stored.len(), 2);
    let vault = keyward_hsm::TokenRootKeys::open(&keyward_hsm::Pkcs11Config {
        module: t.module.clone().into(),
        token_label: t.label.clone(),
        key_label: label.clone(),
        pin: std::sync::Arc::new(keyward_crypto::SecretBytes::new(t.pin.clone().into_bytes())),
        strict: true,
    })
    .unwrap();
    for (version, bytes) in &stored {
        let reference = keyward_kms::vault_reference(bytes).expect("a vault reference");
        assert_eq!(reference, version.as_bytes(), "the version's own id");
        let protection = vault
            .protection(reference)
            .unwrap()
            .expect("an object in the token");
        assert!(protection.sensitive && !protection.extractable && protection.never_extractable);
    }

    // A node without strict mode, and a master key migration, are refused.
    let without = &args[..args.len() - 2];
    let stderr = refused_start(data_dir, without);
    assert!(stderr.contains("--pkcs11-strict"), "{stderr}");
    let migrate = [
        &[
            "master-key",
            "migrate",
            "--to",
            "file",
            "--data-dir",
            data_dir,
        ][..],
        without,
    ]
    .concat();
    let stderr = run_refused(&migrate);
    assert!(stderr.contains("cannot leave it"), "{stderr}");

    // Restarted in strict mode: the rewrapped ciphertext opens; then the key is deleted,
    // purged 4 hours later, and its objects are gone from the token.
    let rewrapped = json!({
        "ciphertext": unwrapped["ciphertext"],
        "plaintext": wrapped["plaintext"],
    });
    still_opens(data, &args, &key, &rewrapped).await;
    std::fs::remove_file(data.join("bootstrap.json")).unwrap();
    let mut server = serve(data, "127.0.0.1:0", &args);
    let url = started(data, &mut server);
    let client = admin_client(&url, data, None);
    let deleted = client
        .send(Method::DELETE, &format!("/api/v2/keys/{key}"), &kms, None)
        .await
        .unwrap();
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let advanced = client
        .send(
            Method::POST,
            "/admin/test-clock",
            &[],
            Some(&json!({"advance_seconds": 4 * 3600 + 60})),
        )
        .await
        .unwrap();
    assert_eq!(advanced.status, 200, "{}", advanced.body);
    let purged = client
        .send(
            Method::DELETE,
            &format!("/api/v2/keys/{key}/purge"),
            &kms,
            None,
        )
        .await
        .unwrap();
    assert_eq!(purged.status, 204, "{}", purged.body);
    stop(server);
    for (version, _) in &stored {
        assert!(
            vault.protection(version.as_bytes()).unwrap().is_none(),
            "{version} left in the token"
        );
    }
}

/// Each version of `key` in the data directory's database: its id and stored bytes.
fn versions_stored(data: &Path, key: &str) -> Vec<(uuid::Uuid, Vec<u8>)> {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
             [print(v, m.hex()) for v, m in c.execute('SELECT id, wrapped_material FROM key_versions WHERE key_id = ?', (sys.argv[2],))]",
        )
        .arg(data.join("keyward.db"))
        .arg(key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (version, hex) = line.split_once(' ').unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (version.parse().unwrap(), bytes)
        })
        .collect()
}
