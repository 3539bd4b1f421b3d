//! Instance policies over HTTP: the six types' bodies and refusals, what they do to keys created
//! afterwards, who may create or import what, the client addresses an allowedIP policy lets in,
//! and keys created with policies of their own.

mod common;

use axum::http::Method;
use common::{TestServer, key_collection};
use keyward_iam::Role;
use serde_json::{Value, json};

const POLICY_TYPE: &str = "application/vnd.ibm.kms.policy+json";
const PATH: &str = "/api/v2/instance/policies";

fn policy(kind: &str, enabled: bool, attributes: Option<Value>) -> Value {
    let mut data = json!({"enabled": enabled});
    if let Some(a) = attributes {
        data["attributes"] = a;
    }
    json!({"policy_type": kind, "policy_data": data})
}

fn body(policies: &[Value]) -> Value {
    json!({
        "metadata": {"collectionType": POLICY_TYPE, "collectionTotal": policies.len()},
        "resources": policies,
    })
}

async fn put(server: &TestServer, query: &str, policies: &[Value]) -> common::Reply {
    server
        .call(Method::PUT, &format!("{PATH}{query}"))
        .json(&body(policies))
        .send()
        .await
}

#[tokio::test]
async fn policies_of_every_type_are_set_and_listed() {
    let server = TestServer::start().await;
    let empty = server.get(PATH).send().await.expect_status(200).json();
    assert_eq!(
        empty,
        json!({"metadata": {"collectionType": POLICY_TYPE, "collectionTotal": 0}})
    );
    put(
        &server,
        "",
        &[
            policy("dualAuthDelete", true, None),
            policy("rotation", true, Some(json!({"interval_month": 4}))),
            policy(
                "allowedNetwork",
                true,
                Some(json!({"allowed_network": "public-and-private"})),
            ),
            policy(
                "keyCreateImportAccess",
                true,
                Some(json!({"create_standard_key": false})),
            ),
            policy("metrics", false, None),
        ],
    )
    .await
    .expect_status(204);
    put(
        &server,
        "?policy=allowedIP",
        &[policy("allowedIP", false, None)],
    )
    .await
    .expect_status(204);
    let listed = server.get(PATH).send().await.expect_status(200).json();
    assert_eq!(listed["metadata"]["collectionTotal"], 6);
    let by_type = |t: &str| {
        listed["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["policy_type"] == t)
            .cloned()
            .expect("listed")
    };
    assert_eq!(
        by_type("rotation")["policy_data"],
        json!({"enabled": true, "attributes": {"interval_month": 4}})
    );
    assert_eq!(
        by_type("keyCreateImportAccess")["policy_data"]["attributes"],
        json!({"create_root_key": true, "create_standard_key": false, "import_root_key": true,
               "import_standard_key": true, "enforce_token": false})
    );
    assert_eq!(by_type("metrics")["policy_data"], json!({"enabled": false}));
    let dual = by_type("dualAuthDelete");
    assert_eq!(dual["createdBy"], json!(server.admin_iam_id));
    assert!(dual["creationDate"].is_string() && dual["lastUpdated"].is_string());

    let only = server
        .get(&format!("{PATH}?policy=rotation"))
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(only["metadata"]["collectionTotal"], 1);
    assert_eq!(only["resources"][0]["policy_type"], "rotation");

    // Turning a policy off resets its attributes and keeps who first set it.
    server.advance(60);
    put(&server, "", &[policy("rotation", false, None)])
        .await
        .expect_status(204);
    let rotation = server
        .get(&format!("{PATH}?policy=rotation"))
        .send()
        .await
        .json()["resources"][0]
        .clone();
    assert_eq!(rotation["policy_data"], json!({"enabled": false}));
    assert_ne!(rotation["creationDate"], rotation["lastUpdated"]);
}

#[tokio::test]
async fn mistaken_and_hostile_bodies_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let dual = policy("dualAuthDelete", true, None);
    put(
        &server,
        "?policy=dualAuthDelete",
        &[dual.clone(), policy("metrics", true, None)],
    )
    .await
    .assert_error(400, "NUM_COLLECTION_RESOURCE_ERR");
    put(&server, "?policy=metrics", std::slice::from_ref(&dual))
        .await
        .assert_error(400, "BODY_QUERY_PARAM_MISMATCH_ERR");
    let mut wrong_total = body(std::slice::from_ref(&dual));
    wrong_total["metadata"]["collectionTotal"] = json!(3);
    server
        .call(Method::PUT, PATH)
        .json(&wrong_total)
        .send()
        .await
        .assert_error(400, "COLLECTION_TOTAL_MISMATCH_ERR");
    let invalid = [
        policy("everything", true, None),
        policy("rotation", true, None),
        policy("rotation", true, Some(json!({"interval_month": 13}))),
        policy("rotation", false, Some(json!({"interval_month": 3}))),
        policy("allowedIP", true, Some(json!({"allowed_ip": []}))),
        policy(
            "allowedIP",
            true,
            Some(json!({"allowed_ip": ["10.0.0.0/33"]})),
        ),
        policy(
            "allowedNetwork",
            true,
            Some(json!({"allowed_network": "private-only"})),
        ),
        policy("metrics", true, Some(json!({"interval_month": 3}))),
    ];
    for p in invalid {
        put(&server, "", &[p])
            .await
            .assert_error(400, "INVALID_FIELD_ERR");
    }
    for p in [
        policy(
            "rotation",
            true,
            Some(json!({"interval_month": 3, "allowed_ip": ["10.0.0.0/8"]})),
        ),
        policy(
            "rotation",
            true,
            Some(json!({"interval_month": 3, "colour": "red"})),
        ),
        json!({"policy_type": "metrics", "policy_data": {"enabled": true}, "extra": 1}),
        json!({"policy_type": "metrics"}),
    ] {
        put(&server, "", &[p])
            .await
            .assert_error(400, "BAD_BODY_ERR");
    }
    put(&server, "", &[dual.clone(), dual])
        .await
        .assert_error(400, "BAD_BODY_ERR");
    let listed = server.get(PATH).send().await.expect_status(200).json();
    assert_eq!(listed["metadata"]["collectionTotal"], 0, "{listed}");
}

