//! The state × action table of reference §3, through HTTP: for each of Active, Suspended,
//! Deactivated and Destroyed, a fresh key per action is driven into the state, the clock is moved
//! past every waiting window (30 s, 1 h, 4 h), and each action is allowed or refused exactly as
//! the table says: refused with 410 KEY_DELETED_ERR for a destroyed key, with 409 otherwise.

mod common;

use common::{PAST_WINDOWS, TestServer, key_path};
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Active,
    Suspended,
    Deactivated,
    Destroyed,
}

impl State {
    const fn code(self) -> i64 {
        match self {
            Self::Active => 1,
            Self::Suspended => 2,
            Self::Deactivated => 3,
            Self::Destroyed => 5,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Get,
    Metadata,
    Wrap,
    Unwrap,
    Rewrap,
    Rotate,
    Disable,
    Enable,
    Delete,
    Restore,
    Purge,
}

const ACTIONS: [Action; 11] = [
    Action::Get,
    Action::Metadata,
    Action::Wrap,
    Action::Unwrap,
    Action::Rewrap,
    Action::Rotate,
    Action::Disable,
    Action::Enable,
    Action::Delete,
    Action::Restore,
    Action::Purge,
];

/// The documented table: (action, [active, suspended, deactivated, destroyed]).
fn allowed(action: Action, state: State) -> bool {
    let row = match action {
        Action::Get | Action::Metadata => [true, true, true, true],
        Action::Rotate => [true, false, true, false],
        Action::Wrap => [true, false, false, false],
        Action::Unwrap | Action::Rewrap => [true, false, true, false],
        Action::Disable => [true, false, false, false],
        Action::Enable => [false, true, false, false],
        Action::Delete => [true, true, true, false],
        Action::Restore | Action::Purge => [false, false, false, true],
    };
    let column = match state {
        State::Active => 0,
        State::Suspended => 1,
        State::Deactivated => 2,
        State::Destroyed => 3,
    };
    row[column]
}

/// The success status of each action.
fn success(action: Action) -> u16 {
    match action {
        Action::Get | Action::Metadata | Action::Wrap | Action::Unwrap | Action::Rewrap => 200,
        Action::Restore => 201,
        Action::Rotate | Action::Disable | Action::Enable | Action::Delete | Action::Purge => 204,
    }
}

/// A root key driven into `state`, with a ciphertext wrapped while it was Active.
struct Subject {
    key: String,
    ciphertext: String,
}

async fn prepare(server: &TestServer, state: State) -> Subject {
    let key = match state {
        // Expires after the wrap below, before the clock is moved past the windows.
        State::Deactivated => server.expiring_root_key("deactivated", 60).await,
        _ => server.root_key(&format!("{state:?}")).await,
    };
    let (ciphertext, _, _) = server.wrap_new(&key).await;
    match state {
        State::Active | State::Deactivated => {}
        State::Suspended => {
            server.action(&key, "disable").await.expect_status(204);
        }
        State::Destroyed => {
            server
                .delete(&key_path(&key))
                .send()
                .await
                .expect_status(204);
        }
    }
    Subject { key, ciphertext }
}

async fn perform(server: &TestServer, subject: &Subject, action: Action) -> common::Reply {
    let path = key_path(&subject.key);
    let ct = json!({"ciphertext": subject.ciphertext});
    match action {
        Action::Get => server.get(&path).send().await,
        Action::Metadata => server.get(&format!("{path}/metadata")).send().await,
        Action::Wrap => server.action(&subject.key, "wrap").await,
        Action::Unwrap => {
            server
                .post(&format!("{path}/actions/unwrap"))
                .json(&ct)
                .send()
                .await
        }
        Action::Rewrap => {
            server
                .post(&format!("{path}/actions/rewrap"))
                .json(&ct)
                .send()
                .await
        }
        Action::Rotate => server.action(&subject.key, "rotate").await,
        Action::Disable => server.action(&subject.key, "disable").await,
        Action::Enable => server.action(&subject.key, "enable").await,
        Action::Delete => server.delete(&path).send().await,
        Action::Restore => server.post(&format!("{path}/restore")).send().await,
        Action::Purge => server.delete(&format!("{path}/purge")).send().await,
    }
}

async fn check_state(state: State) {
    let server = TestServer::start().await;
    let mut subjects = Vec::new();
    for _ in ACTIONS {
        subjects.push(prepare(&server, state).await);
    }
    server.advance(PAST_WINDOWS);
    let mut failures = Vec::new();
    for (action, subject) in ACTIONS.into_iter().zip(&subjects) {
        assert_eq!(
            server.state(&subject.key).await,
            state.code(),
            "{action:?}: the key is not in {state:?}"
        );
        let reply = perform(&server, subject, action).await;
        let (status, code) = if allowed(action, state) {
            (success(action), None)
        } else if state == State::Destroyed {
            (410, Some("KEY_DELETED_ERR"))
        } else {
            (409, Some("KEY_ACTION_INVALID_STATE_ERR"))
        };
        let got_code = if reply.body.is_empty() {
            String::new()
        } else {
            reply.code()
        };
        if reply.status.as_u16() != status || code.is_some_and(|c| c != got_code) {
            failures.push(format!(
                "{action:?} in {state:?}: expected {status} {code:?}, got {} {}",
                reply.status,
                reply.text()
            ));
        } else if let Some(code) = code {
            reply.assert_error(status, code);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn active_keys_allow_everything_but_enable_restore_and_purge() {
    check_state(State::Active).await;
}

#[tokio::test]
async fn suspended_keys_allow_only_get_enable_and_delete() {
    check_state(State::Suspended).await;
}

#[tokio::test]
async fn deactivated_keys_allow_get_unwrap_rewrap_rotate_and_delete() {
    check_state(State::Deactivated).await;
}

#[tokio::test]
async fn destroyed_keys_allow_only_get_restore_and_purge() {
    check_state(State::Destroyed).await;
}

#[tokio::test]
async fn refusals_leave_the_key_unchanged() {
    let server = TestServer::start().await;
    let subject = prepare(&server, State::Suspended).await;
    server.advance(PAST_WINDOWS);
    let before = server.metadata(&subject.key).await;
    for action in [
        Action::Wrap,
        Action::Unwrap,
        Action::Rewrap,
        Action::Rotate,
        Action::Disable,
        Action::Restore,
        Action::Purge,
    ] {
        perform(&server, &subject, action)
            .await
            .assert_error(409, "KEY_ACTION_INVALID_STATE_ERR");
    }
    assert_eq!(server.metadata(&subject.key).await, before);
}
