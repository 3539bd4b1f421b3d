//! `POST /identity/token`: IBM IAM's API-key grant.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use keyward_api::iam::{IamErrorBody, TokenForm, TokenResponse};

use crate::iam_service::TokenRefusal;
use crate::listener::ClientAddr;
use crate::state::SharedState;
use keyward_api::iam as iam_wire;

const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";

fn iam_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(IamErrorBody {
            error_code: code.into(),
            error_message: message.into(),
        }),
    )
        .into_response()
}

/// Exchanges an API key for a bearer token (rate-limited per client address).
#[utoipa::path(
    post,
    path = "/identity/token",
    operation_id = "identity_token",
    request_body(content = iam_wire::TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A bearer token", body = iam_wire::TokenResponse),
    ),
)]
pub async fn token(
    State(state): State<SharedState>,
    client: Option<Extension<ClientAddr>>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let address = client.map_or_else(|| "local".to_owned(), |Extension(c)| c.0.ip().to_string());
    if let Err(wait) = state.token_limiter.check(&address) {
        let mut response = iam_error(
            StatusCode::TOO_MANY_REQUESTS,
            "BXNIM0429E",
            "Too many token requests from this address: retry after the time in Retry-After",
        );
        crate::error::with_retry_after(&mut response, wait);
        return response;
    }
    let Ok(Form(form)) = form else {
        return iam_error(
            StatusCode::BAD_REQUEST,
            "BXNIM0109E",
            "Property missing or empty: grant_type",
        );
    };
    if form.grant_type.as_deref() != Some(APIKEY_GRANT) {
        return iam_error(
            StatusCode::BAD_REQUEST,
            "BXNIM0109E",
            "Unsupported grant_type: only the apikey grant is supported",
        );
    }
    let Some(apikey) = form.apikey.filter(|k| !k.is_empty()) else {
        return iam_error(
            StatusCode::BAD_REQUEST,
            "BXNIM0109E",
            "Property missing or empty: apikey",
        );
    };
    match state
        .iam
        .issue_token(apikey, form.source_instance.as_deref())
        .await
    {
        Ok(token) => Json::<TokenResponse>(token).into_response(),
        Err(TokenRefusal::UnknownKey) => iam_error(
            StatusCode::BAD_REQUEST,
            "BXNIM0415E",
            "Provided API key could not be found",
        ),
        Err(TokenRefusal::LockedKey) => iam_error(
            StatusCode::BAD_REQUEST,
            "BXNIM0418E",
            "The API key is locked: it gets no token until it is unlocked",
        ),
        Err(TokenRefusal::BadSource) => iam_error(
            StatusCode::BAD_REQUEST,
            "BXNIM0109E",
            "source_instance is only for Keyward's own services, naming an instance of that service",
        ),
        Err(TokenRefusal::Failed(e)) => e.into_response(),
    }
}
