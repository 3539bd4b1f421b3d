//! Key actions over HTTP: wrap, unwrap, rewrap, rotate, sync and the legacy `?action=` form,
//! with every body and content type the clients send, and the crypto refusals.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{KEY_TYPE, TestServer, id_of, key_path, str_of};
use serde_json::{Value, json};
use uuid::Uuid;

/// Content types clients send on bodyless or JSON actions (`None`: no header, like Python/Go).
fn content_types(action: &str) -> Vec<Option<String>> {
    vec![
        None,
        Some("application/json".into()),
        Some(format!("application/vnd.ibm.kms.key_action_{action}+json")),
        Some("application/vnd.ibm.kms.key_action+json".into()),
        Some("text/plain".into()),
    ]
}

/// Bodies that mean "no body".
const NO_BODIES: [&str; 4] = ["", "{}", "null", " \n"];

async fn act(
    server: &TestServer,
    key: &str,
    action: &str,
    content_type: Option<&str>,
    body: &str,
) -> common::Reply {
    let mut call = server.post(&format!("{}/actions/{action}", key_path(key)));
    if let Some(ct) = content_type {
        call = call.header("content-type", ct);
    }
    call.raw(body).send().await
}

async fn act_json(server: &TestServer, key: &str, action: &str, body: Value) -> common::Reply {
    act(
        server,
        key,
        action,
        Some(&format!("application/vnd.ibm.kms.key_action_{action}+json")),
        &body.to_string(),
    )
    .await
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

async fn current_version(server: &TestServer, key: &str) -> String {
    str_of(&server.metadata(key).await["keyVersion"]["id"])
}

#[tokio::test]
async fn wrap_generates_a_dek_for_every_bodyless_form() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let version = current_version(&server, &key).await;
    for ct in content_types("wrap") {
        for body in NO_BODIES {
            let reply = act(&server, &key, "wrap", ct.as_deref(), body).await;
            let reply = reply.expect_status(200);
            reply.assert_json_content_type();
            let v = reply.json();
            let dek = STANDARD.decode(str_of(&v["plaintext"])).expect("b64 dek");
            assert_eq!(dek.len(), 32, "{ct:?} {body:?}");
            assert_eq!(v["keyVersion"]["id"], version);
            assert!(v.get("metadata").is_none(), "wrap responses are flat");
            let out = act_json(
                &server,
                &key,
                "unwrap",
                json!({"ciphertext": v["ciphertext"]}),
            )
            .await
            .expect_status(200)
            .json();
            assert_eq!(out["plaintext"], v["plaintext"]);
            assert_eq!(out["keyVersion"]["id"], version);
            assert!(out.get("ciphertext").is_none());
            assert!(out.get("rewrappedKeyVersion").is_none());
        }
    }
}

#[tokio::test]
async fn wrap_and_unwrap_with_plaintext_and_aad() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let dek = b64(&[42u8; 32]);
    let wrapped = act_json(
        &server,
        &key,
        "wrap",
        json!({"plaintext": dek, "aad": ["a", "b"]}),
    )
    .await
    .expect_status(200)
    .json();
    assert!(
        wrapped.get("plaintext").is_none(),
        "a supplied DEK is not echoed"
    );
    let ct = wrapped["ciphertext"].clone();
    let out = act_json(
        &server,
        &key,
        "unwrap",
        json!({"ciphertext": ct, "aad": ["a", "b"]}),
    )
    .await
    .expect_status(200)
    .json();
    assert_eq!(out["plaintext"], dek);
    for wrong in [
        json!(["a"]),
        json!(["b", "a"]),
        json!([]),
        json!(["a", "b", "c"]),
    ] {
        act_json(
            &server,
            &key,
            "unwrap",
            json!({"ciphertext": ct, "aad": wrong}),
        )
        .await
        .assert_error(422, "CIPHERTEXT_INVALID_ERR");
        act_json(
            &server,
            &key,
            "rewrap",
            json!({"ciphertext": ct, "aad": wrong}),
        )
        .await
        .assert_error(422, "CIPHERTEXT_INVALID_ERR");
    }
    act_json(&server, &key, "unwrap", json!({"ciphertext": ct}))
        .await
        .assert_error(422, "CIPHERTEXT_INVALID_ERR");
    let rewrapped = act_json(
        &server,
        &key,
        "rewrap",
        json!({"ciphertext": ct, "aad": ["a", "b"]}),
    )
    .await
    .expect_status(200)
    .json();
    let again = act_json(
        &server,
        &key,
        "unwrap",
        json!({"ciphertext": rewrapped["ciphertext"], "aad": ["a", "b"]}),
    )
    .await
    .expect_status(200)
    .json();
    assert_eq!(again["plaintext"], dek);
    // The largest plaintext is accepted.
    act_json(
        &server,
        &key,
        "wrap",
        json!({"plaintext": b64(&vec![1u8; 3072])}),
    )
    .await
    .expect_status(200);
}

