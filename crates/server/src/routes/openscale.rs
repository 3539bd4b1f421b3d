//! The configuration service's API under `/openscale/{instance}/v2/`, shaped like Watson
//! OpenScale so that its Python SDK works unmodified.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use keyward_configsvc::{ConfigResource, PatchOp, ResourceKind, State as ResourceState};
use keyward_iam::{Action, Caller, Decision, Denial, IamStore, Resource, ServiceKind};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::auth::bearer;
use crate::openapi;
use crate::openscale_error::OsError;
use crate::state::SharedState;
use crate::wire::date;

/// A caller with a valid bearer token (configuration-service error shape).
pub struct OsCaller(pub std::sync::Arc<Caller>);

impl FromRequestParts<SharedState> for OsCaller {
    type Rejection = OsError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, OsError> {
        let token = bearer(parts).ok_or(OsError::Unauthorized)?;
        state
            .iam
            .authenticate(token)
            .await
            .map(OsCaller)
            .map_err(OsError::from)
    }
}

/// What is done to a configuration resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    List,
    Read,
    Create,
    Update,
    Delete,
}

/// The action of `verb` on resources of `kind`.
pub(crate) fn resource_action(kind: ResourceKind, verb: Verb) -> Action {
    use Action::*;
    match (kind, verb) {
        (ResourceKind::DataMart, Verb::List) => ConfigsvcDataMartsList,
        (ResourceKind::DataMart, Verb::Read) => ConfigsvcDataMartsRead,
        (ResourceKind::DataMart, Verb::Create) => ConfigsvcDataMartsCreate,
        (ResourceKind::DataMart, Verb::Update) => ConfigsvcDataMartsUpdate,
        (ResourceKind::DataMart, Verb::Delete) => ConfigsvcDataMartsDelete,
        (ResourceKind::ServiceProvider, Verb::List) => ConfigsvcServiceProvidersList,
        (ResourceKind::ServiceProvider, Verb::Read) => ConfigsvcServiceProvidersRead,
        (ResourceKind::ServiceProvider, Verb::Create) => ConfigsvcServiceProvidersCreate,
        (ResourceKind::ServiceProvider, Verb::Update) => ConfigsvcServiceProvidersUpdate,
        (ResourceKind::ServiceProvider, Verb::Delete) => ConfigsvcServiceProvidersDelete,
        (ResourceKind::IntegratedSystem, Verb::List) => ConfigsvcIntegratedSystemsList,
        (ResourceKind::IntegratedSystem, Verb::Read) => ConfigsvcIntegratedSystemsRead,
        (ResourceKind::IntegratedSystem, Verb::Create) => ConfigsvcIntegratedSystemsCreate,
        (ResourceKind::IntegratedSystem, Verb::Update) => ConfigsvcIntegratedSystemsUpdate,
        (ResourceKind::IntegratedSystem, Verb::Delete) => ConfigsvcIntegratedSystemsDelete,
    }
}

/// The instance id, once IAM allows `action` on it. An unknown instance, another account's
/// and one the caller holds no role on get the same refusal.
pub(crate) async fn authorize(
    state: &SharedState,
    caller: &Caller,
    instance: &str,
    action: Action,
) -> Result<Uuid, OsError> {
    let refused = || OsError::Denied(Denial::MissingRole(action));
    let id = Uuid::parse_str(instance).map_err(|_| refused())?;
    let authorizer = state.iam.authorizer();
    let found = authorizer
        .instance(id)
        .await
        .map_err(OsError::from)?
        .filter(|i| i.service == ServiceKind::ConfigSvc)
        .ok_or_else(refused)?;
    match authorizer
        .authorize(caller, action, Resource::Instance(&found))
        .await
        .map_err(OsError::from)?
    {
        Decision::Allow(_) => Ok(id),
        Decision::Deny(denial) => Err(OsError::Denied(denial)),
    }
}

/// `GET /v2/fairness/heartbeat` (no authentication).
#[utoipa::path(
    get,
    path = "/v2/fairness/heartbeat",
    operation_id = "openscale_heartbeat",
    responses(
        (status = 200, description = "The service answers", body = openapi::Heartbeat),
    ),
)]
pub async fn heartbeat() -> Json<Value> {
    Json(json!({"is_cloud": true, "status": "ok"}))
}

/// `GET /v1/entitlements`: the configuration-service instances the caller may use.
#[utoipa::path(
    get,
    path = "/v1/entitlements",
    operation_id = "openscale_entitlements",
    responses(
        (status = 200, description = "The configuration instances the caller may use", body = openapi::Entitlements),
    ),
)]
pub async fn entitlements(
    State(state): State<SharedState>,
    OsCaller(caller): OsCaller,
) -> Result<Json<Value>, OsError> {
    let instances = state
        .store
        .list_instances(&caller.account)
        .await
        .map_err(OsError::from)?;
    let mut mine = Vec::new();
    for i in instances
        .iter()
        .filter(|i| i.service == ServiceKind::ConfigSvc)
    {
        let decision = state
            .iam
            .authorizer()
            .authorize(
                &caller,
                Action::ConfigsvcInstanceRead,
                Resource::Instance(i),
            )
            .await
            .map_err(OsError::from)?;
        if decision.is_allowed() {
            mine.push(json!({"id": i.id.to_string(), "name": i.name, "plan_name": "standard"}));
        }
    }
    Ok(Json(json!({"entitlements": {"ai_openscale": mine}})))
}

