//! The account-administration API: users, service ids, API keys and policies. Every call needs a
//! role on the `iam` service of the caller's account.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_api::iam::{CreateApiKey, CreateIdentity, CreatedApiKey, PolicyBody, PolicyList};
use keyward_iam::{Claims, IamStore, PrincipalKind};
use uuid::Uuid;

use crate::auth::Caller;
use crate::body::required_json;
use crate::error::ApiError;
use crate::iam_admin::{
    admin_account, create_api_key, create_identity, identity, policy_body, policy_from_body,
};
use crate::state::SharedState;

async fn create(
    state: SharedState,
    claims: Claims,
    body: Bytes,
    kind: PrincipalKind,
) -> Result<Response, ApiError> {
    let account = admin_account(&state, &claims).await?;
    let req: CreateIdentity = required_json(&body)?;
    let p = create_identity(&state.store, &account, kind, &req.name).await?;
    Ok((StatusCode::CREATED, Json(identity(&p))).into_response())
}

async fn list(
    state: SharedState,
    claims: Claims,
    kind: PrincipalKind,
) -> Result<Response, ApiError> {
    let account = admin_account(&state, &claims).await?;
    let all = state.store.list_principals(&account).await?;
    let items: Vec<_> = all
        .iter()
        .filter(|p| p.kind == kind)
        .map(identity)
        .collect();
    Ok(Json(serde_json::json!({ "items": items })).into_response())
}

/// `POST /v1/users`.
pub async fn create_user(
    State(s): State<SharedState>,
    Caller(c): Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(s, c, body, PrincipalKind::User).await
}

/// `GET /v1/users`.
pub async fn list_users(
    State(s): State<SharedState>,
    Caller(c): Caller,
) -> Result<Response, ApiError> {
    list(s, c, PrincipalKind::User).await
}

/// `POST /v1/serviceids`.
pub async fn create_service_id(
    State(s): State<SharedState>,
    Caller(c): Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(s, c, body, PrincipalKind::ServiceId).await
}

/// `GET /v1/serviceids`.
pub async fn list_service_ids(
    State(s): State<SharedState>,
    Caller(c): Caller,
) -> Result<Response, ApiError> {
    list(s, c, PrincipalKind::ServiceId).await
}

/// `POST /v1/apikeys`: the key is in the response once and never again.
pub async fn create_apikey(
    State(state): State<SharedState>,
    Caller(claims): Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let account = admin_account(&state, &claims).await?;
    let req: CreateApiKey = required_json(&body)?;
    let (record, secret) = create_api_key(&state.store, &account, &req.iam_id, &req.name).await?;
    let created = CreatedApiKey {
        id: record.id.to_string(),
        name: record.name,
        iam_id: record.iam_id,
        apikey: secret.expose_secret().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `POST /v1/policies`.
pub async fn create_policy(
    State(state): State<SharedState>,
    Caller(claims): Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let account = admin_account(&state, &claims).await?;
    let req: PolicyBody = required_json(&body)?;
    let policy = policy_from_body(&state.store, &account, &req).await?;
    state.store.create_policy(&policy).await?;
    state.iam.forget_decisions();
    Ok((StatusCode::CREATED, Json(policy_body(&policy))).into_response())
}

/// `GET /v1/policies`.
pub async fn list_policies(
    State(state): State<SharedState>,
    Caller(claims): Caller,
) -> Result<Json<PolicyList>, ApiError> {
    let account = admin_account(&state, &claims).await?;
    let policies = state.store.list_policies(&account).await?;
    Ok(Json(PolicyList {
        policies: policies.iter().map(policy_body).collect(),
    }))
}

/// `DELETE /v1/policies/{id}`.
pub async fn delete_policy(
    State(state): State<SharedState>,
    Caller(claims): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let account = admin_account(&state, &claims).await?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    if !state.store.delete_policy(&account, id).await? {
        return Err(ApiError::NotFound);
    }
    state.iam.forget_decisions();
    Ok(StatusCode::NO_CONTENT)
}
