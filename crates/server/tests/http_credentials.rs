//! Credentials are write-only, over HTTP through the configuration service's API: a JSON patch
//! cannot copy, move or test them; a data mart cannot be pointed elsewhere without its password;
//! replacing credentials writes a new secret and switches to it atomically, so a failure changes
//! nothing. The data marts connect to the PostgreSQL of `KEYWARD_TEST_DATABASE_URL`.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::Method;
use common::{Reply, TestServer};
use keyward_secrets::{RootKey, SecretStore, TenantId};
use serde_json::{Value, json};

const PASSWORD: &str = "s3cret-Pa55word-for-the-data-mart";

/// `postgres://user[:password]@host[:port]/db` of the test database, as data mart credentials.
fn credentials(password: &str) -> Value {
    let url = std::env::var("KEYWARD_TEST_DATABASE_URL")
        .expect("KEYWARD_TEST_DATABASE_URL must point at a PostgreSQL database");
    let rest = url
        .split_once("://")
        .map_or(url.as_str(), |(_, r)| r)
        .split('?')
        .next()
        .unwrap();
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("postgres", rest));
    let user = auth.split(':').next().unwrap();
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, "postgres"));
    let (host, port) = hostport
        .rsplit_once(':')
        .map_or((hostport, 5432), |(h, p)| (h, p.parse().unwrap()));
    json!({"hostname": host, "port": port, "username": user, "password": password, "db": db})
}

async fn os(server: &TestServer, method: Method, path: &str, body: Option<Value>) -> Reply {
    let mut call = server.call(method, path).no_instance();
    if let Some(b) = body {
        call = call.json(&b);
    }
    call.send().await
}

async fn data_mart(server: &TestServer) -> (String, String) {
    let instance = server.config_instance("tenant").await;
    let created = os(
        server,
        Method::POST,
        &format!("/openscale/{instance}/v2/data_marts"),
        Some(json!({"name": "dm", "description": "before",
            "database_configuration": {"database_type": "postgresql",
                "credentials": credentials(PASSWORD)}})),
    )
    .await
    .expect_status(201);
    assert!(!created.text().contains(PASSWORD));
    let path = format!("/openscale/{instance}/v2/data_marts/{instance}");
    (instance, path)
}

/// How many sealed fields the tenant has.
async fn field_count(server: &TestServer, tenant: TenantId) -> u64 {
    let generation = server.store.generations(tenant).await.unwrap()[0].id;
    server
        .store
        .count_fields(tenant, generation)
        .await
        .unwrap()
        .1
}

