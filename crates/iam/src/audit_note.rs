//! What a request's authorization notes for its audit event: who asked, which action, on what.
//! The server runs each request inside [`noting`]; the decision (and the extractors that
//! authenticate) note into it as they run, in the request's own task. Outside [`noting`]
//! (background work, tests of the domain) noting does nothing.
//!
//! The first action noted is the request's: an operation that makes further decisions for its
//! own purposes (the configuration service using a root key) does not replace it.

use std::cell::RefCell;
use std::future::Future;

use uuid::Uuid;

use crate::action::Action;
use crate::caller::Caller;
use crate::decision::Resource;
use crate::principal::{AccountId, PrincipalKind, ServiceKind};

/// What the audited request acted on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotedTarget {
    /// The account itself (identities, policies, instances as a collection).
    Account,
    /// One identity.
    Identity {
        /// User or service id.
        kind: PrincipalKind,
        /// Its IAM id.
        iam_id: String,
    },
    /// A service instance (a KMS key ring is recorded as its instance).
    Instance {
        /// Which service.
        service: ServiceKind,
        /// Its GUID.
        id: Uuid,
    },
}

/// The note of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Note {
    /// The action the request performs, once decided.
    pub action: Option<Action>,
    /// The caller's IAM id, once authenticated.
    pub initiator: Option<String>,
    /// The account that owns the target (or the caller's, before a target is known).
    pub account: Option<AccountId>,
    /// The target, once known.
    pub target: Option<NotedTarget>,
    /// The request's correlation id, for the events of work it causes (a key used in process).
    pub correlation: Option<String>,
    /// The client's address.
    pub address: Option<String>,
    /// The key the request's path names, as the path names it (an id or an alias).
    pub key: Option<String>,
}

tokio::task_local! {
    static NOTE: RefCell<Note>;
}

/// Runs `request` with an empty note, and returns its output with what was noted.
pub async fn noting<F: Future>(request: F) -> (F::Output, Note) {
    noting_from(Note::default(), request).await
}

/// [`noting`] from a note that already says what the request's transport told (its
/// correlation id, address, the key its path names).
pub async fn noting_from<F: Future>(note: Note, request: F) -> (F::Output, Note) {
    NOTE.scope(RefCell::new(note), async {
        let out = request.await;
        let note = NOTE.with(|n| n.take());
        (out, note)
    })
    .await
}

fn with_note(f: impl FnOnce(&mut Note)) {
    let _ = NOTE.try_with(|n| f(&mut n.borrow_mut()));
}

/// What the running request has noted so far; `None` outside [`noting`].
pub fn current() -> Option<Note> {
    NOTE.try_with(|n| n.borrow().clone()).ok()
}

/// The request's caller is known.
pub fn note_caller(caller: &Caller) {
    with_note(|n| {
        if n.initiator.is_none() {
            n.initiator = Some(caller.iam_id.clone());
            n.account = Some(caller.account.clone());
        }
    });
}

/// The request logs `principal` in (an API key exchanged for a token, allowed or refused): the
/// principal is both the initiator and the target.
pub fn note_login(principal: &crate::principal::Principal) {
    with_note(|n| {
        if n.initiator.is_none() {
            n.initiator = Some(principal.iam_id.clone());
        }
    });
    note_target(
        &principal.account,
        NotedTarget::Identity {
            kind: principal.kind,
            iam_id: principal.iam_id.clone(),
        },
    );
}

/// The request's correlation id is `id`.
pub fn note_correlation(id: &str) {
    with_note(|n| n.correlation = Some(id.to_owned()));
}

/// The correlation id of the request running, if any (none in background work).
pub fn correlation() -> Option<String> {
    NOTE.try_with(|n| n.borrow().correlation.clone())
        .ok()
        .flatten()
}

/// The request acts on `target` in `account`.
pub fn note_target(account: &AccountId, target: NotedTarget) {
    with_note(|n| {
        if n.target.is_none() {
            n.account = Some(account.clone());
            n.target = Some(target);
        }
    });
}

/// The request performs `action`.
pub fn note_action(action: Action) {
    with_note(|n| {
        n.action.get_or_insert(action);
    });
}

/// A decision was made: `caller` performing `action` on `resource`.
pub fn note_decision(caller: &Caller, action: Action, resource: &Resource<'_>) {
    if NOTE.try_with(|_| ()).is_err() {
        return;
    }
    note_caller(caller);
    let target = match resource {
        Resource::Account(_) => NotedTarget::Account,
        Resource::Identity(i) => NotedTarget::Identity {
            kind: i.kind,
            iam_id: i.iam_id.clone(),
        },
        Resource::Instance(i) | Resource::KeyRing(i, _) => NotedTarget::Instance {
            service: i.service,
            id: i.id,
        },
    };
    note_target(resource.account(), target);
    note_action(action);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(id: &str) -> Caller {
        Caller {
            iam_id: id.to_owned(),
            account: "acc".parse().expect("account"),
            kind: PrincipalKind::User,
            service: None,
            acting_for: None,
        }
    }

    #[tokio::test]
    async fn the_first_decision_of_a_request_is_its_note() {
        let account: AccountId = "acc".parse().expect("account");
        let ((), note) = noting(async {
            note_decision(
                &caller("first"),
                Action::IamPoliciesList,
                &Resource::Account(&account),
            );
            note_decision(
                &caller("second"),
                Action::IamPoliciesDelete,
                &Resource::Account(&account),
            );
        })
        .await;
        assert_eq!(note.action, Some(Action::IamPoliciesList));
        assert_eq!(note.initiator.as_deref(), Some("first"));
        assert_eq!(note.target, Some(NotedTarget::Account));
    }

    #[tokio::test]
    async fn outside_a_request_nothing_is_noted_and_nothing_fails() {
        note_action(Action::IamPoliciesList);
        let ((), note) = noting(async {}).await;
        assert_eq!(note, Note::default());
    }
}