/// `GET /openscale/{instance}/v2/monitor_definitions`.
#[utoipa::path(
    get,
    path = "/openscale/{instance}/v2/monitor_definitions",
    operation_id = "openscale_monitor_definitions",
    params(
        ("instance" = String, Path, description = "The configuration instance's id"),
    ),
    responses(
        (status = 200, description = "Monitor definitions (none)", body = openapi::MonitorDefinitions),
    ),
)]
pub async fn monitor_definitions(
    State(state): State<SharedState>,
    OsCaller(caller): OsCaller,
    Path(instance): Path<String>,
) -> Result<Json<Value>, OsError> {
    authorize(
        &state,
        &caller,
        &instance,
        Action::ConfigsvcMonitorDefinitionsList,
    )
    .await?;
    Ok(Json(json!({"monitor_definitions": []})))
}

fn kind(segment: &str) -> Result<ResourceKind, OsError> {
    ResourceKind::parse(segment).ok_or(OsError::NotFound)
}

/// A resource as the SDK parses it.
pub(crate) fn resource_json(r: &ConfigResource) -> Value {
    let mut entity = r.entity.clone();
    let mut status = Map::new();
    status.insert("state".into(), Value::String(r.state.as_str().into()));
    if let Some(failure) = &r.failure {
        let (code, message) = failure_parts(failure);
        status.insert(
            "failure".into(),
            json!({"trace": r.id.simple().to_string(), "errors": [{"code": code, "message": message}]}),
        );
    }
    entity.insert("status".into(), Value::Object(status));
    json!({
        "metadata": {
            "id": r.id.to_string(),
            "url": format!("/openscale/{}/v2/{}/{}", r.instance, r.kind, r.id),
            "created_at": date(r.created_at),
            "created_by": r.created_by,
            "modified_at": date(r.updated_at),
        },
        "entity": Value::Object(entity),
    })
}

/// A stored failure `CODE: reason` as its code and message (`SETUP_FAILED` for older ones).
fn failure_parts(failure: &str) -> (&str, &str) {
    match failure.split_once(": ") {
        Some((code, message))
            if !code.is_empty() && code.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
        {
            (code, message)
        }
        _ => ("SETUP_FAILED", failure),
    }
}

fn spawn_prepare(state: &SharedState, instance: Uuid) {
    let state = Arc::clone(state);
    tokio::spawn(async move {
        if let Err(e) = state.config.prepare_data_mart(instance).await {
            tracing::warn!(%instance, error = %e, "data mart preparation failed to record its outcome");
        }
    });
}

fn body_object(body: &Bytes) -> Result<Map<String, Value>, OsError> {
    match serde_json::from_slice::<Value>(body.trim_ascii()) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(OsError::BadRequest("the body must be a JSON object")),
    }
}