fn secret_id(dm: &Value) -> String {
    dm["entity"]["database_configuration"]["credentials"]["secret_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn patch(server: &TestServer, path: &str, ops: Value) -> Reply {
    os(server, Method::PATCH, path, Some(ops)).await
}

/// The hole: `copy` or `move` from the credentials stored the decrypted password in clear and
/// returned it, and `test` told whether a guess was right.
#[tokio::test]
async fn a_patch_cannot_read_a_credential() {
    let server = TestServer::start().await;
    let (_, path) = data_mart(&server).await;
    let before = os(&server, Method::GET, &path, None).await.json();
    for ops in [
        json!([{"op": "copy", "from": "/database_configuration/credentials/password", "path": "/description"}]),
        json!([{"op": "move", "from": "/database_configuration/credentials/password", "path": "/description"}]),
        json!([{"op": "copy", "from": "/database_configuration/credentials", "path": "/description"}]),
        json!([{"op": "copy", "from": "/database_configuration", "path": "/description"}]),
        json!([{"op": "move", "from": "/database_configuration", "path": "/x"}]),
        json!([{"op": "test", "path": "/database_configuration/credentials/password", "value": PASSWORD}]),
        json!([{"op": "test", "path": "/database_configuration/credentials/password", "value": "wrong"}]),
        json!([{"op": "replace", "path": "/database_configuration", "value": {}}]),
    ] {
        let reply = patch(&server, &path, ops.clone()).await;
        assert_eq!(reply.status.as_u16(), 400, "{ops}: {}", reply.text());
        assert!(!reply.text().contains(PASSWORD), "{ops}");
    }
    // The right and the wrong guess get the same answer: no oracle.
    let right = patch(
        &server,
        &path,
        json!([{"op": "test", "path": "/database_configuration/credentials/password", "value": PASSWORD}]),
    )
    .await;
    let wrong = patch(
        &server,
        &path,
        json!([{"op": "test", "path": "/database_configuration/credentials/password", "value": "x"}]),
    )
    .await;
    assert_eq!(right.json()["errors"], wrong.json()["errors"]);
    let after = os(&server, Method::GET, &path, None).await;
    assert!(!after.text().contains(PASSWORD));
    assert_eq!(
        after.json()["entity"]["description"],
        before["entity"]["description"]
    );
    assert_eq!(secret_id(&after.json()), secret_id(&before));
}

/// The hole: changing only the hostname made the server send the stored password to the new
/// host.
#[tokio::test]
async fn pointing_a_data_mart_elsewhere_needs_its_password() {
    let server = TestServer::start().await;
    let (_, path) = data_mart(&server).await;
    for member in ["hostname", "port", "db", "username"] {
        let value = if member == "port" {
            json!(6543)
        } else {
            json!("elsewhere.example")
        };
        let reply = patch(
            &server,
            &path,
            json!([{"op": "replace", "path": format!("/database_configuration/credentials/{member}"), "value": value}]),
        )
        .await;
        assert_eq!(reply.status.as_u16(), 400, "{member}: {}", reply.text());
        assert!(reply.text().contains("password"), "{}", reply.text());
    }
    // With the password in the same request, the change is taken.
    let same_host = credentials("")["hostname"].clone();
    patch(
        &server,
        &path,
        json!([
            {"op": "replace", "path": "/database_configuration/credentials/hostname", "value": same_host},
            {"op": "replace", "path": "/database_configuration/credentials/password", "value": "new-password"},
        ]),
    )
    .await
    .expect_status(200);
    // Members that do not say where to connect change alone.
    patch(
        &server,
        &path,
        json!([{"op": "add", "path": "/database_configuration/credentials/sslmode", "value": "prefer"}]),
    )
    .await
    .expect_status(200);
}

#[tokio::test]
async fn replacing_credentials_switches_to_a_new_secret_and_drops_the_old_one() {
    let server = TestServer::start().await;
    let (instance, path) = data_mart(&server).await;
    let tenant = TenantId(instance.parse().unwrap());
    let old = secret_id(&os(&server, Method::GET, &path, None).await.json());
    let patched = patch(
        &server,
        &path,
        json!([{"op": "replace", "path": "/database_configuration/credentials/password", "value": "rotated"}]),
    )
    .await
    .expect_status(200)
    .json();
    let new = secret_id(&patched);
    assert_ne!(old, new);
    let old_fields = server
        .store
        .get_fields(tenant, keyward_secrets::SecretId(old.parse().unwrap()))
        .await
        .unwrap();
    assert!(old_fields.is_empty(), "the old secret is gone");
    let password = server
        .state
        .secrets
        .get(
            tenant,
            keyward_secrets::SecretId(new.parse().unwrap()),
            "password",
        )
        .await
        .unwrap();
    assert!(password.ct_eq(b"\"rotated\""));
    let host = server
        .state
        .secrets
        .get(
            tenant,
            keyward_secrets::SecretId(new.parse().unwrap()),
            "hostname",
        )
        .await
        .unwrap();
    assert!(!host.is_empty(), "members not patched are kept");
}

#[tokio::test]
async fn a_failed_replacement_changes_nothing() {
    let server = TestServer::start().await;
    let (instance, path) = data_mart(&server).await;
    let tenant = TenantId(instance.parse().unwrap());
    // Put the instance under a customer key, then disable the key.
    let key = server.root_key("customer").await;
    let crn = server.crn_of(&key).await;
    server.authorize_configsvc(None, "Reader").await;
    server
        .set_root_key(&instance, &crn, None)
        .await
        .expect_status(200);
    common::byok::wait_switched_state(
        &server.state,
        tenant,
        &RootKey::Customer(crn.parse().unwrap()),
    )
    .await;
    let before = os(&server, Method::GET, &path, None).await.json();
    let fields_before = field_count(&server, tenant).await;
    server.action(&key, "disable").await.expect_status(204);
    server
        .state
        .secrets
        .cache()
        .forget_root(&RootKey::Customer(crn.parse().unwrap()));
    let reply = patch(
        &server,
        &path,
        json!([{"op": "replace", "path": "/database_configuration/credentials/password", "value": "lost?"}]),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 409, "{}", reply.text());
    assert!(reply.text().contains("disabled"), "{}", reply.text());
    let after = os(&server, Method::GET, &path, None).await.json();
    assert_eq!(secret_id(&after), secret_id(&before));
    assert_eq!(after["entity"], before["entity"]);
    assert_eq!(
        field_count(&server, tenant).await,
        fields_before,
        "no orphan fields"
    );
    // Once the key is back, the old credentials still decrypt.
    server.advance(31);
    server.action(&key, "enable").await.expect_status(204);
    let secret = keyward_secrets::SecretId(secret_id(&after).parse().unwrap());
    let password = server
        .state
        .secrets
        .get(tenant, secret, "password")
        .await
        .unwrap();
    assert!(password.ct_eq(format!("\"{PASSWORD}\"").as_bytes()));
}
