//! Authorization over HTTP: every endpoint × every Key Protect role (Reader, ReaderPlus, Writer,
//! Manager, KeyPurge) is allowed or refused with 403 as the role table says, and refusals change
//! nothing.

mod common;

use common::{PAST_WINDOWS, TestServer, key_collection, key_path};
use keyward_iam::Role;
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Create,
    GetRoot,
    GetStandard,
    Metadata,
    Versions,
    Wrap,
    Unwrap,
    Rewrap,
    Rotate,
    Disable,
    Enable,
    Delete,
    Restore,
    Purge,
    AddAlias,
    RemoveAlias,
    Move,
    Sync,
    ListRings,
    CreateRing,
    DeleteRing,
}

const OPS: [Op; 21] = [
    Op::Create,
    Op::GetRoot,
    Op::GetStandard,
    Op::Metadata,
    Op::Versions,
    Op::Wrap,
    Op::Unwrap,
    Op::Rewrap,
    Op::Rotate,
    Op::Disable,
    Op::Enable,
    Op::Delete,
    Op::Restore,
    Op::Purge,
    Op::AddAlias,
    Op::RemoveAlias,
    Op::Move,
    Op::Sync,
    Op::ListRings,
    Op::CreateRing,
    Op::DeleteRing,
];

const ROLES: [Role; 5] = [
    Role::Reader,
    Role::ReaderPlus,
    Role::Writer,
    Role::Manager,
    Role::KeyPurge,
];

/// Key Protect's role table, as the server implements it.
fn permitted(role: Role, op: Op) -> bool {
    use Role::*;
    let roles: &[Role] = match op {
        Op::GetRoot
        | Op::Metadata
        | Op::Versions
        | Op::Wrap
        | Op::Unwrap
        | Op::Rewrap
        | Op::Sync
        | Op::ListRings => &[Reader, ReaderPlus, Writer, Manager],
        Op::GetStandard => &[ReaderPlus, Writer, Manager],
        Op::Create | Op::Rotate | Op::AddAlias | Op::RemoveAlias | Op::Move => &[Writer, Manager],
        Op::Disable | Op::Enable | Op::Delete | Op::Restore | Op::CreateRing | Op::DeleteRing => {
            &[Manager]
        }
        Op::Purge => &[KeyPurge],
    };
    roles.contains(&role)
}

fn success(op: Op) -> u16 {
    match op {
        Op::Create | Op::Restore | Op::AddAlias | Op::CreateRing => 201,
        Op::Rotate
        | Op::Disable
        | Op::Enable
        | Op::Delete
        | Op::Purge
        | Op::RemoveAlias
        | Op::Sync
        | Op::DeleteRing => 204,
        _ => 200,
    }
}

/// Keys and rings prepared by the admin for one role, one per operation that changes state.
struct Fixture {
    tag: String,
    root: String,
    ciphertext: String,
    standard: String,
    rotate: String,
    disable: String,
    enable: String,
    delete: String,
    restore: String,
    purge: String,
    alias: String,
    move_key: String,
}

async fn fixture(server: &TestServer, role: Role) -> Fixture {
    let tag = role.as_str().to_lowercase();
    let root = server.root_key("root").await;
    let (ciphertext, _, _) = server.wrap_new(&root).await;
    let f = Fixture {
        standard: server.standard_key("std").await,
        rotate: server.root_key("rotate").await,
        disable: server.root_key("disable").await,
        enable: server.root_key("enable").await,
        delete: server.root_key("delete").await,
        restore: server.root_key("restore").await,
        purge: server.root_key("purge").await,
        alias: server.root_key("alias").await,
        move_key: server.root_key("move").await,
        tag,
        root,
        ciphertext,
    };
    server.action(&f.enable, "disable").await.expect_status(204);
    for key in [&f.restore, &f.purge] {
        server
            .delete(&key_path(key))
            .send()
            .await
            .expect_status(204);
    }
    server
        .post(&format!("{}/aliases/rm-{}", key_path(&f.alias), f.tag))
        .send()
        .await
        .expect_status(201);
    for ring in [format!("to-{}", f.tag), format!("del-{}", f.tag)] {
        server
            .post(&format!("/api/v2/key_rings/{ring}"))
            .send()
            .await
            .expect_status(201);
    }
    f
}

/// The key an operation acts on, if any.
fn target(f: &Fixture, op: Op) -> Option<&str> {
    Some(match op {
        Op::GetRoot | Op::Metadata | Op::Versions | Op::Wrap | Op::Unwrap | Op::Rewrap => &f.root,
        Op::Sync => &f.root,
        Op::GetStandard => &f.standard,
        Op::Rotate => &f.rotate,
        Op::Disable => &f.disable,
        Op::Enable => &f.enable,
        Op::Delete => &f.delete,
        Op::Restore => &f.restore,
        Op::Purge => &f.purge,
        Op::AddAlias | Op::RemoveAlias => &f.alias,
        Op::Move => &f.move_key,
        Op::Create | Op::ListRings | Op::CreateRing | Op::DeleteRing => return None,
    })
}

