//! A change and its audit event in one transaction. The server runs each request inside
//! [`with_provisional`], giving the event the request would leave if it succeeded; the first
//! transaction of the request that changes something writes that event to `audit_pending`
//! before it commits ([`change!`], [`record_provisional!`]), so the change cannot commit without
//! it and fails if it cannot be written. Once answered, the request's final event goes into the
//! chain and its pending row is deleted, in one transaction ([`crate::AuditAppender::append`]);
//! a row whose request never got that far (the node stopped) is moved into the chain as it is
//! ([`crate::AuditAppender::adopt_pending`]). Outside a request (background work) nothing is
//! recorded here.

use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::audit_store::NewAuditEvent;

/// Builds the running request's provisional event from what it has noted so far; `None` when
/// there is nothing to record (no action decided yet). Made once per server and shared.
pub type Provisional = Arc<dyn Fn() -> Option<NewAuditEvent> + Send + Sync>;

struct RequestEvents {
    provisional: Provisional,
    /// Pending rows of this request's committed changes.
    committed: Mutex<Vec<i64>>,
}

tokio::task_local! {
    static REQUEST: RequestEvents;
}

/// Runs `request`; returns its output and the pending rows its changes committed.
pub async fn with_provisional<F: Future>(
    provisional: Provisional,
    request: F,
) -> (F::Output, Vec<i64>) {
    let events = RequestEvents {
        provisional,
        committed: Mutex::new(Vec::new()),
    };
    REQUEST
        .scope(events, async {
            let out = request.await;
            let committed = REQUEST.with(|r| std::mem::take(&mut *lock(&r.committed)));
            (out, committed)
        })
        .await
}

fn lock(m: &Mutex<Vec<i64>>) -> std::sync::MutexGuard<'_, Vec<i64>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The provisional event a change's transaction must write: the request's, unless one of its
/// changes committed one already, or none outside a request.
pub(crate) fn due() -> Option<NewAuditEvent> {
    REQUEST
        .try_with(|r| {
            if lock(&r.committed).is_empty() {
                (r.provisional)()
            } else {
                None
            }
        })
        .ok()
        .flatten()
}

/// The transaction that wrote pending row `id` committed.
pub(crate) fn committed(id: Option<i64>) {
    if let Some(id) = id {
        let _ = REQUEST.try_with(|r| lock(&r.committed).push(id));
    }
}

/// In a change's transaction `$tx`, before its commit: writes the request's provisional event
/// (see [`due`]); evaluates to the pending row's id. Pass it to [`committed`] once the commit
/// succeeded.
macro_rules! record_provisional {
    ($tx:expr) => {
        match $crate::audit_pending::due() {
            Some(event) => Some(
                sqlx::query_scalar::<_, i64>(
                    "INSERT INTO audit_pending (account_id, at, body) VALUES ($1, $2, $3) RETURNING id",
                )
                .bind(event.account)
                .bind(event.at_millis)
                .bind(event.body)
                .fetch_one(&mut *$tx)
                .await?,
            ),
            None => None,
        }
    };
}
pub(crate) use record_provisional;

/// A change in one transaction `$tx` with the request's provisional event: `$body` runs its
/// statements on `&mut *$tx` and may use `?` on `sqlx::Error`; evaluates to
/// `Result<body's value, sqlx::Error>`.
macro_rules! change {
    ($store:expr, $tx:ident => $body:expr) => {
        $crate::db::with_pool!($store, pool => async {
            let mut $tx = pool.begin().await?;
            let pending = $crate::audit_pending::record_provisional!($tx);
            let out = $body;
            $tx.commit().await?;
            $crate::audit_pending::committed(pending);
            Ok::<_, sqlx::Error>(out)
        }
        .await)
    };
}
pub(crate) use change;
