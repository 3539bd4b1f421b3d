//! The request timeout: a request (its body included) that takes longer than the server allows
//! is answered 408, so a client cannot hold a handler open by trickling its body.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::SharedState;

/// Runs the rest of the stack within the request timeout.
pub async fn request_timeout(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}