async fn perform(server: &TestServer, token: &str, f: &Fixture, op: Op) -> common::Reply {
    let key = target(f, op).unwrap_or_default();
    let k = key_path(key);
    let ct = json!({"ciphertext": f.ciphertext});
    let call = match op {
        Op::Create => server
            .post("/api/v2/keys")
            .json(&key_collection(json!({"name": "by-role"}))),
        Op::GetRoot | Op::GetStandard => server.get(&k),
        Op::Metadata => server.get(&format!("{k}/metadata")),
        Op::Versions => server.get(&format!("{k}/versions")),
        Op::Wrap => server.post(&format!("{k}/actions/wrap")),
        Op::Unwrap => server.post(&format!("{k}/actions/unwrap")).json(&ct),
        Op::Rewrap => server.post(&format!("{k}/actions/rewrap")).json(&ct),
        Op::Rotate => server.post(&format!("{k}/actions/rotate")),
        Op::Disable => server.post(&format!("{k}/actions/disable")),
        Op::Enable => server.post(&format!("{k}/actions/enable")),
        Op::Sync => server.post(&format!("{k}/actions/sync")),
        Op::Delete => server.delete(&k),
        Op::Restore => server.post(&format!("{k}/restore")),
        Op::Purge => server.delete(&format!("{k}/purge")),
        Op::AddAlias => server.post(&format!("{k}/aliases/add-{}", f.tag)),
        Op::RemoveAlias => server.delete(&format!("{k}/aliases/rm-{}", f.tag)),
        Op::Move => server
            .patch(&k)
            .json(&json!({"keyRingID": format!("to-{}", f.tag)})),
        Op::ListRings => server.get("/api/v2/key_rings"),
        Op::CreateRing => server.post(&format!("/api/v2/key_rings/new-{}", f.tag)),
        Op::DeleteRing => server.delete(&format!("/api/v2/key_rings/del-{}", f.tag)),
    };
    call.token(token).send().await
}

#[tokio::test]
async fn every_endpoint_follows_the_role_table() {
    let server = TestServer::start().await;
    let mut cases = Vec::new();
    for role in ROLES {
        // Policies exist before the user's first call (decisions are cached for 2 s).
        let user = server.user(&[role], None).await;
        cases.push((role, user, fixture(&server, role).await));
    }
    server.advance(PAST_WINDOWS);
    let mut failures = Vec::new();
    for (role, user, f) in &cases {
        for op in OPS {
            let before = match target(f, op) {
                Some(key) => Some(server.metadata(key).await),
                None => None,
            };
            let reply = perform(&server, &user.token, f, op).await;
            if permitted(*role, op) {
                if reply.status.as_u16() != success(op) {
                    failures.push(format!(
                        "{role} {op:?}: expected {}, got {} {}",
                        success(op),
                        reply.status,
                        reply.text()
                    ));
                } else if op == Op::GetStandard {
                    assert!(reply.resource()["payload"].is_string(), "{role}: payload");
                }
            } else if reply.status.as_u16() != 403 || reply.code() != "FORBIDDEN_ERR" {
                failures.push(format!(
                    "{role} {op:?}: expected 403, got {} {}",
                    reply.status,
                    reply.text()
                ));
            } else {
                reply.assert_error(403, "FORBIDDEN_ERR");
                if let (Some(key), Some(before)) = (target(f, op), before) {
                    assert_eq!(
                        server.metadata(key).await,
                        before,
                        "{role} {op:?}: a refused call changed the key"
                    );
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn reader_sees_standard_key_metadata_but_not_its_payload() {
    let server = TestServer::start().await;
    let reader = server.user(&[Role::Reader], None).await;
    let plus = server.user(&[Role::ReaderPlus], None).await;
    let key = server.standard_key("std").await;
    let path = key_path(&key);
    server
        .get(&path)
        .token(&reader.token)
        .send()
        .await
        .assert_error(403, "FORBIDDEN_ERR");
    let meta = server
        .get(&format!("{path}/metadata"))
        .token(&reader.token)
        .send()
        .await
        .expect_status(200)
        .resource();
    assert!(meta.get("payload").is_none());
    let got = server
        .get(&path)
        .token(&plus.token)
        .send()
        .await
        .expect_status(200)
        .resource();
    assert!(got["payload"].is_string());
}

#[tokio::test]
async fn key_purge_alone_purges_but_cannot_read_or_delete() {
    let server = TestServer::start().await;
    let purger = server.user(&[Role::KeyPurge], None).await;
    let key = server.root_key("k").await;
    let path = key_path(&key);
    for reply in [
        server.get(&path).token(&purger.token).send().await,
        server
            .get(&format!("{path}/metadata"))
            .token(&purger.token)
            .send()
            .await,
        server
            .get(&format!("{path}/versions"))
            .token(&purger.token)
            .send()
            .await,
        server.delete(&path).token(&purger.token).send().await,
        server
            .post(&format!("{path}/actions/wrap"))
            .token(&purger.token)
            .send()
            .await,
    ] {
        reply.assert_error(403, "FORBIDDEN_ERR");
    }
    server.delete(&path).send().await.expect_status(204);
    server
        .delete(&format!("{path}/purge"))
        .token(&purger.token)
        .send()
        .await
        .assert_error(409, "REQ_TOO_EARLY_ERR");
    server.advance(4 * 3600 + 1);
    server
        .delete(&format!("{path}/purge"))
        .token(&purger.token)
        .send()
        .await
        .expect_status(204);
    server
        .get(&path)
        .send()
        .await
        .assert_error(404, "KEY_NOT_FOUND_ERR");
}
