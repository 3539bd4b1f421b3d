//! `keyward demo` against a freshly started `keyward serve` over HTTPS (a development CA the
//! demo is told to trust): both cases of the source document pass, and the demo exits 0. The
//! data marts use the PostgreSQL of `KEYWARD_TEST_DATABASE_URL`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_passes_against_a_fresh_server() {
    let database = std::env::var("KEYWARD_TEST_DATABASE_URL")
        .expect("KEYWARD_TEST_DATABASE_URL must point at the PostgreSQL the demo data marts use");
    let dir = tempfile::tempdir().unwrap();
    let tls = tempfile::tempdir().unwrap();
    let made = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["tls", "self-signed", "--out"])
        .arg(tls.path())
        .output()
        .unwrap();
    assert!(made.status.success());
    let mut server = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .arg("--tls-cert")
        .arg(tls.path().join("cert.pem"))
        .arg("--tls-key")
        .arg(tls.path().join("key.pem"))
        .env_remove("KEYWARD_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.path().join("bootstrap.json").exists() {
        assert!(Instant::now() < deadline, "keyward did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["demo", "--data-dir"])
        .arg(dir.path())
        .arg("--cacert")
        .arg(tls.path().join("ca.pem"))
        .env("KEYWARD_DEMO_DATABASE_URL", &database)
        .output()
        .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Case 1") && stdout.contains("Case 2") && stdout.contains("Demo passed."),
        "{stdout}"
    );
    assert_eq!(stdout.matches("    ok: ").count(), 6, "{stdout}");
}
