//! The data mart's outbound connections against the PostgreSQL of `KEYWARD_TEST_DATABASE_URL`:
//! only the addresses the policy allows, never a socket path or a link-local or metadata
//! address, failures as stable codes, and auto setup in the provisioning database (a role
//! created with a SCRAM verifier, dropped again with its schema).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use keyward_configsvc::{Credentials, DatabasePreparer, DatabaseTarget};
use keyward_store::{NetworkPolicy, PgPreparer};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

fn test_url() -> String {
    std::env::var("KEYWARD_TEST_DATABASE_URL").expect(
        "KEYWARD_TEST_DATABASE_URL must point at a PostgreSQL database (trust or password auth)",
    )
}

fn credentials(v: Value) -> Credentials {
    Credentials::from_object(v.as_object().cloned().unwrap()).unwrap()
}

/// Credentials for the test database, with `changes` applied.
fn test_credentials(changes: Value) -> Credentials {
    let o = PgConnectOptions::from_str(&test_url()).unwrap();
    let mut v = json!({
        "hostname": o.get_host(), "port": o.get_port(), "username": o.get_username(),
        "password": "unused-with-trust-auth", "db": o.get_database().unwrap_or("postgres"),
    });
    for (k, val) in changes.as_object().unwrap() {
        v[k] = val.clone();
    }
    credentials(v)
}

async fn prepare(p: &PgPreparer, c: &Credentials, schema: Option<&str>) -> Result<(), String> {
    p.prepare(DatabaseTarget {
        database_type: "postgresql",
        schema,
        credentials: c,
    })
    .await
}

fn code(result: Result<(), String>) -> String {
    let failure = result.expect_err("refused");
    assert!(
        !failure.contains("os error") && !failure.contains("Os {"),
        "raw OS error: {failure}"
    );
    failure.split(':').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_test_database_is_reachable_and_prepared() {
    let p = PgPreparer::new(None, NetworkPolicy::default()).unwrap();
    let schema = format!("keyward_prep_{}", uuid::Uuid::new_v4().simple());
    prepare(&p, &test_credentials(json!({})), Some(&schema))
        .await
        .unwrap();
    let mut conn = PgConnectOptions::from_str(&test_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let found: i64 =
        sqlx::query("SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1")
            .bind(&schema)
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
    assert_eq!(found, 1);
    sqlx::query(&format!("DROP SCHEMA \"{schema}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn metadata_link_local_and_socket_addresses_are_refused() {
    let p = PgPreparer::new(None, NetworkPolicy::default()).unwrap();
    for (host, expected) in [
        ("169.254.169.254", "DATABASE_ADDRESS_REFUSED"),
        ("fe80::1", "DATABASE_ADDRESS_REFUSED"),
        ("::ffff:169.254.169.254", "DATABASE_ADDRESS_REFUSED"),
        ("0.0.0.0", "DATABASE_ADDRESS_REFUSED"),
        ("/var/run/postgresql", "DATABASE_ADDRESS_INVALID"),
        ("user@127.0.0.1", "DATABASE_ADDRESS_INVALID"),
        ("no-such-host.invalid", "DATABASE_HOST_UNKNOWN"),
    ] {
        let c = test_credentials(json!({"hostname": host}));
        assert_eq!(code(prepare(&p, &c, None).await), expected, "{host}");
    }
}

#[tokio::test]
async fn an_operator_list_narrows_where_data_marts_connect() {
    let narrow = PgPreparer::new(None, "10.0.0.0/8".parse().unwrap()).unwrap();
    let c = test_credentials(json!({"hostname": "127.0.0.1"}));
    assert_eq!(
        code(prepare(&narrow, &c, None).await),
        "DATABASE_ADDRESS_REFUSED"
    );
}

#[tokio::test]
async fn connection_failures_have_stable_codes() {
    let p = PgPreparer::new(None, NetworkPolicy::default()).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = test_credentials(json!({"hostname": "127.0.0.1", "port": closed}));
    assert_eq!(code(prepare(&p, &c, None).await), "DATABASE_UNREACHABLE");
    let c = test_credentials(
        json!({"db": format!("keyward_missing_{}", uuid::Uuid::new_v4().simple())}),
    );
    let failure = prepare(&p, &c, None).await.unwrap_err();
    assert!(
        failure.starts_with("DATABASE_NOT_FOUND: ") && failure.contains("does not exist"),
        "{failure}"
    );
    let c = test_credentials(json!({"port": "not-a-port"}));
    assert_eq!(code(prepare(&p, &c, None).await), "CREDENTIALS_INVALID");
    let c = credentials(json!({"hostname": "127.0.0.1"}));
    assert_eq!(code(prepare(&p, &c, None).await), "CREDENTIALS_INCOMPLETE");
}

#[tokio::test]
async fn auto_setup_provisions_in_the_provisioning_database_and_cleans_up() {
    let without = PgPreparer::new(None, NetworkPolicy::default()).unwrap();
    let refused = without.provision_internal("wos_none").await.unwrap_err();
    assert!(refused.starts_with("AUTO_SETUP_UNAVAILABLE"), "{refused}");

    let p = PgPreparer::new(Some(test_url()), NetworkPolicy::default()).unwrap();
    let schema = format!("wos_{}", uuid::Uuid::new_v4().simple());
    let role = format!("{schema}_owner");
    let creds = p.provision_internal(&schema).await.unwrap();
    assert_eq!(creds.reveal("username").as_deref(), Some(role.as_str()));
    let password = creds.reveal("password").unwrap();
    let mut conn = PgConnectOptions::from_str(&test_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let stored: Option<String> =
        sqlx::query("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
            .bind(&role)
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
    let stored = stored.unwrap();
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    assert!(!stored.contains(&password));
    // The data mart connects with what was provisioned.
    prepare(&p, &creds, Some(&schema)).await.unwrap();

    p.deprovision_internal(&schema).await.unwrap();
    let roles: i64 = sqlx::query("SELECT count(*) FROM pg_roles WHERE rolname = $1")
        .bind(&role)
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    let schemas: i64 =
        sqlx::query("SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1")
            .bind(&schema)
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
    assert_eq!((roles, schemas), (0, 0));
    conn.close().await.unwrap();
}
