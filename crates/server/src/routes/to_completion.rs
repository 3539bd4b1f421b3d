//! Every request runs to completion once started, even when its client goes away: the router
//! runs it in a task of its own, so a dropped connection (or a server shutdown's cut-off)
//! drops only the wait for the answer, never a database transaction halfway through its round
//! trips, nor a change whose audit event is not yet written.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The middleware (`axum::middleware::from_fn`), outermost.
pub async fn run_to_completion(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(e) => ApiError::Internal(format!("the request's task failed: {e}")).into_response(),
    }
}
