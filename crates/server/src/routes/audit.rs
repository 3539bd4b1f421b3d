//! `GET /api/v2/audit/events`: an account administrator reads its own account's audit events,
//! oldest first, in pages (`start`: the number of the last event already read; `limit`: 1 to
//! 1000, default 100). Each event comes with its number and chain hash.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::{AuditEvent, hex};
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::openapi;
use crate::state::SharedState;

/// Paging.
#[derive(Deserialize)]
pub struct Page {
    start: Option<String>,
    limit: Option<String>,
}

fn number<T: std::str::FromStr>(
    value: Option<&str>,
    field: &'static str,
    requirement: &'static str,
    ok: impl Fn(&T) -> bool,
) -> Result<Option<T>, ApiError> {
    value
        .map(|v| {
            v.parse::<T>()
                .ok()
                .filter(|n| ok(n))
                .ok_or(ApiError::InvalidField { field, requirement })
        })
        .transpose()
}

/// Lists the caller's account's events.
#[utoipa::path(
    get,
    path = "/api/v2/audit/events",
    operation_id = "audit_list",
    params(
        openapi::AuditPaging,
    ),
    responses(
        (status = 200, description = "The account's audit events, oldest first", body = openapi::AuditPage),
    ),
)]
pub async fn list(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    state
        .iam
        .authorize(
            &caller,
            keyward_iam::Action::AuditEventsList,
            keyward_iam::Resource::Account(&caller.account),
        )
        .await?;
    let start = number::<i64>(
        page.start.as_deref(),
        "start",
        "an event number, 0 or more",
        |n| *n >= 0,
    )?
    .unwrap_or(0);
    let limit = number::<u32>(page.limit.as_deref(), "limit", "1 to 1000", |n| {
        (1..=1000).contains(n)
    })?
    .unwrap_or(100);
    let rows = state
        .store
        .audit_events(Some(caller.account.as_str()), start, limit)
        .await?;
    let mut resources = Vec::with_capacity(rows.len());
    for row in &rows {
        let event: AuditEvent = serde_json::from_str(&row.body)
            .map_err(|e| ApiError::Internal(format!("audit event {}: {e}", row.seq)))?;
        resources.push(json!({ "seq": row.seq, "hash": hex(&row.hash), "event": event }));
    }
    Ok(Json(json!({
        "metadata": {
            "collectionType": "application/vnd.keyward.audit-event+json",
            "collectionTotal": resources.len(),
            "next": rows.last().map_or(start, |r| r.seq),
        },
        "resources": resources,
    })))
}
