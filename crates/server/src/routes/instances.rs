//! Provisioning: `/v2/resource_instances`, in the shape of IBM's Resource Controller.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_iam::{Instance, ServiceKind};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Authenticated;
use crate::body::required_json;
use crate::error::ApiError;
use crate::iam_admin::Admin;
use crate::openapi;
use crate::state::SharedState;
use crate::wire::date;

#[derive(Deserialize)]
struct CreateInstance {
    name: String,
    service: String,
}

/// The wire form of an instance.
pub fn instance_json(state: &SharedState, i: &Instance) -> Value {
    json!({
        "guid": i.id.to_string(),
        "id": instance_crn(state, i),
        "crn": instance_crn(state, i),
        "name": i.name,
        "service": i.service.as_str(),
        "account_id": i.account.as_str(),
        "state": "active",
        "created_at": date(i.created_at),
    })
}

/// `crn:v1:<cname>:<ctype>:<service>:<region>:a/<account>:<guid>::`.
pub fn instance_crn(state: &SharedState, i: &Instance) -> String {
    let c = &state.crn;
    format!(
        "crn:v1:{}:{}:{}:{}:a/{}:{}::",
        c.cname,
        c.ctype,
        i.service.as_str(),
        c.region,
        i.account.as_str(),
        i.id
    )
}

fn admin<'a>(state: &'a SharedState, caller: &'a keyward_iam::Caller) -> Admin<'a> {
    Admin {
        store: &state.store,
        authorizer: state.iam.authorizer(),
        caller,
    }
}

/// `POST /v2/resource_instances`.
#[utoipa::path(
    post,
    path = "/v2/resource_instances",
    operation_id = "instances_create",
    request_body = openapi::NewResourceInstance,
    responses(
        (status = 201, description = "The instance", body = openapi::ResourceInstance),
    ),
)]
pub async fn create(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateInstance = required_json(&body)?;
    let service = match ServiceKind::parse(&req.service) {
        Some(s @ (ServiceKind::Kms | ServiceKind::ConfigSvc)) => s,
        _ => {
            return Err(ApiError::InvalidField {
                field: "service",
                requirement: "kms or configsvc",
            });
        }
    };
    let instance = admin(&state, &caller)
        .create_instance(service, &req.name)
        .await?;
    Ok((StatusCode::CREATED, Json(instance_json(&state, &instance))).into_response())
}

/// `GET /v2/resource_instances`.
#[utoipa::path(
    get,
    path = "/v2/resource_instances",
    operation_id = "instances_list",
    responses(
        (status = 200, description = "The account's instances", body = openapi::ResourceInstanceList),
    ),
)]
pub async fn list(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let all = admin(&state, &caller).list_instances().await?;
    let resources: Vec<Value> = all.iter().map(|i| instance_json(&state, i)).collect();
    Ok(Json(
        json!({ "rows_count": resources.len(), "resources": resources }),
    ))
}

/// `GET /v2/resource_instances/{guid}`.
#[utoipa::path(
    get,
    path = "/v2/resource_instances/{guid}",
    operation_id = "instances_get",
    params(
        ("guid" = String, Path, description = "The instance's id"),
    ),
    responses(
        (status = 200, description = "The instance", body = openapi::ResourceInstance),
    ),
)]
pub async fn get(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    Path(guid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let i = admin(&state, &caller).instance(&guid).await?;
    Ok(Json(instance_json(&state, &i)))
}

/// `DELETE /v2/resource_instances/{guid}`.
#[utoipa::path(
    delete,
    path = "/v2/resource_instances/{guid}",
    operation_id = "instances_delete",
    params(
        ("guid" = String, Path, description = "The instance's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
    ),
)]
pub async fn delete(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    Path(guid): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &caller).delete_instance(&guid).await?;
    Ok(StatusCode::NO_CONTENT)
}
