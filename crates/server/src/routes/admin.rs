//! `POST /admin/test-clock`: only with `serve --unsafe-test-clock`, only for administrators.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Authenticated;
use crate::body::required_json;
use crate::error::ApiError;
use crate::state::SharedState;
use crate::wire::date;

#[derive(Deserialize)]
struct Advance {
    advance_seconds: i64,
}

/// Moves the server's clock forward.
pub async fn advance_clock(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let clock = state.test_clock.as_ref().ok_or(ApiError::NotFound)?;
    state
        .iam
        .authorize(
            &caller,
            keyward_iam::Action::TestClockAdvance,
            keyward_iam::Resource::Account(&caller.account),
        )
        .await?;
    let req: Advance = required_json(&body)?;
    if !(0..=100 * 86_400).contains(&req.advance_seconds) {
        return Err(ApiError::InvalidField {
            field: "advance_seconds",
            requirement: "0 to 8640000",
        });
    }
    clock.advance(time::Duration::seconds(req.advance_seconds));
    Ok(Json(json!({ "now": date(clock_now(&state)) })))
}

fn clock_now(state: &SharedState) -> time::OffsetDateTime {
    state.kms.now()
}