#[tokio::test]
async fn wrap_refusals() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let field_errors: Vec<(Value, &str)> = vec![
        (json!({"plaintext": "***"}), "plaintext"),
        (json!({"plaintext": ""}), "plaintext"),
        (json!({"plaintext": b64(&vec![1u8; 3073])}), "plaintext"),
        (json!({"aad": vec!["x"; 127]}), "aad"),
        (json!({"aad": ["y".repeat(256)]}), "aad"),
    ];
    for (body, field) in field_errors {
        let reply = act_json(&server, &key, "wrap", body.clone()).await;
        reply.assert_error(400, "INVALID_FIELD_ERR");
        assert_eq!(
            reply.json()["resources"][0]["reasons"][0]["target"]["name"],
            field,
            "{body}"
        );
    }
    act(&server, &key, "wrap", Some("application/json"), "{oops")
        .await
        .assert_error(400, "BAD_BODY_ERR");
    act(&server, &key, "wrap", Some("application/json"), "[1,2]")
        .await
        .assert_error(400, "BAD_BODY_ERR");
    let standard = server.standard_key("std").await;
    server
        .action(&standard, "wrap")
        .await
        .assert_error(400, "KEY_ROOT_REQ_ERR");
    server
        .action(&Uuid::new_v4().to_string(), "wrap")
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
}

#[tokio::test]
async fn unwrap_and_rewrap_refusals() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let other = server.root_key("other").await;
    let (ct, _, _) = server.wrap_new(&key).await;
    let (foreign_ct, _, _) = server.wrap_new(&other).await;
    let raw = STANDARD.decode(&ct).expect("b64 ciphertext");
    let mut flipped = raw.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let mut last = raw.clone();
    let end = last.len() - 1;
    last[end] ^= 0x80;
    let truncated = raw[..raw.len() - 1].to_vec();
    for action in ["unwrap", "rewrap"] {
        for body in ["", "null", " "] {
            act(&server, &key, action, Some("application/json"), body)
                .await
                .assert_error(400, "NO_BODY_ERR");
        }
        let missing = act(&server, &key, action, None, "{}").await;
        missing.assert_error(400, "INVALID_FIELD_ERR");
        assert_eq!(
            missing.json()["resources"][0]["reasons"][0]["target"]["name"],
            "ciphertext"
        );
        let bad = act_json(
            &server,
            &key,
            action,
            json!({"ciphertext": "%%% not base64"}),
        )
        .await;
        bad.assert_error(400, "INVALID_FIELD_ERR");
        assert_eq!(
            bad.json()["resources"][0]["reasons"][0]["target"]["name"],
            "ciphertext"
        );
        for tampered in [&flipped, &last, &truncated, &vec![0u8; 3], &Vec::new()] {
            act_json(&server, &key, action, json!({"ciphertext": b64(tampered)}))
                .await
                .assert_error(422, "CIPHERTEXT_INVALID_ERR");
        }
        act_json(&server, &key, action, json!({"ciphertext": foreign_ct}))
            .await
            .assert_error(422, "CIPHERTEXT_INVALID_ERR");
        act(&server, &key, action, None, "{nope")
            .await
            .assert_error(400, "BAD_BODY_ERR");
    }
    // The refusals did not break the key.
    act_json(&server, &key, "unwrap", json!({"ciphertext": ct}))
        .await
        .expect_status(200);
}

