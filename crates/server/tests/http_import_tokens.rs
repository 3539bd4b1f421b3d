//! Import tokens and secure import over HTTP: the token's life (retrievals, expiry on the
//! server's clock, one import), the client's side done as a client does it, and every way a
//! secure import is refused without storing anything.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{TestServer, key_collection};
use keyward_crypto::SecretBytes;
use keyward_kms::{SecureImport, seal_for_import};
use serde_json::{Value, json};

const PATH: &str = "/api/v2/import_token";

async fn new_token(server: &TestServer, body: Value) -> Value {
    server
        .post(PATH)
        .json(&body)
        .send()
        .await
        .expect_status(200)
        .json()
}

/// Retrieves the token and seals `material` for it, as a client does.
async fn sealed(server: &TestServer, material: &[u8]) -> SecureImport {
    let token = server.get(PATH).send().await.expect_status(200).json();
    let pem = STANDARD
        .decode(token["payload"].as_str().expect("payload"))
        .expect("base64");
    let nonce = STANDARD
        .decode(token["nonce"].as_str().expect("nonce"))
        .expect("base64");
    seal_for_import(
        std::str::from_utf8(&pem).expect("PEM text"),
        &nonce,
        &SecretBytes::new(material.to_vec()),
    )
    .expect("client side")
}

fn import_body(name: &str, import: &SecureImport) -> Value {
    key_collection(json!({
        "name": name,
        "extractable": false,
        "payload": STANDARD.encode(&import.payload),
        "encryptedNonce": STANDARD.encode(&import.encrypted_nonce),
        "iv": STANDARD.encode(&import.iv),
        "encryptionAlgorithm": "RSAES_OAEP_SHA_256",
    }))
}

async fn key_count(server: &TestServer) -> u64 {
    let listed = server
        .get("/api/v2/keys?totalCount=true")
        .send()
        .await
        .json();
    listed["metadata"]["totalCount"].as_u64().expect("total")
}

#[tokio::test]
async fn a_token_is_retrieved_as_often_as_allowed_and_lives_its_lifetime() {
    let server = TestServer::start().await;
    server
        .get(PATH)
        .send()
        .await
        .assert_error(404, "IMPORT_TOKEN_NOT_FOUND_ERR");
    let expiration = server.date_window(600);
    let made = new_token(&server, json!({})).await;
    assert_eq!(made["maxAllowedRetrievals"], 1);
    assert_eq!(made["remainingRetrievals"], 1);
    expiration.assert_holds(&server, &made["expirationDate"]);
    assert!(made.get("payload").is_none() && made.get("nonce").is_none());

    let got = server.get(PATH).send().await.expect_status(200).json();
    assert_eq!(got["remainingRetrievals"], 0);
    let pem = String::from_utf8(
        STANDARD
            .decode(got["payload"].as_str().expect("payload"))
            .expect("b64"),
    )
    .expect("utf8");
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    assert_eq!(
        STANDARD
            .decode(got["nonce"].as_str().expect("nonce"))
            .expect("b64")
            .len(),
        12
    );
    server
        .get(PATH)
        .send()
        .await
        .assert_error(409, "IMPORT_TOKEN_EXPIRED_ERR");

    // A new token replaces the old; it stops serving when its lifetime has passed, not before.
    new_token(
        &server,
        json!({"expiration": 300, "maxAllowedRetrievals": 3}),
    )
    .await;
    server.advance(299);
    server.get(PATH).send().await.expect_status(200);
    server.advance(1);
    server
        .get(PATH)
        .send()
        .await
        .assert_error(409, "IMPORT_TOKEN_EXPIRED_ERR");

    for body in [
        json!({"expiration": 299}),
        json!({"expiration": 86_401}),
        json!({"maxAllowedRetrievals": 0}),
        json!({"maxAllowedRetrievals": 501}),
    ] {
        server
            .post(PATH)
            .json(&body)
            .send()
            .await
            .assert_error(400, "INVALID_FIELD_ERR");
    }
    server
        .post(PATH)
        .json(&json!({"expiration": 600, "colour": "red"}))
        .send()
        .await
        .assert_error(400, "BAD_BODY_ERR");
}

#[tokio::test]
async fn secure_import_brings_a_root_key_once_per_token() {
    let server = TestServer::start().await;
    new_token(&server, json!({"maxAllowedRetrievals": 2})).await;
    let material = keyward_crypto::random_bytes(32).expect("material");
    let import = sealed(&server, &material).await;
    let created = server
        .post("/api/v2/keys")
        .json(&import_body("secure", &import))
        .send()
        .await
        .expect_status(201)
        .resource();
    assert_eq!(created["imported"], true);
    assert_eq!(created["extractable"], false);
    let key = created["id"].as_str().expect("id").to_owned();
    let (ciphertext, dek, _) = server.wrap_new(&key).await;
    let unwrapped = server
        .post(&format!("/api/v2/keys/{key}/actions/unwrap"))
        .json(&json!({"ciphertext": ciphertext}))
        .send()
        .await
        .expect_status(200)
        .json();
    assert_eq!(unwrapped["plaintext"], json!(dek));
    // The token is spent: the same body again finds none.
    server
        .post("/api/v2/keys")
        .json(&import_body("again", &import))
        .send()
        .await
        .assert_error(404, "IMPORT_TOKEN_NOT_FOUND_ERR");

    // Rotation of the imported key with new material through a new token.
    new_token(&server, json!({})).await;
    let next = sealed(
        &server,
        &keyward_crypto::random_bytes(16).expect("material"),
    )
    .await;
    let before = server.metadata(&key).await["keyVersion"]["id"].clone();
    server
        .post(&format!("/api/v2/keys/{key}/actions/rotate"))
        .json(&json!({
            "payload": STANDARD.encode(&next.payload),
            "encryptedNonce": STANDARD.encode(&next.encrypted_nonce),
            "iv": STANDARD.encode(&next.iv),
            "encryptionAlgorithm": "RSAES_OAEP_SHA_256",
        }))
        .send()
        .await
        .expect_status(204);
    assert_ne!(server.metadata(&key).await["keyVersion"]["id"], before);
    // Data wrapped before the rotation still unwraps.
    server
        .post(&format!("/api/v2/keys/{key}/actions/unwrap"))
        .json(&json!({"ciphertext": ciphertext}))
        .send()
        .await
        .expect_status(200);
}

