//! A fresh PostgreSQL database per test (several nodes on one database, tampering with what a
//! test then checks). Shared with the `keyward` binary's tests (`crates/cli/tests/common`).

use uuid::Uuid;

/// A database made for one test on the server `KEYWARD_TEST_DATABASE_URL` points at, dropped at
/// the end. A test that needs it fails when the variable is missing: several nodes need
/// PostgreSQL.
pub struct Database {
    admin_url: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

impl Database {
    /// Creates the database.
    pub fn create() -> Self {
        let admin_url = std::env::var("KEYWARD_TEST_DATABASE_URL")
            .expect("KEYWARD_TEST_DATABASE_URL must point at a PostgreSQL database");
        let name = format!("keyward_test_{}", Uuid::new_v4().simple());
        psql(&admin_url, &format!("CREATE DATABASE {name}"));
        let base = admin_url.rsplit_once('/').expect("a database in the URL").0;
        let url = format!("{base}/{name}");
        Self {
            admin_url,
            name,
            url,
        }
    }
}

impl Database {
    /// Runs `sql` in the database (to break or tamper with what a test then checks).
    pub fn sql(&self, sql: &str) {
        psql(&self.url, sql);
    }

    /// What `sql` (one value) answers, as psql prints it.
    #[allow(dead_code)] // not every test binary that shares this file asks
    pub fn value(&self, sql: &str) -> String {
        psql(&self.url, sql)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Runs `sql` with psql on `url`; panics with psql's error when it fails. Returns what it
/// printed, trimmed.
pub fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([url, "-Atqc", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