#[tokio::test]
async fn unwrap_after_rotation_returns_the_rewrapped_dek() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let (ct1, dek, v1) = server.wrap_new(&key).await;
    server.action(&key, "rotate").await.expect_status(204);
    let meta = server.metadata(&key).await;
    let v2 = str_of(&meta["keyVersion"]["id"]);
    assert_ne!(v1, v2);
    assert!(meta["lastRotateDate"].is_string());

    let out = act_json(&server, &key, "unwrap", json!({"ciphertext": ct1}))
        .await
        .expect_status(200)
        .json();
    assert_eq!(out["plaintext"], dek);
    assert_eq!(out["keyVersion"]["id"], v1);
    assert_eq!(out["rewrappedKeyVersion"]["id"], v2);
    let ct2 = out["ciphertext"].clone();
    assert!(ct2.is_string());
    let out2 = act_json(&server, &key, "unwrap", json!({"ciphertext": ct2}))
        .await
        .expect_status(200)
        .json();
    assert_eq!(out2["plaintext"], dek);
    assert_eq!(out2["keyVersion"]["id"], v2);
    assert!(out2.get("rewrappedKeyVersion").is_none());

    let rewrapped = act_json(&server, &key, "rewrap", json!({"ciphertext": ct1}))
        .await
        .expect_status(200)
        .json();
    assert_eq!(rewrapped["keyVersion"]["id"], v1);
    assert_eq!(rewrapped["rewrappedKeyVersion"]["id"], v2);
    assert!(
        rewrapped.get("plaintext").is_none(),
        "rewrap never reveals the DEK"
    );
    let out3 = act_json(
        &server,
        &key,
        "unwrap",
        json!({"ciphertext": rewrapped["ciphertext"]}),
    )
    .await
    .expect_status(200)
    .json();
    assert_eq!(out3["plaintext"], dek);
    assert_eq!(out3["keyVersion"]["id"], v2);
    let (_, _, v_new) = server.wrap_new(&key).await;
    assert_eq!(v_new, v2, "wrap uses the newest version");
}

#[tokio::test]
async fn rotate_is_limited_to_once_an_hour_for_every_body_form() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let mut versions = vec![current_version(&server, &key).await];
    for ct in content_types("rotate") {
        for body in NO_BODIES {
            act(&server, &key, "rotate", ct.as_deref(), body)
                .await
                .expect_status(204);
            let v = current_version(&server, &key).await;
            assert!(!versions.contains(&v), "rotation makes a new version");
            versions.push(v);
            let again = act(&server, &key, "rotate", ct.as_deref(), body).await;
            again.assert_error(409, "KEY_ROTATION_NOT_PERMITTED");
            server.advance(3500);
            server
                .action(&key, "rotate")
                .await
                .assert_error(409, "KEY_ROTATION_NOT_PERMITTED");
            server.advance(101);
        }
    }
    let listed = server
        .get(&format!("{}/versions", key_path(&key)))
        .send()
        .await
        .expect_status(200);
    assert_eq!(listed.json()["metadata"]["collectionTotal"], versions.len());
}

#[tokio::test]
async fn rotate_with_representation_returns_the_key() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let reply = server
        .post(&format!("{}/actions/rotate", key_path(&key)))
        .header("prefer", "return=representation")
        .send()
        .await
        .expect_status(200);
    let k = reply.resource();
    assert_eq!(id_of(&k), key);
    assert_eq!(k["keyVersion"]["id"], current_version(&server, &key).await);
    assert!(k["lastRotateDate"].is_string());
}

