//! Refusals made by the HTTP layer itself (a method a route does not take, an undecodable path,
//! a body over the limit) come as plain text from axum; this middleware gives them the error
//! envelope of the API they were sent to.

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::kp_error_for_status;
use crate::openscale_error::OsError;

/// Wraps non-JSON error responses.
pub async fn envelope_plain_errors(req: Request, next: Next) -> Response {
    let openscale = req.uri().path().starts_with("/openscale/");
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let allow = response.headers().get(ALLOW).cloned();
    let (_, body) = response.into_parts();
    // axum's rejection texts describe the request, never its content.
    let text = to_bytes(body, 1024).await.unwrap_or_default();
    let mut what = String::from_utf8_lossy(&text).trim().to_owned();
    if what.is_empty() {
        what = status
            .canonical_reason()
            .unwrap_or("Request refused")
            .to_owned();
    }
    let mut wrapped = if openscale {
        OsError::Http(status, what).into_response()
    } else {
        kp_error_for_status(status, &what)
    };
    if let Some(allow) = allow {
        wrapped.headers_mut().insert(ALLOW, allow);
    }
    wrapped
}
