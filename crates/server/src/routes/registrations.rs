//! Registrations: `GET /keys/{id}/registrations`, `GET /keys/registrations`, and the
//! service-to-service writes `POST|PUT|DELETE /keys/{id}/registrations/{resource CRN}`.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_api::keyprotect::{Collection, REGISTRATION_TYPE};
use keyward_kms::Registration;
use serde_json::{Value, json};

use crate::auth::KmsCaller;
use crate::body::optional_json;
use crate::error::ApiError;
use crate::openapi;
use crate::routes::query::{flag, key_ref, paging};
use crate::state::SharedState;
use crate::wire::date;
use keyward_api::keyprotect as kp;

fn resource(r: &Registration) -> Value {
    json!({
        "keyId": r.key_id.to_string(),
        "resourceCrn": r.resource_crn,
        "createdBy": r.created_by,
        "creationDate": date(r.created_at),
        "updatedBy": r.created_by,
        "lastUpdated": date(r.updated_at),
        "description": r.description.clone().unwrap_or_default(),
        "preventKeyDeletion": r.prevent_key_deletion,
        "keyVersion": {"id": r.key_version.to_string()},
    })
}

/// `*` matches any run of characters, as in `urlEncodedResourceCRNQuery`.
fn crn_matches(pattern: &str, crn: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return true;
    };
    if parts.len() == 1 {
        return pattern == crn;
    }
    if !crn.starts_with(first) || !crn[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &crn[first.len()..crn.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

fn collection(regs: Vec<Registration>, q: &HashMap<String, String>) -> Result<Response, ApiError> {
    let (limit, offset) = paging(q)?;
    let crn_query = q
        .get("urlEncodedResourceCRNQuery")
        .filter(|s| !s.is_empty());
    let prevent = flag(q, "preventKeyDeletion")?;
    let matching: Vec<&Registration> = regs
        .iter()
        .filter(|r| crn_query.is_none_or(|p| crn_matches(p, &r.resource_crn)))
        .filter(|r| prevent.is_none_or(|p| r.prevent_key_deletion == p))
        .collect();
    let total = matching.len() as u64;
    let page: Vec<Value> = matching
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(resource)
        .collect();
    let mut c = Collection::new(REGISTRATION_TYPE, page);
    if flag(q, "totalCount")? == Some(true) {
        c.metadata.total_count = Some(total);
    }
    Ok(Json(c).into_response())
}

/// `GET /api/v2/keys/{id}/registrations`.
#[utoipa::path(
    get,
    path = "/api/v2/keys/{id}/registrations",
    operation_id = "registrations_of_key",
    params(
        ("id" = String, Path, description = "A key id or alias"),
        openapi::Paging,
        ("urlEncodedResourceCRNQuery" = Option<String>, Query, description = "A CRN pattern; * matches any run of characters"),
        ("preventKeyDeletion" = Option<bool>, Query, description = "Only registrations that do (not) prevent deletion"),
    ),
    responses(
        (status = 200, description = "The key's registrations", body = kp::Collection<openapi::RegistrationResource>),
    ),
)]
pub async fn of_key(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let regs = state
        .kms
        .registrations(&caller.access, caller.instance, Some(&key_ref(&id)?))
        .await?;
    collection(regs, &q)
}

/// `GET /api/v2/keys/registrations`.
#[utoipa::path(
    get,
    path = "/api/v2/keys/registrations",
    operation_id = "registrations_all",
    params(
        openapi::Paging,
        ("urlEncodedResourceCRNQuery" = Option<String>, Query, description = "A CRN pattern; * matches any run of characters"),
        ("preventKeyDeletion" = Option<bool>, Query, description = "Only registrations that do (not) prevent deletion"),
    ),
    responses(
        (status = 200, description = "The instance's registrations", body = kp::Collection<openapi::RegistrationResource>),
    ),
)]
pub async fn all(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let regs = state
        .kms
        .registrations(&caller.access, caller.instance, None)
        .await?;
    collection(regs, &q)
}

/// `POST` or `PUT /api/v2/keys/{id}/registrations/{crn}`: body optional,
/// `{"resources":[{"preventKeyDeletion": bool, "description": "..."}]}`.
#[utoipa::path(
    method(post, put),
    path = "/api/v2/keys/{id}/registrations/{crn}",
    operation_id = "registrations_put",
    params(
        ("id" = String, Path, description = "A key id or alias"),
        ("crn" = String, Path, description = "The resource's CRN, URL-encoded"),
    ),
    request_body(content = Option<openapi::RegistrationBody>, description = "Its description and whether it prevents deletion"),
    responses(
        (status = 201, description = "The registration", body = kp::Collection<openapi::RegistrationResource>),
    ),
)]
pub async fn put(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path((id, crn)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Option<Value> = optional_json(&body)?;
    let first = body
        .as_ref()
        .and_then(|b| b.get("resources"))
        .and_then(|r| r.get(0));
    let prevent = first
        .and_then(|r| r.get("preventKeyDeletion"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let description = first
        .and_then(|r| r.get("description"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let r = state
        .kms
        .register(
            &caller.access,
            caller.instance,
            &key_ref(&id)?,
            &crn,
            description,
            prevent,
        )
        .await?;
    let body = Collection::new(REGISTRATION_TYPE, vec![resource(&r)]);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /api/v2/keys/{id}/registrations/{crn}`.
#[utoipa::path(
    delete,
    path = "/api/v2/keys/{id}/registrations/{crn}",
    operation_id = "registrations_delete",
    params(
        ("id" = String, Path, description = "A key id or alias"),
        ("crn" = String, Path, description = "The resource's CRN, URL-encoded"),
    ),
    responses(
        (status = 204, description = "Removed"),
    ),
)]
pub async fn delete(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path((id, crn)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .kms
        .deregister(&caller.access, caller.instance, &key_ref(&id)?, &crn)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
