//! The commands for people against a running server, as the README shows them: log in with an
//! API key on standard input, make and use a key, watch a BYOK switch finish, log out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

struct Person<'a> {
    config: &'a Path,
}

impl Person<'_> {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(args)
            .env("KEYWARD_CONFIG_DIR", self.config)
            .env_remove("KEYWARD_APIKEY")
            .env_remove("KEYWARD_URL")
            .env_remove("KEYWARD_INSTANCE")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
}

/// A served binary on a fresh data directory, and a configuration directory for the person.
struct Fresh {
    dir: tempfile::TempDir,
    data: std::path::PathBuf,
    config: std::path::PathBuf,
    server: common::Server,
    url: String,
    instance: String,
    apikey: String,
}

impl Fresh {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = dir.path().join("config");
        let mut server = common::serve(&data, "127.0.0.1:0", &[]);
        let url = common::started(&data, &mut server);
        let instance = common::bootstrap(&data, "kms_instance_id");
        let apikey = std::fs::read_to_string(data.join("admin.apikey")).unwrap();
        Self {
            dir,
            data,
            config,
            server,
            url,
            instance,
            apikey,
        }
    }
}

/// `keyward login` with the API key on standard input.
fn log_in(config: &Path, url: &str, instance: &str, apikey: &str) -> Output {
    let mut login = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["login", "--url", url, "--instance", instance])
        .env("KEYWARD_CONFIG_DIR", config)
        .env_remove("KEYWARD_APIKEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(apikey.as_bytes())
        .unwrap();
    login.wait_with_output().unwrap()
}

#[tokio::test]
async fn a_person_logs_in_uses_a_key_and_watches_a_switch_finish() {
    let Fresh {
        dir: _dir,
        data,
        config,
        server,
        url,
        instance,
        apikey,
    } = Fresh::start();
    let me = Person { config: &config };

    // Not logged in: one line, non-zero.
    let out = me.run(&["keys", "list", "--url", &url, "--instance", &instance]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("keyward login"));

    // Log in with the API key on standard input.
    let out = log_in(&config, &url, &instance, &apikey);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saved = config.join("login.json");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(apikey.trim()));

    // A key, used.
    let made = me.json(&[
        "keys",
        "create",
        "cli-key",
        "--alias",
        "cli-alias",
        "--output",
        "json",
    ]);
    let key = made["resources"][0]["id"].as_str().unwrap().to_owned();
    let listed = me.ok(&["keys", "list"]);
    assert!(
        listed.starts_with("ID") && listed.contains("cli-key") && listed.contains("Active"),
        "{listed}"
    );
    let wrapped = me.json(&[
        "keys",
        "wrap",
        "cli-alias",
        "--aad",
        "tenant-1",
        "--output",
        "json",
    ]);
    let ciphertext = wrapped["ciphertext"].as_str().unwrap();
    let unwrapped = me.json(&[
        "keys",
        "unwrap",
        &key,
        "--ciphertext",
        ciphertext,
        "--aad",
        "tenant-1",
        "--output",
        "json",
    ]);
    assert_eq!(unwrapped["plaintext"], wrapped["plaintext"]);
    let wrong = me.run(&["keys", "unwrap", &key, "--ciphertext", ciphertext]);
    assert!(!wrong.status.success(), "unwrapped without its aad");
    let line = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(line.trim().lines().count(), 1, "{line}");
    me.ok(&["keys", "rotate", &key]);
    let versions = me.json(&["keys", "versions", &key, "--output", "json"]);
    assert_eq!(versions["resources"].as_array().unwrap().len(), 2);
    let shown = me.ok(&["keys", "show", &key]);
    assert!(shown.contains("cli-alias"), "{shown}");

    // The configuration service may use the instance's keys; then a BYOK switch, followed.
    let granted = me.ok(&["keys", "authorize-configsvc"]);
    assert!(granted.contains("configsvc has Reader"), "{granted}");
    let config_instance = common::bootstrap(&data, "config_instance_id");
    let crn = made["resources"][0]["crn"].as_str().unwrap().to_owned();
    let switched = me.ok(&[
        "prefs",
        "set-root-key",
        &crn,
        "--instance",
        &config_instance,
    ]);
    assert!(switched.contains(&format!("root key: {crn}")), "{switched}");
    let shown = me.json(&[
        "prefs",
        "show",
        "--instance",
        &config_instance,
        "--output",
        "json",
    ]);
    assert_eq!(shown["root_key"], json!(crn));
    assert!(shown["switching_to"].is_null());
    let back = me.ok(&["prefs", "remove-root-key", "--instance", &config_instance]);
    assert!(back.contains("root key: global"), "{back}");

    let completions = me.ok(&["completions", "bash"]);
    assert!(completions.contains("keyward") && completions.len() > 1000);
    me.ok(&["logout"]);
    assert!(!saved.exists());
    common::stop(server);
}