#[tokio::test]
async fn rotate_of_imported_keys_needs_new_material() {
    let server = TestServer::start().await;
    let imported = id_of(
        &server
            .create(json!({"name": "imp", "extractable": false, "payload": b64(&[5u8; 32])}))
            .await,
    );
    let (ct, dek, _) = server.wrap_new(&imported).await;
    for body in NO_BODIES {
        act(&server, &imported, "rotate", None, body)
            .await
            .assert_error(400, "KEY_PAYLOAD_REQ_ERR");
    }
    for payload in [b64(&[1u8; 20]), "not base64!".to_owned()] {
        let reply = act_json(&server, &imported, "rotate", json!({"payload": payload})).await;
        reply.assert_error(400, "INVALID_FIELD_ERR");
        assert_eq!(
            reply.json()["resources"][0]["reasons"][0]["target"]["name"],
            "payload"
        );
    }
    act_json(
        &server,
        &imported,
        "rotate",
        json!({"payload": b64(&[1u8; 32]), "encryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
    )
    .await
    .assert_error(400, "INVALID_FIELD_ERR"); // a secure import without encryptedNonce and iv
    act_json(
        &server,
        &imported,
        "rotate",
        json!({"payload": b64(&[9u8; 16])}),
    )
    .await
    .expect_status(204);
    let meta = server.metadata(&imported).await;
    assert_eq!(meta["algorithmBitSize"], 128);
    assert_eq!(meta["imported"], true);
    let out = act_json(&server, &imported, "unwrap", json!({"ciphertext": ct}))
        .await
        .expect_status(200)
        .json();
    assert_eq!(out["plaintext"], dek);
    assert!(out["rewrappedKeyVersion"]["id"].is_string());

    // Generated keys refuse material; standard keys cannot be rotated.
    let generated = server.root_key("gen").await;
    act_json(
        &server,
        &generated,
        "rotate",
        json!({"payload": b64(&[1u8; 32])}),
    )
    .await
    .assert_error(400, "INVALID_FIELD_ERR");
    let standard = server.standard_key("std").await;
    server
        .action(&standard, "rotate")
        .await
        .assert_error(400, "KEY_ROOT_REQ_ERR");
}

#[tokio::test]
async fn root_only_actions_refuse_standard_keys() {
    let server = TestServer::start().await;
    let standard = server.standard_key("std").await;
    for action in ["wrap", "rotate", "disable", "enable"] {
        server
            .action(&standard, action)
            .await
            .assert_error(400, "KEY_ROOT_REQ_ERR");
    }
    for action in ["unwrap", "rewrap"] {
        act_json(&server, &standard, action, json!({"ciphertext": "AAAA"}))
            .await
            .assert_error(400, "KEY_ROOT_REQ_ERR");
    }
    server.action(&standard, "sync").await.expect_status(204);
}

#[tokio::test]
async fn bodyless_state_actions_tolerate_every_content_type_and_body() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    for ct in content_types("x") {
        for body in NO_BODIES {
            let case = format!("{ct:?} {body:?}");
            act(&server, &key, "disable", ct.as_deref(), body)
                .await
                .expect_status(204);
            assert_eq!(server.state(&key).await, 2, "{case}");
            server.advance(31);
            act(&server, &key, "enable", ct.as_deref(), body)
                .await
                .expect_status(204);
            assert_eq!(server.state(&key).await, 1, "{case}");
            let sync = act(&server, &key, "sync", ct.as_deref(), body)
                .await
                .expect_status(204);
            assert!(sync.body.is_empty());
            server
                .delete(&key_path(&key))
                .send()
                .await
                .expect_status(204);
            server.advance(31);
            let mut restore = server.post(&format!("{}/restore", key_path(&key)));
            if let Some(ct) = &ct {
                restore = restore.header("content-type", ct);
            }
            let restored = restore.raw(body).send().await.expect_status(201);
            assert_eq!(restored.resource()["state"], 1, "{case}");
            server.advance(31);
        }
    }
}

#[tokio::test]
async fn sync_answers_204_for_existing_keys_only_and_tells_every_node() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    server.action(&key, "sync").await.expect_status(204);
    // A `synced` key event: every node drops what it caches under the key.
    let events = keyward_kms::KeyStore::key_events_after(&server.store, 0, 1000)
        .await
        .expect("events");
    let synced: Vec<_> = events
        .iter()
        .filter(|e| e.key.to_string() == key && e.kind == keyward_kms::KeyEventKind::Synced)
        .collect();
    assert_eq!(synced.len(), 1, "{events:?}");
    assert!(synced[0].kind.revokes());
    server
        .action(&Uuid::new_v4().to_string(), "sync")
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
}

