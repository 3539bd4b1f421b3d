//! `serve --config FILE` and `keyward config check`: a file's settings, below the environment
//! and the flags; unknown keys refused by name; the repository's example file valid.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

fn check(file: &std::path::Path, env: &[(&str, &str)], flags: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
    command.args(["config", "check"]).arg(file).args(flags);
    for var in [
        "KEYWARD_LISTEN",
        "KEYWARD_DATA_DIR",
        "KEYWARD_DATABASE_URL",
        "KEYWARD_CONFIG",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied()).output().unwrap()
}

fn settings(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keyward.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9001\"\ndata-dir = \"/var/lib/keyward\"\nrequest-timeout-seconds = 45\n",
    )
    .unwrap();
    let from_file = settings(&check(&file, &[], &[]));
    assert_eq!(from_file["listen"], "127.0.0.1:9001");
    assert_eq!(from_file["data_dir"], "/var/lib/keyward");
    assert_eq!(from_file["request_timeout_seconds"], 45);

    let env = [("KEYWARD_LISTEN", "127.0.0.1:9002")];
    let from_env = settings(&check(&file, &env, &[]));
    assert_eq!(from_env["listen"], "127.0.0.1:9002");
    assert_eq!(
        from_env["data_dir"], "/var/lib/keyward",
        "the file still gives the rest"
    );

    let from_flag = settings(&check(&file, &env, &["--listen", "127.0.0.1:9003"]));
    assert_eq!(from_flag["listen"], "127.0.0.1:9003");
}

#[test]
fn mistakes_in_the_file_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    for (text, named) in [
        (
            "listen = \"127.0.0.1:9001\"\nlisten_addr = \"x\"\n",
            "listen_addr",
        ),
        ("listen = \"not an address\"\n", "--listen"),
        (
            "request-timeout-seconds = \"soon\"\n",
            "--request-timeout-seconds",
        ),
        ("unsafe-test-clock = true\n", "unsafe-test-clock"),
        ("listen = [\n", "bad.toml"),
    ] {
        std::fs::write(&file, text).unwrap();
        let out = check(&file, &[], &[]);
        assert!(!out.status.success(), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{text}: {stderr}");
    }
    let missing = check(&dir.path().join("absent.toml"), &[], &[]);
    assert!(!missing.status.success());
}

#[test]
fn the_example_file_is_valid_and_serve_reads_a_file() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keyward.example.toml");
    let from_example = settings(&check(&example, &[], &[]));
    assert_eq!(from_example["listen"], "127.0.0.1:8080");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("from-file");
    let file = dir.path().join("keyward.toml");
    std::fs::write(
        &file,
        format!(
            "data-dir = {:?}\nlisten = \"127.0.0.1:0\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let mut server = common::Server::from(
        Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(["serve", "--config"])
            .arg(&file)
            .env_remove("KEYWARD_DATABASE_URL")
            .env_remove("KEYWARD_DATA_DIR")
            .env_remove("KEYWARD_LISTEN")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let url = common::started(&data, &mut server);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    common::stop(server);
}