#[tokio::test]
async fn a_tampered_or_mistaken_secure_import_is_refused_and_stores_nothing() {
    let server = TestServer::start().await;
    new_token(&server, json!({"maxAllowedRetrievals": 10})).await;
    let material = keyward_crypto::random_bytes(32).expect("material");
    let good = sealed(&server, &material).await;
    let before = key_count(&server).await;

    let mut other_nonce_token = good.clone();
    // Sealed for the right key but carrying another nonce.
    let token = server.get(PATH).send().await.json();
    let pem = String::from_utf8(
        STANDARD
            .decode(token["payload"].as_str().expect("p"))
            .expect("b64"),
    )
    .expect("utf8");
    let wrong =
        seal_for_import(&pem, &[0u8; 12], &SecretBytes::new(material.clone())).expect("sealed");
    other_nonce_token.encrypted_nonce = wrong.encrypted_nonce;
    other_nonce_token.iv = wrong.iv;
    let mut flipped_iv = good.clone();
    flipped_iv.iv[0] ^= 1;
    let mut flipped_payload = good.clone();
    flipped_payload.payload[100] ^= 0x80;
    let cases = [
        (other_nonce_token, 400, "INCORRECT_NONCE_ERR"),
        (flipped_iv, 400, "INCORRECT_NONCE_IV_ERR"),
        (flipped_payload, 400, "INVALID_FIELD_ERR"),
    ];
    for (import, status, code) in cases {
        server
            .post("/api/v2/keys")
            .json(&import_body("bad", &import))
            .send()
            .await
            .assert_error(status, code);
    }
    let mut body = import_body("bad", &good);
    body["resources"][0]["encryptionAlgorithm"] = json!("RSAES_OAEP_SHA_1");
    server
        .post("/api/v2/keys")
        .json(&body)
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    let mut body = import_body("bad", &good);
    body["resources"][0]
        .as_object_mut()
        .expect("object")
        .remove("iv");
    server
        .post("/api/v2/keys")
        .json(&body)
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    let mut body = import_body("bad", &good);
    body["resources"][0]["extractable"] = json!(true);
    server
        .post("/api/v2/keys")
        .json(&body)
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    // A good import refused for another reason (a bad name, a missing ring) spends no token.
    server
        .post("/api/v2/keys")
        .json(&import_body("", &good))
        .send()
        .await
        .assert_error(400, "INVALID_FIELD_ERR");
    server
        .post("/api/v2/keys")
        .header("x-kms-key-ring", "no-such-ring")
        .json(&import_body("ringless", &good))
        .send()
        .await
        .assert_error(404, "KEY_RING_NOT_FOUND_ERR");
    assert_eq!(key_count(&server).await, before, "nothing stored");

    // The token survived the refusals: the good import still goes through.
    server
        .post("/api/v2/keys")
        .json(&import_body("good", &good))
        .send()
        .await
        .expect_status(201);

    // An expired token refuses an import made while it served.
    new_token(&server, json!({"expiration": 300})).await;
    let late = sealed(&server, &material).await;
    server.advance(300);
    server
        .post("/api/v2/keys")
        .json(&import_body("late", &late))
        .send()
        .await
        .assert_error(409, "IMPORT_TOKEN_EXPIRED_ERR");
}

#[tokio::test]
async fn an_enforced_token_refuses_plain_material_and_lets_secure_import_through() {
    let server = TestServer::start().await;
    server
        .call(axum::http::Method::PUT, "/api/v2/instance/policies")
        .json(
            &json!({"resources": [{"policy_type": "keyCreateImportAccess",
            "policy_data": {"enabled": true, "attributes": {"enforce_token": true}}}]}),
        )
        .send()
        .await
        .expect_status(204);
    let material = keyward_crypto::random_bytes(32).expect("material");
    server
        .post("/api/v2/keys")
        .json(&key_collection(
            json!({"name": "plain", "extractable": false,
            "payload": STANDARD.encode(&material)}),
        ))
        .send()
        .await
        .assert_error(409, "KEY_CREATE_IMPORT_ACCESS_ERR");
    new_token(&server, json!({})).await;
    let import = sealed(&server, &material).await;
    server
        .post("/api/v2/keys")
        .json(&import_body("secure", &import))
        .send()
        .await
        .expect_status(201);
}
