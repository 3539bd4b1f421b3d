//! IAM's platform roles over HTTP: a small role on IAM no longer administers the account, each
//! platform role does what IBM's does, everyone manages their own API keys, and the service ids
//! Keyward itself runs under cannot be touched through the API.

#![allow(clippy::unwrap_used)]

mod common;

use common::{TestServer, TestUser};
use keyward_iam::{IamStore, PrincipalKind, Role, ServiceKind};
use serde_json::{Value, json};

fn apikey_for(iam_id: &str) -> Value {
    json!({"name": "k", "iam_id": iam_id})
}

fn admin_grant(iam_id: &str) -> Value {
    json!({"type": "access",
        "subjects": [{"attributes": [{"name": "iam_id", "value": iam_id}]}],
        "roles": [{"role_id": "crn:v1:bluemix:public:iam::::role:Administrator"}],
        "resources": [{"attributes": [{"name": "serviceName", "value": "iam"}]}]})
}

async fn post(server: &TestServer, user: &TestUser, uri: &str, body: &Value) -> u16 {
    server
        .post(uri)
        .no_instance()
        .token(&user.token)
        .json(body)
        .send()
        .await
        .status
        .as_u16()
}

async fn get(server: &TestServer, user: &TestUser, uri: &str) -> u16 {
    server
        .get(uri)
        .no_instance()
        .token(&user.token)
        .send()
        .await
        .status
        .as_u16()
}

/// The hole: any role on IAM let a user mint an API key for the admin. A service role stored on
/// `iam` by an earlier version (Reader) grants nothing now; the platform roles below
/// Administrator cannot reach the admin's identity or the policies.
#[tokio::test]
async fn no_role_below_administrator_can_take_the_account_over() {
    let server = TestServer::start().await;
    let legacy_reader = server
        .principal(
            &server.account,
            PrincipalKind::User,
            &[common::Grant {
                service: ServiceKind::Iam,
                instance: None,
                ring: None,
                roles: &[Role::Reader],
            }],
        )
        .await;
    for (label, user) in [
        ("Reader stored on iam", legacy_reader),
        ("Viewer", server.iam_user(&[Role::Viewer]).await),
        ("Operator", server.iam_user(&[Role::Operator]).await),
        ("Editor", server.iam_user(&[Role::Editor]).await),
    ] {
        let admin = server.admin_iam_id.clone();
        assert_eq!(
            post(&server, &user, "/v1/apikeys", &apikey_for(&admin)).await,
            403,
            "{label} minted a key for the admin"
        );
        assert_eq!(
            post(&server, &user, "/v1/policies", &admin_grant(&user.iam_id)).await,
            403,
            "{label} made itself Administrator"
        );
        assert_eq!(
            post(&server, &user, "/v1/users", &json!({"name": "x"})).await,
            403,
            "{label} created a user"
        );
    }
}

#[tokio::test]
async fn viewers_read_and_change_nothing() {
    let server = TestServer::start().await;
    let viewer = server.iam_user(&[Role::Viewer]).await;
    for uri in [
        "/v1/users",
        "/v1/serviceids",
        "/v1/policies",
        "/v2/resource_instances",
    ] {
        assert_eq!(get(&server, &viewer, uri).await, 200, "{uri}");
    }
    let listed = format!("/v1/apikeys?iam_id={}", server.admin_iam_id);
    assert_eq!(get(&server, &viewer, &listed).await, 200);
    assert_eq!(
        post(&server, &viewer, "/v1/serviceids", &json!({"name": "s"})).await,
        403
    );
    assert_eq!(
        post(
            &server,
            &viewer,
            "/v2/resource_instances",
            &json!({"name": "i", "service": "kms"})
        )
        .await,
        403
    );
}

#[tokio::test]
async fn editors_manage_service_ids_and_their_keys_but_not_users_or_policies() {
    let server = TestServer::start().await;
    let editor = server.iam_user(&[Role::Editor]).await;
    let created = server
        .post("/v1/serviceids")
        .no_instance()
        .token(&editor.token)
        .json(&json!({"name": "app"}))
        .send()
        .await
        .expect_status(201)
        .json();
    let sid = created["iam_id"].as_str().unwrap().to_owned();
    assert_eq!(
        post(&server, &editor, "/v1/apikeys", &apikey_for(&sid)).await,
        201
    );
    // Another user's keys are the Administrator's business.
    let other = server.iam_user(&[]).await;
    assert_eq!(
        post(&server, &editor, "/v1/apikeys", &apikey_for(&other.iam_id)).await,
        403
    );
    assert_eq!(
        post(&server, &editor, "/v1/users", &json!({"name": "u"})).await,
        403
    );
    assert_eq!(
        post(&server, &editor, "/v1/policies", &admin_grant(&sid)).await,
        403
    );
    assert_eq!(
        post(
            &server,
            &editor,
            "/v2/resource_instances",
            &json!({"name": "i", "service": "kms"})
        )
        .await,
        201
    );
    server
        .delete(&format!("/v1/serviceids/{sid}"))
        .no_instance()
        .token(&editor.token)
        .send()
        .await
        .expect_status(204);
}

