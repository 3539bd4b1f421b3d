//! Authentication and instance scoping over HTTP: every KMS endpoint refuses a missing, malformed,
//! expired, forged or foreign token with 401, a missing or non-UUID `Bluemix-Instance` with 400,
//! and another account's or an unknown instance with one identical 403; plus the token endpoint,
//! the test-clock endpoint, health and the fallback.

mod common;

use axum::http::Method;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{APIKEY_GRANT, TestServer, key_path};
use keyward_iam::Role;
use serde_json::{Value, json};
use uuid::Uuid;

/// Every KMS endpoint, as `(method, path, body)`, on an existing root key.
fn endpoints(key: &str) -> Vec<(Method, String, Option<Value>)> {
    let k = key_path(key);
    let create = common::key_collection(json!({"name": "n", "extractable": false}));
    let mut list = vec![
        (Method::GET, "/api/v2/keys".to_owned(), None),
        (Method::HEAD, "/api/v2/keys".to_owned(), None),
        (Method::POST, "/api/v2/keys".to_owned(), Some(create)),
        (Method::GET, k.clone(), None),
        (Method::GET, format!("{k}/metadata"), None),
        (
            Method::PATCH,
            k.clone(),
            Some(json!({"keyRingID": "default"})),
        ),
        (Method::DELETE, k.clone(), None),
        (Method::POST, format!("{k}?action=wrap"), None),
        (Method::DELETE, format!("{k}/purge"), None),
        (Method::POST, format!("{k}/restore"), None),
        (Method::GET, format!("{k}/versions"), None),
        (Method::POST, format!("{k}/aliases/some-alias"), None),
        (Method::DELETE, format!("{k}/aliases/some-alias"), None),
        (Method::GET, "/api/v2/key_rings".to_owned(), None),
        (Method::POST, "/api/v2/key_rings/some-ring".to_owned(), None),
        (
            Method::DELETE,
            "/api/v2/key_rings/some-ring".to_owned(),
            None,
        ),
    ];
    for action in [
        "wrap", "unwrap", "rewrap", "rotate", "disable", "enable", "sync",
    ] {
        let body =
            (action == "unwrap" || action == "rewrap").then(|| json!({"ciphertext": "AA=="}));
        list.push((Method::POST, format!("{k}/actions/{action}"), body));
    }
    list
}

async fn send(
    server: &TestServer,
    method: &Method,
    path: &str,
    body: &Option<Value>,
    setup: impl FnOnce(common::Call) -> common::Call,
) -> common::Reply {
    let mut call = setup(server.call(method.clone(), path));
    if let Some(b) = body {
        call = call.json(b);
    }
    call.send().await
}

/// Asserts a refusal; HEAD responses carry no body, so only their status is checked.
fn assert_refused(reply: &common::Reply, method: &Method, status: u16, code: Option<&str>) {
    if *method == Method::HEAD {
        assert_eq!(reply.status.as_u16(), status, "HEAD");
        assert!(reply.body.is_empty());
        return;
    }
    match code {
        Some(code) => reply.assert_error(status, code),
        None => reply.assert_error_without_code(status, ""),
    }
}

fn tampered(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("payload b64"))
            .expect("claims");
    claims["iam_id"] = json!("IBMid-someone-else");
    claims["sub"] = json!("IBMid-someone-else");
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
    format!("{}.{payload}.{}", parts[0], parts[2])
}

fn unsigned(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("payload");
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{payload}.")
}

#[tokio::test]
async fn every_endpoint_refuses_bad_credentials_with_401() {
    let server = TestServer::start().await;
    let key = server.root_key("victim").await;
    let before = server.metadata(&key).await;
    let other = TestServer::start().await;
    let expired = server.expired_admin_token().await;
    let bad_authorizations = [
        None,
        Some("Basic YWRtaW46YWRtaW4=".to_owned()),
        Some("Bearer".to_owned()),
        Some("Bearer ".to_owned()),
        Some("Bearer garbage".to_owned()),
        Some("Bearer a.b.c".to_owned()),
        Some(server.admin_token.clone()),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {}", other.admin_token)),
        Some(format!("Bearer {}", tampered(&server.admin_token))),
        Some(format!("Bearer {}", unsigned(&server.admin_token))),
    ];
    for (method, path, body) in endpoints(&key) {
        for authorization in &bad_authorizations {
            let reply = send(&server, &method, &path, &body, |c| match authorization {
                None => c.no_auth(),
                Some(a) => c.authorization(a),
            })
            .await;
            assert_eq!(
                reply.status.as_u16(),
                401,
                "{method} {path} with {authorization:?}: {}",
                reply.text()
            );
            if method != Method::HEAD {
                reply.assert_error_without_code(401, "Unauthorized");
            }
        }
    }
    // Nothing happened to the key.
    assert_eq!(server.metadata(&key).await, before);
}

