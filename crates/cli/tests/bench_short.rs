//! The in-process benchmarks of BENCHMARKS.md, in a short form, so that they keep working: each
//! runs to the end and prints its table row.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

mod common;

fn bench(args: &[&str]) -> String {
    bench_with(args, &[])
}

fn bench_with(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("bench")
        .args(args)
        .env_remove("KEYWARD_BENCH_DATABASE_URL")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "keyward bench {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn envelope_runs() {
    let out = bench(&["envelope", "--iterations", "200", "--rounds", "1"]);
    assert!(out.contains('|'), "{out}");
}

#[test]
fn secrets_open_runs() {
    let out = bench(&["secrets-open", "--iterations", "200", "--rounds", "1"]);
    assert!(out.contains("/s"), "{out}");
}

#[test]
fn reencrypt_runs() {
    let out = bench(&["reencrypt", "--secrets", "50"]);
    assert!(out.contains("| SQLite | 50 | 100 |"), "{out}");
}

/// The PostgreSQL form, on an empty database of its own.
#[test]
fn reencrypt_runs_on_postgres() {
    let Some(db) = common::FreshDatabase::create("keyward_bench") else {
        return;
    };
    let out = bench(&["reencrypt", "--secrets", "50", "--database-url", &db.url]);
    assert!(out.contains("| PostgreSQL | 50 | 100 |"), "{out}");
}

#[test]
fn audit_append_runs() {
    let out = bench(&[
        "audit-append",
        "--events",
        "40",
        "--batches",
        "1,16",
        "--rounds",
        "1",
    ]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("| 1")).count(),
        2,
        "{out}"
    );
}

/// On the software key and on the test token (`scripts/test` makes it).
#[test]
fn master_key_runs_on_both_backends() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let (module, token, pin) = (
        var("KEYWARD_TEST_PKCS11_MODULE"),
        var("KEYWARD_TEST_PKCS11_TOKEN"),
        var("KEYWARD_TEST_PKCS11_PIN"),
    );
    let out = bench_with(
        &[
            "master-key",
            "--iterations",
            "20",
            "--rounds",
            "1",
            "--master-key",
            "pkcs11",
            "--pkcs11-module",
            &module,
            "--pkcs11-token-label",
            &token,
            "--pkcs11-key-label",
            "bench-short",
        ],
        &[("KEYWARD_PKCS11_PIN", &pin)],
    );
    assert!(out.contains("| software (file) |"), "{out}");
    assert!(out.contains("| PKCS#11 token |"), "{out}");
}