#[tokio::test]
async fn only_managers_read_and_set_instance_policies() {
    let server = TestServer::start().await;
    for role in [Role::Reader, Role::ReaderPlus, Role::Writer] {
        let user = server.user(&[role], None).await;
        for (method, path) in [
            (Method::GET, PATH),
            (Method::PUT, PATH),
            (Method::GET, "/api/v2/instance/allowed_ip_port"),
        ] {
            server
                .call(method.clone(), path)
                .token(&user.token)
                .json(&body(&[policy("dualAuthDelete", true, None)]))
                .send()
                .await
                .assert_error(403, "FORBIDDEN_ERR");
        }
    }
    // Another account's Manager, with its own instance, reads its own (empty) policies.
    let (foreign, manager) = server.foreign_instance().await;
    put(&server, "", &[policy("dualAuthDelete", true, None)])
        .await
        .expect_status(204);
    let theirs = server
        .get(PATH)
        .token(&manager.token)
        .instance(&foreign)
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(theirs["metadata"]["collectionTotal"], 0);
}

#[tokio::test]
async fn new_keys_take_the_instances_dual_authorization_and_rotation() {
    let server = TestServer::start().await;
    let before = server.root_key("before").await;
    put(
        &server,
        "",
        &[
            policy("dualAuthDelete", true, None),
            policy("rotation", true, Some(json!({"interval_month": 6}))),
        ],
    )
    .await
    .expect_status(204);
    let after = server.root_key("after").await;
    let standard = server.standard_key("standard").await;
    let imported = server
        .create(json!({"name": "imported", "extractable": false,
            "payload": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}))
        .await;

    let meta = server.metadata(&after).await;
    assert_eq!(meta["dualAuthDelete"]["enabled"], true);
    assert_eq!(
        meta["rotation"],
        json!({"enabled": true, "interval_month": 6})
    );
    let before_meta = server.metadata(&before).await;
    assert_eq!(before_meta["dualAuthDelete"]["enabled"], false);
    assert!(before_meta.get("rotation").is_none());
    let standard_meta = server.metadata(&standard).await;
    assert_eq!(standard_meta["dualAuthDelete"]["enabled"], true);
    assert!(standard_meta.get("rotation").is_none());
    assert!(imported.get("rotation").is_none());
    assert_eq!(imported["dualAuthDelete"]["enabled"], true);
    // The key inherited the policy: one user cannot delete it.
    server
        .delete(&format!("/api/v2/keys/{after}"))
        .send()
        .await
        .assert_error(409, "AUTHORIZATIONS_NOT_MET");
    // Turning the instance's policy off leaves existing keys as they are.
    put(&server, "", &[policy("dualAuthDelete", false, None)])
        .await
        .expect_status(204);
    assert_eq!(
        server.metadata(&after).await["dualAuthDelete"]["enabled"],
        true
    );
    let later = server.root_key("later").await;
    assert_eq!(
        server.metadata(&later).await["dualAuthDelete"]["enabled"],
        false
    );
}