#[tokio::test]
async fn expired_token_is_refused_even_when_correctly_signed() {
    let server = TestServer::start().await;
    let expired = server.expired_admin_token().await;
    server
        .get("/api/v2/keys")
        .token(&expired)
        .send()
        .await
        .assert_error_without_code(401, "Unauthorized");
    // The same principal with a fresh token is let in.
    server.get("/api/v2/keys").send().await.expect_status(200);
}

#[tokio::test]
async fn missing_or_malformed_instance_header_is_400() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let bad_instances = [
        None,
        Some(""),
        Some("not-a-uuid"),
        Some("0b5d4c5e2a384f639a0e9d8e0cf0b8a1"),
        Some("0b5d4c5e-2a38-4f63-9a0e-9d8e0cf0b8a"),
    ];
    for (method, path, body) in endpoints(&key) {
        for instance in bad_instances {
            let reply = send(&server, &method, &path, &body, |c| match instance {
                None => c.no_instance(),
                Some(i) => c.instance(i),
            })
            .await;
            if method == Method::HEAD {
                assert_eq!(reply.status.as_u16(), 400, "HEAD {path}");
                continue;
            }
            reply.assert_error_without_code(400, "Bluemix-Instance");
        }
    }
}

#[tokio::test]
async fn foreign_and_unknown_instances_get_the_same_403() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let (foreign, foreign_manager) = server.foreign_instance().await;
    let unknown = Uuid::new_v4().to_string();
    for (method, path, body) in endpoints(&key) {
        let to_foreign = send(&server, &method, &path, &body, |c| c.instance(&foreign)).await;
        let to_unknown = send(&server, &method, &path, &body, |c| c.instance(&unknown)).await;
        assert_refused(&to_foreign, &method, 403, Some("FORBIDDEN_ERR"));
        assert_refused(&to_unknown, &method, 403, Some("FORBIDDEN_ERR"));
        assert_eq!(
            to_foreign.body, to_unknown.body,
            "{method} {path}: the refusal must not reveal that the instance exists"
        );
    }
    // The other account's manager cannot reach our instance either, nor our key by id.
    let reply = server
        .get(&key_path(&key))
        .token(&foreign_manager.token)
        .send()
        .await;
    reply.assert_error(403, "FORBIDDEN_ERR");
    // ...but works in its own instance, where our key id does not exist, even right after the
    // key was used (and cached) in ours.
    server.wrap_new(&key).await;
    server
        .post(&format!("{}/actions/wrap", key_path(&key)))
        .token(&foreign_manager.token)
        .instance(&foreign)
        .send()
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
    server
        .get(&key_path(&key))
        .token(&foreign_manager.token)
        .instance(&foreign)
        .send()
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
    let listed = server
        .get("/api/v2/keys")
        .token(&foreign_manager.token)
        .instance(&foreign)
        .send()
        .await
        .expect_status(200);
    assert_eq!(listed.json()["metadata"]["collectionTotal"], 0);
}

#[tokio::test]
async fn principal_without_a_policy_on_the_instance_gets_403() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let nobody = server.user(&[], None).await;
    let elsewhere = server
        .user_in(
            &server.account,
            Some(Uuid::new_v4()),
            &[Role::Manager],
            None,
        )
        .await;
    for user in [&nobody, &elsewhere] {
        for (method, path, body) in endpoints(&key) {
            let reply = send(&server, &method, &path, &body, |c| c.token(&user.token)).await;
            assert_refused(&reply, &method, 403, Some("FORBIDDEN_ERR"));
        }
    }
}

#[tokio::test]
async fn account_wide_policy_covers_the_instance() {
    let server = TestServer::start().await;
    let user = server
        .user_in(&server.account, None, &[Role::Reader], None)
        .await;
    server
        .get("/api/v2/keys")
        .token(&user.token)
        .send()
        .await
        .expect_status(200);
}