#[tokio::test]
async fn unknown_actions_and_deletion_authorizations_without_dual_authorization() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    server
        .action(&key, "explode")
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    // No key has a dual-authorization policy: both are refused as Key Protect refuses them for
    // such a key, and nothing changes; a key that does not exist is not found first.
    for action in ["setKeyForDeletion", "unsetKeyForDeletion"] {
        server
            .action(&key, action)
            .await
            .assert_error(409, "NOT_DUAL_AUTH_ERR");
        server
            .action(&Uuid::new_v4().to_string(), action)
            .await
            .assert_error(404, "KEY_NOT_FOUND_ERR");
    }
    assert_eq!(server.state(&key).await, 1, "still active");
}

async fn legacy(
    server: &TestServer,
    key: &str,
    action: &str,
    body: Option<Value>,
) -> common::Reply {
    let call = server
        .post(&format!("{}?action={action}", key_path(key)))
        .header("content-type", "application/vnd.ibm.kms.key_action+json");
    match body {
        Some(b) => call.raw(&b.to_string()).send().await,
        None => call.send().await,
    }
}

#[tokio::test]
async fn legacy_action_form_runs_every_action() {
    let server = TestServer::start().await;
    let key = server.root_key("k").await;
    let wrapped = legacy(
        &server,
        &key,
        "wrap",
        Some(json!({"plaintext": b64(&[3u8; 32])})),
    )
    .await
    .expect_status(200)
    .json();
    let ct = wrapped["ciphertext"].clone();
    let generated = legacy(&server, &key, "wrap", None).await.expect_status(200);
    assert!(generated.json()["plaintext"].is_string());
    let out = legacy(&server, &key, "unwrap", Some(json!({"ciphertext": ct})))
        .await
        .expect_status(200)
        .json();
    assert_eq!(out["plaintext"], b64(&[3u8; 32]));
    legacy(&server, &key, "rewrap", Some(json!({"ciphertext": ct})))
        .await
        .expect_status(200);
    legacy(&server, &key, "rotate", None)
        .await
        .expect_status(204);
    legacy(&server, &key, "disable", None)
        .await
        .expect_status(204);
    legacy(&server, &key, "enable", None)
        .await
        .assert_error(409, "REQ_TOO_EARLY_ERR");
    server.advance(31);
    legacy(&server, &key, "enable", None)
        .await
        .expect_status(204);
    server
        .delete(&key_path(&key))
        .send()
        .await
        .expect_status(204);
    legacy(&server, &key, "restore", None)
        .await
        .assert_error(409, "REQ_TOO_EARLY_ERR");
    server.advance(31);
    let restored = legacy(&server, &key, "restore", None)
        .await
        .expect_status(201);
    assert_eq!(restored.json()["metadata"]["collectionType"], KEY_TYPE);
    assert_eq!(restored.resource()["state"], 1);
    legacy(&server, &key, "sync", None).await.expect_status(204);

    legacy(&server, &key, "explode", None)
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    server
        .post(&key_path(&key))
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    legacy(&server, &key, "setKeyForDeletion", None)
        .await
        .assert_error(409, "NOT_DUAL_AUTH_ERR");
    legacy(&server, &Uuid::new_v4().to_string(), "wrap", None)
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
}