#[tokio::test]
async fn key_create_import_access_decides_which_keys_may_be_made() {
    let server = TestServer::start().await;
    let access = json!({"create_root_key": false, "import_standard_key": false});
    put(
        &server,
        "",
        &[policy("keyCreateImportAccess", true, Some(access))],
    )
    .await
    .expect_status(204);
    let create = |resource: Value| {
        server
            .post("/api/v2/keys")
            .json(&key_collection(resource))
            .send()
    };
    create(json!({"name": "root", "extractable": false}))
        .await
        .assert_error(409, "KEY_CREATE_IMPORT_ACCESS_ERR");
    create(json!({"name": "std", "extractable": true, "payload": "c2VjcmV0"}))
        .await
        .assert_error(409, "KEY_CREATE_IMPORT_ACCESS_ERR");
    create(json!({"name": "std", "extractable": true}))
        .await
        .expect_status(201);
    create(json!({"name": "imported", "extractable": false,
        "payload": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}))
    .await
    .expect_status(201);
    // enforce_token: material only through an import token (secure import).
    put(
        &server,
        "",
        &[policy(
            "keyCreateImportAccess",
            true,
            Some(json!({"enforce_token": true})),
        )],
    )
    .await
    .expect_status(204);
    create(json!({"name": "imported", "extractable": false,
        "payload": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}))
    .await
    .assert_error(409, "KEY_CREATE_IMPORT_ACCESS_ERR");
    create(json!({"name": "root", "extractable": false}))
        .await
        .expect_status(201);
}

#[tokio::test]
async fn an_allowed_ip_policy_lets_in_only_its_blocks() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let ip = json!({"allowed_ip": ["10.0.0.0/8", "2001:db8::/32"]});
    let port_path = "/api/v2/instance/allowed_ip_port";
    let none = server.get(port_path).send().await.expect_status(200).json();
    assert_eq!(none["metadata"]["collectionTotal"], 0);
    put(&server, "", &[policy("allowedIP", true, Some(ip))])
        .await
        .expect_status(204);
    let metadata = format!("/api/v2/keys/{key}/metadata");
    for allowed in ["10.1.2.3:5000", "[::ffff:10.9.9.9]:443", "[2001:db8::7]:80"] {
        server
            .get(&metadata)
            .from(allowed)
            .send()
            .await
            .expect_status(200);
    }
    for refused in ["192.168.1.5:5000", "[::1]:443"] {
        server
            .get(&metadata)
            .from(refused)
            .send()
            .await
            .assert_error(403, "IP_NOT_ALLOWED_ERR");
    }
    // A request that did not come over a socket has no address: refused.
    server
        .get(&metadata)
        .send()
        .await
        .assert_error(403, "IP_NOT_ALLOWED_ERR");
    // Policies themselves are behind the same gate.
    server
        .get(PATH)
        .from("192.168.1.5:5000")
        .send()
        .await
        .assert_error(403, "IP_NOT_ALLOWED_ERR");
    // The port is told to any address, so that a refused client learns where to go.
    let port = server
        .get(port_path)
        .from("192.168.1.5:5000")
        .header("host", "kms.example:8443")
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(
        port,
        json!({"metadata": {"collectionType": "application/vnd.ibm.kms.allowed_ip_metadata+json",
            "collectionTotal": 1}, "resources": [{"private_endpoint_port": 8443}]})
    );
    // Unauthenticated callers learn nothing, wherever they are.
    server
        .get(&metadata)
        .no_auth()
        .from("10.1.2.3:5000")
        .send()
        .await
        .assert_error_without_code(401, "");
    put(&server, "", &[policy("allowedIP", false, None)])
        .await
        .assert_error(403, "IP_NOT_ALLOWED_ERR");
    server
        .call(Method::PUT, PATH)
        .from("10.0.0.1:1")
        .json(&body(&[policy("allowedIP", false, None)]))
        .send()
        .await
        .expect_status(204);
    server.get(&metadata).send().await.expect_status(200);
}

