//! Health and fallbacks.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use crate::error::ApiError;
use crate::state::SharedState;

/// `GET /healthz`: 200 when the database answers.
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
