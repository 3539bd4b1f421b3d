//! The kit of the tests that drive the `keyward` binary: a fresh PostgreSQL database, a server
//! process and its URL, and an admin client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use keyward_client::{Client, RetryPolicy};
use serde_json::Value;

/// Runs `keyward` with `args` to completion.
pub fn keyward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .env_remove("KEYWARD_DATABASE_URL")
        .env_remove("KEYWARD_PKCS11_PIN")
        .output()
        .unwrap()
}

/// A `keyward serve` process, killed when dropped (a test that fails leaves no server running).
pub struct Server(Option<Child>);

impl From<Child> for Server {
    fn from(child: Child) -> Self {
        Self(Some(child))
    }
}

impl Server {
    /// The process, no longer killed on drop.
    pub fn into_child(mut self) -> Child {
        self.0.take().expect("a server process")
    }
}

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("a server process")
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("a server process")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `keyward serve` on `data` listening on `listen`, with more `args`; its stderr is
/// kept for [`stop`].
pub fn serve(data: &Path, listen: &str, args: &[&str]) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["serve", "--listen", listen, "--data-dir"])
        .arg(data)
        .args(args)
        .env_remove("KEYWARD_DATABASE_URL")
        .env_remove("KEYWARD_PKCS11_PIN")
        .env("KEYWARD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Server(Some(child))
}

/// The server's URL from bootstrap.json, once it is written.
pub fn started(data: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(data.join("bootstrap.json")) {
            let info: Value = serde_json::from_str(&text).unwrap();
            return info["url"].as_str().unwrap().to_owned();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("keyward exited during start: {status}");
        }
        assert!(Instant::now() < deadline, "keyward did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills the server; returns what it wrote to stderr.
pub fn stop(server: Server) -> String {
    let mut child = server.into_child();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

/// A value of `data`'s bootstrap.json.
pub fn bootstrap(data: &Path, field: &str) -> String {
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("bootstrap.json")).unwrap())
            .unwrap();
    info[field].as_str().unwrap().to_owned()
}

/// A client of `url` with the admin's API key from `data`, trusting `ca` besides the usual
/// roots, trying each call once.
pub fn admin_client(url: &str, data: &Path, ca: Option<&Path>) -> Client {
    let apikey = std::fs::read_to_string(data.join("admin.apikey")).unwrap();
    let pem = ca.map(|p| std::fs::read(p).unwrap());
    Client::trusting(
        url,
        url,
        apikey.trim().to_owned(),
        Duration::from_secs(10),
        RetryPolicy {
            attempts: 1,
            backoff: Duration::from_millis(10),
        },
        pem.as_deref(),
    )
    .unwrap()
}

// One PostgreSQL test database helper for both crates' tests.
#[path = "../../../server/tests/common/database.rs"]
mod database;
#[allow(unused_imports)]
pub use database::{Database, psql};

/// A new, empty PostgreSQL database on the server of `KEYWARD_TEST_DATABASE_URL` (made with
/// `psql`), dropped when this is dropped. `None` only when the variable is unset and
/// `KEYWARD_TEST_SKIP_POSTGRES=1` says to skip; unset otherwise, or unreachable, fails.
pub struct FreshDatabase {
    base: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

impl FreshDatabase {
    /// Creates `<prefix>_<random>`.
    pub fn create(prefix: &str) -> Option<Self> {
        let Ok(base) = std::env::var("KEYWARD_TEST_DATABASE_URL") else {
            if std::env::var("KEYWARD_TEST_SKIP_POSTGRES").as_deref() == Ok("1") {
                return None;
            }
            panic!("KEYWARD_TEST_DATABASE_URL is not set (or set KEYWARD_TEST_SKIP_POSTGRES=1)");
        };
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        let created = Command::new("psql")
            .arg(&base)
            .args(["-Atqc", &format!("CREATE DATABASE {name}")])
            .status()
            .unwrap();
        assert!(
            created.success(),
            "cannot create a test database with psql at KEYWARD_TEST_DATABASE_URL"
        );
        let url = format!("{}/{}", base.rsplit_once('/').unwrap().0, name);
        Some(Self { base, name, url })
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.base)
            .args([
                "-Atqc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .status();
    }
}
