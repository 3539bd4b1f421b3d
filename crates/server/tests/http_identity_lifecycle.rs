//! Identity lifecycle over HTTP: API keys are listed, read, deleted, locked and unlocked; users
//! and service ids are deleted with their keys and policies; a revoked credential's tokens are
//! refused at once on the node that revoked it and within 2 s on another node; the token
//! signing key rotates and `iat`, `nbf` and `iss` are checked.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{APIKEY_GRANT, TestServer, TestUser};
use keyward_iam::{PrincipalKind, Role};
use serde_json::Value;

/// Whether `token` is accepted (a read the user may make).
async fn accepted(server: &TestServer, token: &str) -> bool {
    let reply = server
        .get("/v1/apikeys")
        .no_instance()
        .token(token)
        .send()
        .await;
    match reply.status.as_u16() {
        200 => true,
        401 => false,
        other => panic!("unexpected status {other}: {}", reply.text()),
    }
}

async fn token_refusal(server: &TestServer, apikey: &str) -> Value {
    server
        .post("/identity/token")
        .no_auth()
        .no_instance()
        .form(&[("grant_type", APIKEY_GRANT), ("apikey", apikey)])
        .send()
        .await
        .expect_status(400)
        .json()
}

async fn key_id(server: &TestServer, user: &TestUser) -> String {
    server
        .get("/v1/apikeys")
        .no_instance()
        .token(&user.token)
        .send()
        .await
        .expect_status(200)
        .json()["apikeys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_deleted_api_key_gets_no_token_and_its_tokens_are_refused() {
    let server = TestServer::start().await;
    let user = server.user(&[Role::Reader], None).await;
    assert!(accepted(&server, &user.token).await);
    let id = key_id(&server, &user).await;
    let shown = server
        .get(&format!("/v1/apikeys/{id}"))
        .no_instance()
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(shown["iam_id"], user.iam_id.as_str());
    assert_eq!(shown["locked"], false);
    server
        .delete(&format!("/v1/apikeys/{id}"))
        .no_instance()
        .send()
        .await
        .expect_status(204);
    assert!(!accepted(&server, &user.token).await);
    assert_eq!(
        token_refusal(&server, &user.apikey).await["errorCode"],
        "BXNIM0415E"
    );
    // The KMS refuses the token too.
    server
        .get("/api/v2/keys")
        .token(&user.token)
        .send()
        .await
        .expect_status(401);
}

#[tokio::test]
async fn a_locked_key_is_suspended_until_an_administrator_unlocks_it() {
    let server = TestServer::start().await;
    let user = server.iam_user(&[]).await;
    let second = server.create_api_key(Some(&user.token), None).await;
    let second_token = server.token_for(second["apikey"].as_str().unwrap()).await;
    let id = key_id(&server, &user).await;
    // The owner locks its first key (self-service) ...
    let locked = server
        .post(&format!("/v1/apikeys/{id}/lock"))
        .no_instance()
        .token(&second_token)
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(locked["locked"], true);
    assert!(!accepted(&server, &user.token).await);
    assert_eq!(
        token_refusal(&server, &user.apikey).await["errorCode"],
        "BXNIM0418E"
    );
    // ... but cannot unlock it: a stolen token of the owner must not undo a lock.
    server
        .post(&format!("/v1/apikeys/{id}/unlock"))
        .no_instance()
        .token(&second_token)
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    let operator = server.iam_user(&[Role::Operator]).await;
    server
        .post(&format!("/v1/apikeys/{id}/unlock"))
        .no_instance()
        .token(&operator.token)
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    server
        .post(&format!("/v1/apikeys/{id}/unlock"))
        .no_instance()
        .send()
        .await
        .expect_status(200);
    assert!(accepted(&server, &user.token).await);
    server.token_for(&user.apikey).await;
}

#[tokio::test]
async fn deleting_a_user_or_service_id_takes_its_keys_tokens_and_policies() {
    let server = TestServer::start().await;
    let user = server.user(&[Role::Manager], None).await;
    server.root_key("before").await;
    server
        .get("/api/v2/keys")
        .token(&user.token)
        .send()
        .await
        .expect_status(200);
    server
        .delete(&format!("/v1/users/{}", user.iam_id))
        .no_instance()
        .send()
        .await
        .expect_status(204);
    server
        .get("/api/v2/keys")
        .token(&user.token)
        .send()
        .await
        .expect_status(401);
    let policies = server.get("/v1/policies").no_instance().send().await;
    assert!(!policies.text().contains(&user.iam_id));
    assert_eq!(
        token_refusal(&server, &user.apikey).await["errorCode"],
        "BXNIM0415E"
    );
    server
        .delete(&format!("/v1/users/{}", user.iam_id))
        .no_instance()
        .send()
        .await
        .assert_error(404, "NOT_FOUND_ERR");

    let sid = server
        .create_identity(PrincipalKind::ServiceId, "app")
        .await;
    let key = server.create_api_key(None, Some(&sid)).await["apikey"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = server.token_for(&key).await;
    assert!(accepted(&server, &token).await);
    // A user cannot delete itself through the service-id route, nor a service id through the
    // user route.
    server
        .delete(&format!("/v1/users/{sid}"))
        .no_instance()
        .send()
        .await
        .assert_error(404, "NOT_FOUND_ERR");
    server
        .delete(&format!("/v1/serviceids/{sid}"))
        .no_instance()
        .send()
        .await
        .expect_status(204);
    assert!(!accepted(&server, &token).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_refuses_a_revoked_key_within_two_seconds() {
    let server = TestServer::start().await;
    let user = server.user(&[Role::Reader], None).await;
    let settings = keyward_server::ServeSettings {
        unsafe_test_clock: true,
        ..keyward_server::ServeSettings::new(server.dir.path().join("data"))
    };
    let node_b = keyward_server::build(&settings).await.unwrap();
    let on_b = |token: &str| {
        common::Call::new(
            node_b.router.clone(),
            axum::http::Method::GET,
            "/v1/apikeys",
            Some(format!("Bearer {token}")),
            None,
        )
    };
    // Node B verifies (and caches) the credential.
    on_b(&user.token).send().await.expect_status(200);
    let id = key_id(&server, &user).await;
    server
        .delete(&format!("/v1/apikeys/{id}"))
        .no_instance()
        .send()
        .await
        .expect_status(204);
    let revoked = Instant::now();
    assert!(!accepted(&server, &user.token).await, "the revoking node");
    loop {
        let status = on_b(&user.token).send().await.status.as_u16();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked.elapsed() < Duration::from_millis(2500),
            "node B still accepts the token after {:?}",
            revoked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_signing_key_rotates_and_old_tokens_verify_until_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let settings = keyward_server::ServeSettings {
        token_key_rotation: Duration::from_millis(200),
        ..keyward_server::ServeSettings::new(dir.path())
    };
    let app = keyward_server::build(&settings).await.unwrap();
    let apikey = app
        .new_admin_key
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    let token = |router: axum::Router| {
        let apikey = apikey.clone();
        async move {
            common::Call::new(
                router,
                axum::http::Method::POST,
                "/identity/token",
                None,
                None,
            )
            .form(&[("grant_type", APIKEY_GRANT), ("apikey", &apikey)])
            .send()
            .await
            .expect_status(200)
            .json()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let works = |t: String| {
        let router = app.router.clone();
        async move {
            common::Call::new(
                router,
                axum::http::Method::GET,
                "/v1/apikeys",
                Some(format!("Bearer {t}")),
                None,
            )
            .send()
            .await
            .status
            .as_u16()
                == 200
        }
    };
    let kid = |t: &str| -> String {
        use base64::Engine as _;
        let header = t.split('.').next().unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap();
        let header: Value = serde_json::from_slice(&header).unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };
    let old = token(app.router.clone()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.state.iam.refresh_signing_keys().await.unwrap();
    let new = token(app.router.clone()).await;
    assert_ne!(kid(&old), kid(&new), "the signing key rotated");
    assert!(works(old.clone()).await, "older keys verify their tokens");
    assert!(works(new.clone()).await);

    // Revoking every token: a new key, the others dropped.
    let master = keyward_server::bootstrap::load_or_create_master_key(dir.path()).unwrap();
    keyward_server::signing_keys::replace_all(&app.store, &master, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    app.state.iam.refresh_signing_keys().await.unwrap();
    assert!(!works(old).await);
    assert!(!works(new).await);
    assert!(works(token(app.router.clone()).await).await);
}

#[tokio::test]
async fn tokens_from_the_future_are_refused() {
    let server = TestServer::start().await;
    let now = time::OffsetDateTime::now_utc();
    let early = server
        .admin_token_issued_at(now + time::Duration::minutes(10))
        .await;
    assert!(!accepted(&server, &early).await);
    let slightly_skewed = server
        .admin_token_issued_at(now + time::Duration::seconds(20))
        .await;
    assert!(accepted(&server, &slightly_skewed).await);
}