#[tokio::test]
async fn rings_aliases_policies_rewrap_purge_registrations_and_audit_events() {
    let Fresh {
        dir: _dir,
        data,
        config,
        server,
        url,
        instance,
        apikey,
    } = Fresh::start();
    assert!(log_in(&config, &url, &instance, &apikey).status.success());
    let me = Person { config: &config };

    // The login keeps a token; commands in a row use it instead of asking for a new one, and
    // one the server no longer takes is replaced (the command still succeeds).
    let kept = |login: &Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(login).unwrap()).unwrap()
    };
    let login_file = config.join("login.json");
    let first = kept(&login_file)["token"].clone();
    assert!(
        first["access_token"]
            .as_str()
            .is_some_and(|t| t.len() > 100),
        "{first}"
    );
    me.ok(&["keys", "list"]);
    me.ok(&["rings", "list"]);
    assert_eq!(
        kept(&login_file)["token"],
        first,
        "a fresh token was fetched"
    );
    let mut stale = kept(&login_file);
    stale["token"]["access_token"] = json!("not-a-token");
    std::fs::write(&login_file, serde_json::to_vec(&stale).unwrap()).unwrap();
    me.ok(&["keys", "list"]);
    let renewed = kept(&login_file)["token"]["access_token"].clone();
    assert!(
        renewed != json!("not-a-token") && renewed != first["access_token"],
        "{renewed}"
    );

    // Rings.
    me.ok(&["rings", "create", "team-ring"]);
    let rings = me.ok(&["rings", "list"]);
    assert!(
        rings.starts_with("RING") && rings.contains("team-ring"),
        "{rings}"
    );
    let refused = me.run(&["rings", "create", "x"]);
    assert!(!refused.status.success(), "a one-letter ring was made");
    me.ok(&["rings", "delete", "team-ring"]);
    assert!(!me.ok(&["rings", "list"]).contains("team-ring"));

    // Aliases.
    let made = me.json(&["keys", "create", "k", "--output", "json"]);
    let key = made["resources"][0]["id"].as_str().unwrap().to_owned();
    me.ok(&["keys", "alias", "add", &key, "payments"]);
    assert!(me.ok(&["keys", "show", "payments"]).contains(&key));
    me.ok(&["keys", "alias", "remove", &key, "payments"]);
    assert!(!me.run(&["keys", "show", "payments"]).status.success());

    // Policies.
    let set = me.ok(&[
        "keys",
        "policies",
        "set-rotation",
        &key,
        "--interval-month",
        "3",
    ]);
    assert!(set.contains("every 3 months"), "{set}");
    let out_of_range = me.run(&[
        "keys",
        "policies",
        "set-rotation",
        &key,
        "--interval-month",
        "13",
    ]);
    assert!(
        !out_of_range.status.success(),
        "a 13-month interval was taken"
    );
    me.ok(&["keys", "policies", "enable-dual-auth", &key]);
    let shown = me.json(&["keys", "policies", "show", &key, "--output", "json"]);
    let kinds: Vec<&Value> = shown["resources"].as_array().unwrap().iter().collect();
    assert!(
        kinds.iter().any(|p| p["rotation"]["interval_month"] == 3),
        "{shown}"
    );
    assert!(
        kinds.iter().any(|p| p["dualAuthDelete"]["enabled"] == true),
        "{shown}"
    );

    // Rewrap after a rotation: the ciphertext moves to the new version.
    let wrapped = me.json(&["keys", "wrap", &key, "--output", "json"]);
    me.ok(&["keys", "rotate", &key]);
    let rewrapped = me.json(&[
        "keys",
        "rewrap",
        &key,
        "--ciphertext",
        wrapped["ciphertext"].as_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_ne!(rewrapped["ciphertext"], wrapped["ciphertext"]);
    assert_ne!(
        rewrapped["rewrappedKeyVersion"]["id"],
        wrapped["keyVersion"]["id"]
    );

    // Registrations: the configuration service registers the instance it protects.
    me.ok(&["keys", "authorize-configsvc"]);
    let root = me.json(&["keys", "create", "root", "--output", "json"]);
    let crn = root["resources"][0]["crn"].as_str().unwrap().to_owned();
    let config_instance = common::bootstrap(&data, "config_instance_id");
    me.ok(&[
        "prefs",
        "set-root-key",
        &crn,
        "--instance",
        &config_instance,
    ]);
    let regs = me.ok(&["registrations", "list"]);
    assert!(
        regs.starts_with("KEY") && regs.contains(&config_instance),
        "{regs}"
    );
    let none = me.json(&[
        "registrations",
        "list",
        "--crn",
        "crn:v1:nothing:*",
        "--output",
        "json",
    ]);
    assert!(
        none["resources"].as_array().is_none_or(Vec::is_empty),
        "{none}"
    );

    // Purge needs a deleted key and the KeyPurge role's waiting time: refused here, one line.
    let standard = me.json(&["keys", "create", "s", "--standard", "--output", "json"]);
    let standard = standard["resources"][0]["id"].as_str().unwrap().to_owned();
    me.ok(&["keys", "delete", &standard]);
    let early = me.run(&["keys", "purge", &standard]);
    assert!(!early.status.success());
    assert_eq!(
        String::from_utf8_lossy(&early.stderr)
            .trim()
            .lines()
            .count(),
        1
    );

    // The account's audit events, as JSON lines, with what was just done.
    let events = me.ok(&["audit", "events", "--limit", "1000", "--output", "json"]);
    let actions: Vec<String> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"]["action"].to_string())
        .collect();
    assert!(
        actions.iter().any(|a| a.contains("kms.secrets.rewrap")),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a.contains("kms.policies.write")),
        "{actions:?}"
    );
    let table = me.ok(&["audit", "events", "--start", "0", "--limit", "5"]);
    assert_eq!(table.lines().count(), 6, "{table}");
    common::stop(server);
}
