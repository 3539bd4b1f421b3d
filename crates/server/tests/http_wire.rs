//! Wire format details over HTTP: every refusal, including the ones the web framework produces,
//! has the Key Protect error body with `Content-Type: application/json`; dates are RFC 3339 in
//! UTC with whole seconds; successful responses are `application/json`.

mod common;

use axum::http::Method;
use common::{ERROR_TYPE, TestServer, id_of, key_path};
use serde_json::json;

/// Asserts a Key Protect error body of any code with `status`.
fn assert_kp_error(reply: &common::Reply, status: u16) {
    let seen = format!(
        "{} {:?} {:?}",
        reply.status,
        reply.header("content-type"),
        reply.text()
    );
    assert_eq!(reply.status.as_u16(), status, "{seen}");
    let ct = reply.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "{seen}");
    let v: serde_json::Value = serde_json::from_slice(&reply.body).expect(&seen);
    assert_eq!(v["metadata"]["collectionType"], ERROR_TYPE, "{v}");
    assert!(v["resources"][0]["errorMsg"].is_string(), "{v}");
}

#[tokio::test]
async fn error_messages_follow_the_key_protect_pattern() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    server.action(&key, "rotate").await.expect_status(204);
    let reply = server.action(&key, "rotate").await;
    reply.assert_error(409, "KEY_ROTATION_NOT_PERMITTED");
    let v = reply.json();
    let msg = v["resources"][0]["errorMsg"].as_str().expect("errorMsg");
    assert!(msg.starts_with("Conflict: "), "{msg}");
    assert!(msg.ends_with("(KEY_ROTATION_NOT_PERMITTED)"), "{msg}");
    assert!(
        msg.contains("Please see `reasons` for more details"),
        "{msg}"
    );
    let reason = &v["resources"][0]["reasons"][0];
    assert_eq!(
        reason["moreInfo"],
        "https://cloud.ibm.com/apidocs/key-protect"
    );
    assert!(reason.get("target").is_none());
}

#[tokio::test]
async fn successful_responses_are_application_json() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    for reply in [
        server.get("/api/v2/keys").send().await,
        server.get(&key_path(&key)).send().await,
        server
            .get(&format!("{}/versions", key_path(&key)))
            .send()
            .await,
        server.action(&key, "wrap").await,
        server.get("/api/v2/key_rings").send().await,
    ] {
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
        reply.assert_json_content_type();
    }
}

#[tokio::test]

async fn unsupported_methods_get_a_key_protect_error() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    for (method, path) in [
        (Method::PUT, "/api/v2/keys".to_owned()),
        (Method::DELETE, "/api/v2/keys".to_owned()),
        (Method::PUT, key_path(&key)),
        (Method::GET, format!("{}/actions/wrap", key_path(&key))),
        (Method::POST, format!("{}/metadata", key_path(&key))),
        (Method::PATCH, "/api/v2/key_rings/r1".to_owned()),
    ] {
        let reply = server.call(method.clone(), &path).send().await;
        assert_kp_error(&reply, 405);
    }
}

#[tokio::test]

async fn undecodable_path_segments_get_a_key_protect_error() {
    let server = TestServer::start().await;
    for path in [
        "/api/v2/keys/%FF",
        "/api/v2/keys/%FF/metadata",
        "/api/v2/keys/%C3%28/actions/wrap",
        "/api/v2/key_rings/%FF",
    ] {
        let method = if path.ends_with("wrap") {
            Method::POST
        } else {
            Method::GET
        };
        let reply = server.call(method, path).send().await;
        assert!(
            reply.status.is_client_error(),
            "{path}: {} {}",
            reply.status,
            reply.text()
        );
        assert_kp_error(&reply, reply.status.as_u16());
    }
}

#[tokio::test]

async fn oversized_bodies_get_a_key_protect_error() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let huge = json!({"plaintext": "A".repeat(3 * 1024 * 1024)});
    let reply = server
        .post(&format!("{}/actions/wrap", key_path(&key)))
        .json(&huge)
        .send()
        .await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
    assert_kp_error(&reply, reply.status.as_u16());
}

fn assert_utc_whole_seconds(date: &serde_json::Value, what: &str) {
    let s = date.as_str().unwrap_or_else(|| panic!("{what}: {date}"));
    assert_eq!(s.len(), 20, "{what}: {s}");
    assert!(s.ends_with('Z'), "{what}: {s}");
    assert!(!s.contains('.'), "{what}: {s}");
}

#[tokio::test]
async fn key_dates_are_utc_with_whole_seconds() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    server.action(&key, "rotate").await.expect_status(204);
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    let k = server.metadata(&key).await;
    for field in [
        "creationDate",
        "lastUpdateDate",
        "lastRotateDate",
        "deletionDate",
        "restoreExpirationDate",
        "purgeAllowedFrom",
        "purgeScheduledOn",
    ] {
        assert_utc_whole_seconds(&k[field], field);
    }
    assert_utc_whole_seconds(&k["keyVersion"]["creationDate"], "keyVersion.creationDate");
}

#[tokio::test]

async fn expiration_date_is_returned_in_utc_from_create_on() {
    let server = TestServer::start().await;
    let created = server
        .create(json!({"name": "k", "expirationDate": "2099-01-01T01:00:00.250+01:00"}))
        .await;
    let stored = server.metadata(&id_of(&created)).await;
    assert_eq!(stored["expirationDate"], "2099-01-01T00:00:00Z");
    assert_eq!(created["expirationDate"], stored["expirationDate"]);
}