/// `POST /openscale/{instance}/v2/{kind}`.
#[utoipa::path(
    post,
    path = "/openscale/{instance}/v2/{kind}",
    operation_id = "openscale_create",
    params(
        ("instance" = String, Path, description = "The configuration instance's id"),
        ("kind" = String, Path, description = "data_marts, service_providers or integrated_systems"),
        ("force" = Option<bool>, Query, description = "Replace the instance's data mart"),
    ),
    request_body(content = Object, description = "The resource's fields, as the SDK sends them"),
    responses(
        (status = 201, description = "The resource, secrets masked", body = openapi::ConfigResource),
    ),
)]
pub async fn create(
    State(state): State<SharedState>,
    OsCaller(caller): OsCaller,
    Path((instance, segment)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, OsError> {
    let kind = kind(&segment)?;
    let instance = authorize(
        &state,
        &caller,
        &instance,
        resource_action(kind, Verb::Create),
    )
    .await?;
    let force = q.get("force").is_some_and(|f| f == "true");
    let created = state
        .config
        .create(instance, kind, body_object(&body)?, &caller.iam_id, force)
        .await?;
    if kind == ResourceKind::DataMart {
        spawn_prepare(&state, instance);
    }
    Ok((StatusCode::CREATED, Json(resource_json(&created))).into_response())
}

/// `GET /openscale/{instance}/v2/{kind}`, with the SDK's simple filters.
#[utoipa::path(
    get,
    path = "/openscale/{instance}/v2/{kind}",
    operation_id = "openscale_list",
    params(
        ("instance" = String, Path, description = "The configuration instance's id"),
        ("kind" = String, Path, description = "data_marts, service_providers or integrated_systems"),
        ("service_type" = Option<String>, Query, description = "Filter"),
        ("type" = Option<String>, Query, description = "Filter"),
        ("service_provider_id" = Option<String>, Query, description = "Filter"),
    ),
    responses(
        (status = 200, description = "The resources of the kind, under its name", body = openapi::ConfigResourceList),
    ),
)]
pub async fn list(
    State(state): State<SharedState>,
    OsCaller(caller): OsCaller,
    Path((instance, segment)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, OsError> {
    let kind = kind(&segment)?;
    let instance = authorize(
        &state,
        &caller,
        &instance,
        resource_action(kind, Verb::List),
    )
    .await?;
    let all = state.config.list(instance, kind).await?;
    let filters: Vec<(&str, &String)> = ["service_type", "type", "service_provider_id"]
        .into_iter()
        .filter_map(|k| q.get(k).map(|v| (k, v)))
        .collect();
    let items: Vec<Value> = all
        .iter()
        .filter(|r| {
            filters
                .iter()
                .all(|(k, v)| r.entity.get(*k).and_then(Value::as_str) == Some(v.as_str()))
        })
        .map(resource_json)
        .collect();
    let mut out = Map::new();
    out.insert(segment, Value::Array(items));
    Ok(Json(Value::Object(out)))
}

fn resource_id(id: &str) -> Result<Uuid, OsError> {
    Uuid::parse_str(id).map_err(|_| OsError::NotFound)
}

/// `GET /openscale/{instance}/v2/{kind}/{id}`.
#[utoipa::path(
    get,
    path = "/openscale/{instance}/v2/{kind}/{id}",
    operation_id = "openscale_get",
    params(
        ("instance" = String, Path, description = "The configuration instance's id"),
        ("kind" = String, Path, description = "data_marts, service_providers or integrated_systems"),
        ("id" = String, Path, description = "The resource's id"),
    ),
    responses(
        (status = 200, description = "The resource, secrets masked", body = openapi::ConfigResource),
    ),
)]
pub async fn get(
    State(state): State<SharedState>,
    OsCaller(caller): OsCaller,
    Path((instance, segment, id)): Path<(String, String, String)>,
) -> Result<Json<Value>, OsError> {
    let kind = kind(&segment)?;
    let instance = authorize(
        &state,
        &caller,
        &instance,
        resource_action(kind, Verb::Read),
    )
    .await?;
    let r = state.config.get(instance, kind, resource_id(&id)?).await?;
    Ok(Json(resource_json(&r)))
}

/// `PATCH /openscale/{instance}/v2/{kind}/{id}` with a JSON patch.
#[utoipa::path(
    patch,
    path = "/openscale/{instance}/v2/{kind}/{id}",
    operation_id = "openscale_patch",
    params(
        ("instance" = String, Path, description = "The configuration instance's id"),
        ("kind" = String, Path, description = "data_marts, service_providers or integrated_systems"),
        ("id" = String, Path, description = "The resource's id"),
    ),
    request_body(content = Vec<Object>, description = "A JSON patch"),
    responses(
        (status = 200, description = "The resource, secrets masked", body = openapi::ConfigResource),
    ),
)]
pub async fn patch(
    State(state): State<SharedState>,
    OsCaller(caller): OsCaller,
    Path((instance, segment, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<Value>, OsError> {
    let kind = kind(&segment)?;
    let instance = authorize(
        &state,
        &caller,
        &instance,
        resource_action(kind, Verb::Update),
    )
    .await?;
    let ops = match serde_json::from_slice::<Value>(body.trim_ascii()) {
        Ok(Value::Array(ops)) => ops
            .iter()
            .map(PatchOp::from_value)
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(OsError::BadRequest(
                "the body must be a JSON patch (a list of operations)",
            ));
        }
    };
    let r = state
        .config
        .patch(instance, kind, resource_id(&id)?, &ops)
        .await?;
    if kind == ResourceKind::DataMart && r.state == ResourceState::Preparing {
        spawn_prepare(&state, instance);
    }
    Ok(Json(resource_json(&r)))
}

/// `DELETE /openscale/{instance}/v2/{kind}/{id}`.
#[utoipa::path(
    delete,
    path = "/openscale/{instance}/v2/{kind}/{id}",
    operation_id = "openscale_delete",
    params(
        ("instance" = String, Path, description = "The configuration instance's id"),
        ("kind" = String, Path, description = "data_marts, service_providers or integrated_systems"),
        ("id" = String, Path, description = "The resource's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
    ),
)]
pub async fn delete(
    State(state): State<SharedState>,
    OsCaller(caller): OsCaller,
    Path((instance, segment, id)): Path<(String, String, String)>,
) -> Result<StatusCode, OsError> {
    let kind = kind(&segment)?;
    let instance = authorize(
        &state,
        &caller,
        &instance,
        resource_action(kind, Verb::Delete),
    )
    .await?;
    state
        .config
        .delete(instance, kind, resource_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