#[tokio::test]
async fn everyone_manages_their_own_api_keys_and_nobody_sees_a_secret_again() {
    let server = TestServer::start().await;
    let user = server.iam_user(&[]).await;
    let created = server.create_api_key(Some(&user.token), None).await;
    assert_eq!(created["iam_id"], user.iam_id.as_str());
    let secret = created["apikey"].as_str().unwrap().to_owned();
    let listed = server
        .get("/v1/apikeys")
        .no_instance()
        .token(&user.token)
        .send()
        .await
        .expect_status(200);
    assert_eq!(listed.json()["apikeys"].as_array().unwrap().len(), 2);
    assert!(!listed.text().contains(&secret));
    assert!(!listed.text().contains(&user.apikey));
    // Not somebody else's.
    let admins = format!("/v1/apikeys?iam_id={}", server.admin_iam_id);
    assert_eq!(get(&server, &user, &admins).await, 403);
    let id = created["id"].as_str().unwrap();
    server
        .delete(&format!("/v1/apikeys/{id}"))
        .no_instance()
        .token(&user.token)
        .send()
        .await
        .expect_status(204);
    // Deleting or locking an unknown or foreign key without a role says nothing about it.
    let admin_key = server.get(&admins).no_instance().send().await.json()["apikeys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("/v1/apikeys/{admin_key}"),
        format!("/v1/apikeys/{}", uuid::Uuid::new_v4()),
    ] {
        let reply = server
            .delete(&path)
            .no_instance()
            .token(&user.token)
            .send()
            .await;
        assert_eq!(reply.status.as_u16(), 403, "{path}: {}", reply.text());
    }
}

#[tokio::test]
async fn keywards_own_service_ids_and_instances_are_out_of_reach() {
    let server = TestServer::start().await;
    let listed = server
        .get("/v1/serviceids")
        .no_instance()
        .send()
        .await
        .expect_status(200)
        .json();
    assert!(
        listed["items"].as_array().unwrap().is_empty(),
        "the configuration service's id is listed: {listed}"
    );
    let raw = server.store.setting("configsvc").await.unwrap().unwrap();
    let record: Value = serde_json::from_slice(&raw).unwrap();
    let service_iam_id = record["service_iam_id"].as_str().unwrap();
    let internal = record["internal_kms_instance_id"].as_str().unwrap();
    server
        .post("/v1/apikeys")
        .no_instance()
        .json(&apikey_for(service_iam_id))
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    server
        .post("/v1/policies")
        .no_instance()
        .json(&admin_grant(service_iam_id))
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    server
        .delete(&format!("/v1/serviceids/{service_iam_id}"))
        .no_instance()
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    let policies = server
        .get("/v1/policies")
        .no_instance()
        .send()
        .await
        .expect_status(200);
    assert!(!policies.text().contains(service_iam_id));
    server
        .delete(&format!("/v2/resource_instances/{internal}"))
        .no_instance()
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
}

#[tokio::test]
async fn roles_must_fit_the_service_they_are_granted_on() {
    let server = TestServer::start().await;
    let user = server.iam_user(&[]).await;
    let policy = |role: &str, service: &str| {
        json!({"type": "access",
            "subjects": [{"attributes": [{"name": "iam_id", "value": user.iam_id}]}],
            "roles": [{"role_id": role}],
            "resources": [{"attributes": [{"name": "serviceName", "value": service}]}]})
    };
    for (role, service) in [
        ("crn:v1:bluemix:public:iam::::serviceRole:Manager", "iam"),
        ("crn:v1:bluemix:public:iam::::role:Administrator", "kms"),
        ("KeyPurge", "configsvc"),
        ("crn:v1:bluemix:public:iam::::role:Manager", "kms"),
    ] {
        server
            .post("/v1/policies")
            .no_instance()
            .json(&policy(role, service))
            .send()
            .await
            .assert_error(400, "INVALID_FIELD_ERR");
    }
    let created = server
        .post("/v1/policies")
        .no_instance()
        .json(&policy("crn:v1:bluemix:public:iam::::role:Viewer", "iam"))
        .send()
        .await
        .expect_status(201)
        .json();
    assert_eq!(
        created["roles"][0]["role_id"],
        "crn:v1:bluemix:public:iam::::role:Viewer"
    );
}
