//! The account-administration API: users, service ids, API keys and policies. Each operation
//! is decided by IAM's one decision (see `docs/authorization.md`).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_api::iam::{
    ApiKeyList, CreateApiKey, CreateIdentity, CreatedApiKey, PolicyBody, PolicyList,
};
use keyward_iam::PrincipalKind;

use crate::auth::Authenticated;
use crate::body::required_json;
use crate::error::ApiError;
use crate::iam_admin::{Admin, api_key_info, identity, policy_body};
use crate::openapi;
use crate::state::SharedState;
use keyward_api::iam as iam_wire;

fn admin<'a>(state: &'a SharedState, caller: &'a keyward_iam::Caller) -> Admin<'a> {
    Admin {
        store: &state.store,
        authorizer: state.iam.authorizer(),
        caller,
    }
}

async fn create(
    state: SharedState,
    Authenticated(caller): Authenticated,
    body: Bytes,
    kind: PrincipalKind,
) -> Result<Response, ApiError> {
    let req: CreateIdentity = required_json(&body)?;
    let p = admin(&state, &caller)
        .create_identity(kind, &req.name)
        .await?;
    Ok((StatusCode::CREATED, Json(identity(&p))).into_response())
}

async fn list(
    state: SharedState,
    Authenticated(caller): Authenticated,
    kind: PrincipalKind,
) -> Result<Response, ApiError> {
    let all = admin(&state, &caller).list_identities(kind).await?;
    let items: Vec<_> = all.iter().map(identity).collect();
    Ok(Json(serde_json::json!({ "items": items })).into_response())
}

async fn delete(
    state: SharedState,
    Authenticated(caller): Authenticated,
    iam_id: &str,
    kind: PrincipalKind,
) -> Result<StatusCode, ApiError> {
    admin(&state, &caller).delete_identity(kind, iam_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/users`.
#[utoipa::path(
    post,
    path = "/v1/users",
    operation_id = "iam_create_user",
    request_body = iam_wire::CreateIdentity,
    responses(
        (status = 201, description = "The user", body = iam_wire::Identity),
    ),
)]
pub async fn create_user(
    State(s): State<SharedState>,
    caller: Authenticated,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(s, caller, body, PrincipalKind::User).await
}

/// `GET /v1/users`.
#[utoipa::path(
    get,
    path = "/v1/users",
    operation_id = "iam_list_users",
    responses(
        (status = 200, description = "The account's users", body = openapi::IdentityList),
    ),
)]
pub async fn list_users(
    State(s): State<SharedState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    list(s, caller, PrincipalKind::User).await
}

/// `DELETE /v1/users/{id}`: the user, its API keys and its policies.
#[utoipa::path(
    delete,
    path = "/v1/users/{id}",
    operation_id = "iam_delete_user",
    params(
        ("id" = String, Path, description = "The user's id"),
    ),
    responses(
        (status = 204, description = "Deleted, with its API keys and policies"),
    ),
)]
pub async fn delete_user(
    State(s): State<SharedState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete(s, caller, &id, PrincipalKind::User).await
}

/// `POST /v1/serviceids`.
#[utoipa::path(
    post,
    path = "/v1/serviceids",
    operation_id = "iam_create_service_id",
    request_body = iam_wire::CreateIdentity,
    responses(
        (status = 201, description = "The service id", body = iam_wire::Identity),
    ),
)]
pub async fn create_service_id(
    State(s): State<SharedState>,
    caller: Authenticated,
    body: Bytes,
) -> Result<Response, ApiError> {
    create(s, caller, body, PrincipalKind::ServiceId).await
}

/// `GET /v1/serviceids` (never the service ids Keyward itself runs under).
#[utoipa::path(
    get,
    path = "/v1/serviceids",
    operation_id = "iam_list_service_ids",
    responses(
        (status = 200, description = "The account's service ids", body = openapi::IdentityList),
    ),
)]
pub async fn list_service_ids(
    State(s): State<SharedState>,
    caller: Authenticated,
) -> Result<Response, ApiError> {
    list(s, caller, PrincipalKind::ServiceId).await
}

/// `DELETE /v1/serviceids/{id}`: the service id, its API keys and its policies.
#[utoipa::path(
    delete,
    path = "/v1/serviceids/{id}",
    operation_id = "iam_delete_service_id",
    params(
        ("id" = String, Path, description = "The service id"),
    ),
    responses(
        (status = 204, description = "Deleted, with its API keys and policies"),
    ),
)]
pub async fn delete_service_id(
    State(s): State<SharedState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete(s, caller, &id, PrincipalKind::ServiceId).await
}

/// `POST /v1/apikeys`: the key is in the response once and never again. Without `iam_id`, a
/// key for the caller.
#[utoipa::path(
    post,
    path = "/v1/apikeys",
    operation_id = "iam_create_apikey",
    request_body = iam_wire::CreateApiKey,
    responses(
        (status = 201, description = "The API key; its secret is shown this once", body = iam_wire::CreatedApiKey),
    ),
)]
pub async fn create_apikey(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateApiKey = required_json(&body)?;
    let (record, secret) = admin(&state, &caller)
        .create_api_key(req.iam_id.as_deref(), &req.name)
        .await?;
    let created = CreatedApiKey {
        id: record.id.to_string(),
        name: record.name,
        iam_id: record.iam_id,
        apikey: secret.expose_secret().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `GET /v1/apikeys[?iam_id=]`: the keys of `iam_id` (the caller's without it), never the keys
/// themselves.
#[utoipa::path(
    get,
    path = "/v1/apikeys",
    operation_id = "iam_list_apikeys",
    params(
        ("iam_id" = Option<String>, Query, description = "Only this identity's keys"),
    ),
    responses(
        (status = 200, description = "API keys, without secrets", body = iam_wire::ApiKeyList),
    ),
)]
pub async fn list_apikeys(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = admin(&state, &caller)
        .list_api_keys(q.get("iam_id").map(String::as_str))
        .await?;
    Ok(Json(ApiKeyList {
        apikeys: keys
            .iter()
            .map(|k| api_key_info(k, &caller.account))
            .collect(),
    }))
}

/// `GET /v1/apikeys/{id}`.
#[utoipa::path(
    get,
    path = "/v1/apikeys/{id}",
    operation_id = "iam_get_apikey",
    params(
        ("id" = String, Path, description = "The API key's id"),
    ),
    responses(
        (status = 200, description = "The API key, without its secret", body = iam_wire::ApiKeyInfo),
    ),
)]
pub async fn get_apikey(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = admin(&state, &caller).api_key(&id).await?;
    Ok(Json(api_key_info(&key, &caller.account)).into_response())
}

/// `DELETE /v1/apikeys/{id}`: the key gets no more tokens, and its tokens are refused on every
/// node within the IAM cache age (2 s).
#[utoipa::path(
    delete,
    path = "/v1/apikeys/{id}",
    operation_id = "iam_delete_apikey",
    params(
        ("id" = String, Path, description = "The API key's id"),
    ),
    responses(
        (status = 204, description = "Deleted; its tokens stop working"),
    ),
)]
pub async fn delete_apikey(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &caller).delete_api_key(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/apikeys/{id}/lock`.
#[utoipa::path(
    post,
    path = "/v1/apikeys/{id}/lock",
    operation_id = "iam_lock_apikey",
    params(
        ("id" = String, Path, description = "The API key's id"),
    ),
    responses(
        (status = 200, description = "Locked: it cannot be deleted", body = iam_wire::ApiKeyInfo),
    ),
)]
pub async fn lock_apikey(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = admin(&state, &caller).set_api_key_locked(&id, true).await?;
    Ok(Json(api_key_info(&key, &caller.account)).into_response())
}