#[tokio::test]
async fn token_endpoint_issues_ibm_shaped_tokens() {
    let server = TestServer::start().await;
    let user = server.user(&[Role::Reader], None).await;
    for path in ["/identity/token", "/oidc/token"] {
        let reply = server
            .post(path)
            .no_auth()
            .no_instance()
            .header("accept", "application/json")
            .form(&[("grant_type", APIKEY_GRANT), ("apikey", &user.apikey)])
            .send()
            .await
            .expect_status(200);
        reply.assert_json_content_type();
        let v = reply.json();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 3600);
        assert!(v["expiration"].as_i64().expect("expiration") > 0);
        assert!(v["refresh_token"].is_string());
        let token = v["access_token"].as_str().expect("token");
        assert_eq!(token.split('.').count(), 3);
        server
            .get("/api/v2/keys")
            .token(token)
            .send()
            .await
            .expect_status(200);
    }
}

#[tokio::test]
async fn token_endpoint_refusals() {
    let server = TestServer::start().await;
    let user = server.user(&[Role::Reader], None).await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("grant_type", "password"), ("apikey", &user.apikey)],
            "BXNIM0109E",
        ),
        (vec![("apikey", &user.apikey)], "BXNIM0109E"),
        (vec![("grant_type", APIKEY_GRANT)], "BXNIM0109E"),
        (
            vec![("grant_type", APIKEY_GRANT), ("apikey", "")],
            "BXNIM0109E",
        ),
        (
            vec![
                ("grant_type", APIKEY_GRANT),
                ("apikey", "kw_not-a-real-key"),
            ],
            "BXNIM0415E",
        ),
    ];
    for (form, code) in cases {
        let reply = server
            .post("/identity/token")
            .no_auth()
            .no_instance()
            .form(&form)
            .send()
            .await
            .expect_status(400);
        assert_eq!(reply.json()["errorCode"], code, "{form:?}");
        assert!(reply.json()["errorMessage"].is_string());
    }
    // A JSON body is not the form IAM takes.
    let reply = server
        .post("/identity/token")
        .no_auth()
        .no_instance()
        .json(&json!({"grant_type": APIKEY_GRANT, "apikey": user.apikey}))
        .send()
        .await
        .expect_status(400);
    assert_eq!(reply.json()["errorCode"], "BXNIM0109E");
}

#[tokio::test]
async fn test_clock_endpoint_moves_kms_time_for_account_admins_only() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    server.action(&key, "disable").await.expect_status(204);
    server
        .action(&key, "enable")
        .await
        .assert_error(409, "REQ_TOO_EARLY_ERR");
    let reply = server
        .post("/admin/test-clock")
        .no_instance()
        .json(&json!({"advance_seconds": 31}))
        .send()
        .await
        .expect_status(200);
    assert!(reply.json()["now"].is_string());
    server.action(&key, "enable").await.expect_status(204);

    // A KMS Manager without a role on IAM is not an account admin.
    let manager = server.user(&[Role::Manager, Role::KeyPurge], None).await;
    server
        .post("/admin/test-clock")
        .token(&manager.token)
        .json(&json!({"advance_seconds": 1}))
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    server
        .post("/admin/test-clock")
        .no_auth()
        .json(&json!({"advance_seconds": 1}))
        .send()
        .await
        .assert_error_without_code(401, "Unauthorized");
    server
        .post("/admin/test-clock")
        .json(&json!({"advance_seconds": -1}))
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    server
        .post("/admin/test-clock")
        .json(&json!({"advance_seconds": 100 * 86_400 + 1}))
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    server
        .post("/admin/test-clock")
        .send()
        .await
        .assert_error(400, "NO_BODY_ERR");
}

#[tokio::test]
async fn test_clock_endpoint_is_absent_without_the_unsafe_flag() {
    let server = TestServer::start_with(false).await;
    server
        .post("/admin/test-clock")
        .json(&json!({"advance_seconds": 1}))
        .send()
        .await
        .assert_error(404, "NOT_FOUND_ERR");
}

#[tokio::test]
async fn health_and_unknown_routes() {
    let server = TestServer::start().await;
    let reply = server
        .get("/healthz")
        .no_auth()
        .no_instance()
        .send()
        .await
        .expect_status(200);
    assert_eq!(reply.json(), json!({"status": "ok"}));
    server
        .get("/api/v2/nothing-here")
        .send()
        .await
        .assert_error(404, "NOT_FOUND_ERR");
    server
        .get("/api/v2/keys/a/b/c/d")
        .no_auth()
        .send()
        .await
        .assert_error(404, "NOT_FOUND_ERR");
}
