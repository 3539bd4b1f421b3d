//! Health and fallbacks.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use crate::error::ApiError;
use crate::openapi;
use crate::state::SharedState;

/// `GET /healthz`: 200 when the database answers.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "health_healthz",
    responses(
        (status = 200, description = "The database answers", body = openapi::Health),
        (status = 503, description = "The database does not answer", body = openapi::Health),
    ),
)]
pub async fn healthz(State(state): State<SharedState>) -> (StatusCode, Json<serde_json::Value>) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable"})),
            )
        }
    }
}

/// Unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}