/// `POST /v1/apikeys/{id}/unlock`.
#[utoipa::path(
    post,
    path = "/v1/apikeys/{id}/unlock",
    operation_id = "iam_unlock_apikey",
    params(
        ("id" = String, Path, description = "The API key's id"),
    ),
    responses(
        (status = 200, description = "Unlocked", body = iam_wire::ApiKeyInfo),
    ),
)]
pub async fn unlock_apikey(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = admin(&state, &caller)
        .set_api_key_locked(&id, false)
        .await?;
    Ok(Json(api_key_info(&key, &caller.account)).into_response())
}

/// `POST /v1/policies`.
#[utoipa::path(
    post,
    path = "/v1/policies",
    operation_id = "iam_create_policy",
    request_body = iam_wire::PolicyBody,
    responses(
        (status = 201, description = "The access policy", body = iam_wire::PolicyBody),
    ),
)]
pub async fn create_policy(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: PolicyBody = required_json(&body)?;
    let policy = admin(&state, &caller).create_policy(&req).await?;
    Ok((StatusCode::CREATED, Json(policy_body(&policy))).into_response())
}

/// `GET /v1/policies`.
#[utoipa::path(
    get,
    path = "/v1/policies",
    operation_id = "iam_list_policies",
    responses(
        (status = 200, description = "The account's access policies", body = iam_wire::PolicyList),
    ),
)]
pub async fn list_policies(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<PolicyList>, ApiError> {
    let policies = admin(&state, &caller).list_policies().await?;
    Ok(Json(PolicyList {
        policies: policies.iter().map(policy_body).collect(),
    }))
}

/// `DELETE /v1/policies/{id}`.
#[utoipa::path(
    delete,
    path = "/v1/policies/{id}",
    operation_id = "iam_delete_policy",
    params(
        ("id" = String, Path, description = "The policy's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
    ),
)]
pub async fn delete_policy(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &caller).delete_policy(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
