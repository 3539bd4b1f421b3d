//! The audit layer around every route: it gives the request a correlation id (the client's
//! `Correlation-Id`, or a new one) and echoes it, runs the request while its decisions note who
//! acted on what, and records an event for every request that names an action (and every
//! token request), allowed or refused, before the answer leaves. If the event cannot be written, the answer is replaced by
//! 503, unless the request changed something: its change committed with a provisional event
//! in the same transaction, which stands.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyward_iam::Action;
use keyward_iam::audit_note::{Note, noting_from};
use keyward_kms::CrnScheme;
use keyward_store::{NewAuditEvent, Provisional, with_provisional};

use super::event::{AuditEvent, new_correlation_id, target_crn};
use super::log::now_millis;
use crate::error::ApiError;
use crate::listener::ClientAddr;
use crate::state::SharedState;
use tracing::Instrument as _;

const CORRELATION_ID: &str = "correlation-id";

/// Routes outside the action table that are audited all the same, with their event's action:
/// exchanging an API key for a token is how every identity starts acting.
const UNTABLED_ROUTES: [(&str, &str); 1] = [("/identity/token", "iam-identity.apikey.login")];

/// The action of each route (`METHOD /template`); where several actions share a route, the
/// first in the table. Used when a request is refused before any decision names its action.
static ROUTE_ACTIONS: LazyLock<HashMap<&'static str, Action>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    for action in Action::ALL {
        for route in action.rule().routes {
            map.entry(*route).or_insert(*action);
        }
    }
    map
});

fn correlation_id(request: &Request) -> String {
    request
        .headers()
        .get(CORRELATION_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(new_correlation_id, str::to_owned)
}

/// The route as the action table writes it: the router's template with the parameters the table
/// spells out (an action name, a resource kind) replaced by the path's own words.
fn table_route(template: &str, path: &str) -> String {
    const KEPT: [&str; 4] = ["{id}", "{instance}", "{guid}", "{key}"];
    template
        .split('/')
        .zip(path.split('/'))
        .map(|(t, p)| {
            if t.starts_with('{') && !KEPT.contains(&t) {
                p
            } else {
                t
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The key a KMS path names (`/api/v2/keys/{id}...`), as the path names it.
fn key_in_path<'p>(template: &str, path: &'p str) -> Option<&'p str> {
    if !template.starts_with("/api/v2/keys/{id}") {
        return None;
    }
    path.split('/').nth(4)
}

/// The action of a request: the decision's, else (refused before any decision) the route's.
fn action_of(
    note: &Note,
    method: &Method,
    template: Option<&str>,
    path: &str,
) -> Option<&'static str> {
    note.action
        .or_else(|| {
            let route = format!("{method} {}", table_route(template?, path));
            ROUTE_ACTIONS.get(route.as_str()).copied()
        })
        .map(|a| a.rule().name)
        .or_else(|| {
            let template = template?;
            UNTABLED_ROUTES
                .iter()
                .find_map(|(route, action)| (*route == template).then_some(*action))
        })
}

/// The event of `action` as `note` tells it, ended with `status` at `at_millis`, and the
/// account it belongs to.
fn event_of(
    crn: &CrnScheme,
    note: &Note,
    action: &str,
    status: StatusCode,
    at_millis: i64,
) -> (Option<String>, AuditEvent) {
    let event = AuditEvent::new(
        at_millis,
        action,
        status,
        note.initiator.clone().unwrap_or_default(),
        note.address.clone().unwrap_or_default(),
        target_crn(crn, note, note.key.as_deref()),
        note.correlation.clone().unwrap_or_default(),
    );
    (note.account.as_ref().map(|a| a.as_str().to_owned()), event)
}

/// The builder of a running request's provisional event (made once per server): what its note
/// says so far, as a success whose answer is not yet known; nothing before a decision named
/// the action.
pub fn provisional(crn: CrnScheme) -> Provisional {
    Arc::new(move || {
        let note = keyward_iam::audit_note::current()?;
        let action = note.action?.rule().name;
        let at_millis = now_millis();
        let (account, event) = event_of(&crn, &note, action, StatusCode::OK, at_millis);
        Some(NewAuditEvent {
            account,
            at_millis,
            body: serde_json::to_string(&event.provisional()).ok()?,
        })
    })
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub async fn audit(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let correlation = correlation_id(&request);
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let start = Note {
        correlation: Some(correlation.clone()),
        address: request
            .extensions()
            .get::<ClientAddr>()
            .map(|a| a.0.ip().to_string()),
        key: template
            .as_deref()
            .and_then(|t| key_in_path(t, &path))
            .map(str::to_owned),
        ..Note::default()
    };
    // Every log line while the request runs carries its correlation id.
    let span = tracing::info_span!(
        "request",
        correlation_id = %correlation,
        method = %method,
        route = template.as_deref().unwrap_or("unmatched"),
    );
    let ((mut response, note), settled) = with_provisional(
        Arc::clone(&state.provisional),
        noting_from(start, next.run(request)),
    )
    .instrument(span.clone())
    .await;

    if let Some(action) = action_of(&note, &method, template.as_deref(), &path) {
        let at_millis = now_millis();
        let (account, event) = event_of(&state.crn, &note, action, response.status(), at_millis);
        let changed = !settled.is_empty();
        if !state
            .audit
            .record_settling(account, at_millis, &event, settled)
            .await
        {
            if changed {
                // The change committed with its provisional event, which the chain will take
                // in; answering 503 would invite a retry of a change already made.
                tracing::error!(
                    action,
                    "audit: a change's final event could not be written; its provisional event stands"
                );
            } else {
                response = ApiError::AuditUnavailable.into_response();
            }
        }
    }
    if let Ok(value) = HeaderValue::from_str(&correlation) {
        response.headers_mut().insert(CORRELATION_ID, value);
    }
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "answered"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_routes_are_named_as_the_action_table_names_them() {
        assert_eq!(
            table_route(
                "/api/v2/keys/{id}/actions/{action}",
                "/api/v2/keys/k1/actions/unwrap"
            ),
            "/api/v2/keys/{id}/actions/unwrap"
        );
        assert_eq!(
            table_route(
                "/openscale/{instance}/v2/{kind}/{id}",
                "/openscale/i/v2/data_marts/d"
            ),
            "/openscale/{instance}/v2/data_marts/{id}"
        );
        assert!(ROUTE_ACTIONS.contains_key("POST /api/v2/keys/{id}/actions/unwrap"));
        assert_eq!(
            key_in_path(
                "/api/v2/keys/{id}/actions/{action}",
                "/api/v2/keys/k1/actions/wrap"
            ),
            Some("k1")
        );
    }
}