#[tokio::test]
async fn keys_with_policy_overrides_carry_their_own_policies() {
    let server = TestServer::start().await;
    put(&server, "", &[policy("dualAuthDelete", true, None)])
        .await
        .expect_status(204);
    let path = "/api/v2/keys_with_policy_overrides";
    let own = json!({"name": "own", "extractable": false,
        "rotation": {"enabled": true, "interval_month": 2}});
    let created = server
        .post(path)
        .json(&key_collection(own.clone()))
        .send()
        .await
        .expect_status(201)
        .resource();
    assert_eq!(
        created["rotation"],
        json!({"enabled": true, "interval_month": 2})
    );
    assert_eq!(
        created["dualAuthDelete"]["enabled"], true,
        "the instance's, not overridden"
    );

    let weaker =
        json!({"name": "weak", "extractable": false, "dualAuthDelete": {"enabled": false}});
    let writer = server.user(&[Role::Writer], None).await;
    server
        .post(path)
        .token(&writer.token)
        .json(&key_collection(weaker.clone()))
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    let weak = server
        .post(path)
        .json(&key_collection(weaker))
        .send()
        .await
        .expect_status(201)
        .resource();
    assert_eq!(weak["dualAuthDelete"]["enabled"], false);

    for (bad, code) in [
        (
            json!({"name": "s", "extractable": true, "rotation": {"enabled": true, "interval_month": 1}}),
            "KEY_ROOT_REQ_ERR",
        ),
        (
            json!({"name": "r", "extractable": false, "rotation": {"enabled": true, "interval_month": 0}}),
            "INVALID_FIELD_ERR",
        ),
    ] {
        server
            .post(path)
            .json(&key_collection(bad))
            .send()
            .await
            .assert_error(400, code);
    }
    // Plain creation does not take policies.
    server
        .post("/api/v2/keys")
        .json(&key_collection(own))
        .send()
        .await
        .assert_error(400, "BAD_BODY_ERR");
}

#[tokio::test]
async fn a_private_only_instance_answers_on_the_private_endpoint_only() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let private_only = policy(
        "allowedNetwork",
        true,
        Some(json!({"allowed_network": "private-only"})),
    );
    // Without a private endpoint the instance would be shut out: refused.
    put(&server, "", std::slice::from_ref(&private_only))
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    server.state.private_port.set(4443).expect("first set");
    put(&server, "", &[private_only]).await.expect_status(204);
    let metadata = format!("/api/v2/keys/{key}/metadata");
    server
        .get(&metadata)
        .send()
        .await
        .assert_error(403, "PRIVATE_ENDPOINT_REQUIRED_ERR");
    server
        .get(&metadata)
        .private()
        .send()
        .await
        .expect_status(200);
    // Other instances are not touched.
    let (foreign, manager) = server.foreign_instance().await;
    server
        .get("/api/v2/keys")
        .token(&manager.token)
        .instance(&foreign)
        .send()
        .await
        .expect_status(200);
    // Back to both, from the private endpoint.
    server
        .call(Method::PUT, PATH)
        .private()
        .json(&body(&[policy(
            "allowedNetwork",
            true,
            Some(json!({"allowed_network": "public-and-private"})),
        )]))
        .send()
        .await
        .expect_status(204);
    server.get(&metadata).send().await.expect_status(200);
}
