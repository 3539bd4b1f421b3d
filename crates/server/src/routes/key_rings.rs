//! Key rings.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_api::keyprotect::{Collection, KEY_RING_TYPE, KeyRingResource};
use keyward_kms::KeyRingId;

use crate::auth::KmsCaller;
use crate::error::ApiError;
use crate::openapi;
use crate::routes::query::{flag, paging};
use crate::state::SharedState;
use crate::wire::date;
use keyward_api::keyprotect as kp;

fn ring(id: &str) -> Result<KeyRingId, ApiError> {
    id.parse().map_err(|_| ApiError::InvalidField {
        field: "key_ring_id",
        requirement: "2 to 100 letters, digits and '-'",
    })
}

/// `GET /api/v2/key_rings`.
#[utoipa::path(
    get,
    path = "/api/v2/key_rings",
    operation_id = "key_rings_list",
    params(
        openapi::Paging,
    ),
    responses(
        (status = 200, description = "The instance's key rings", body = kp::Collection<kp::KeyRingResource>),
    ),
)]
pub async fn list(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (limit, offset) = paging(&q)?;
    let rings = state
        .kms
        .list_key_rings(&caller.access, caller.instance)
        .await?;
    let total = rings.len() as u64;
    let resources = rings
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|r| KeyRingResource {
            creation_date: if r.id.is_default() {
                date(time::OffsetDateTime::UNIX_EPOCH)
            } else {
                date(r.created_at)
            },
            id: r.id.to_string(),
            created_by: r.created_by,
        })
        .collect();
    let mut c = Collection::new(KEY_RING_TYPE, resources);
    if flag(&q, "totalCount")? == Some(true) {
        c.metadata.total_count = Some(total);
    }
    Ok(Json(c).into_response())
}

/// `POST /api/v2/key_rings/{ring}`.
#[utoipa::path(
    post,
    path = "/api/v2/key_rings/{ring}",
    operation_id = "key_rings_create",
    params(
        ("ring" = String, Path, description = "The ring's id: 2 to 100 of a-z, A-Z, 0-9 and -"),
    ),
    responses(
        (status = 201, description = "Created"),
    ),
)]
pub async fn create(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .kms
        .create_key_ring(&caller.access, caller.instance, ring(&id)?)
        .await?;
    Ok(StatusCode::CREATED)
}

/// `DELETE /api/v2/key_rings/{ring}[?force=true]`.
#[utoipa::path(
    delete,
    path = "/api/v2/key_rings/{ring}",
    operation_id = "key_rings_delete",
    params(
        ("ring" = String, Path, description = "The ring's id"),
        openapi::Force,
    ),
    responses(
        (status = 204, description = "Deleted"),
    ),
)]
pub async fn delete(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let force = flag(&q, "force")?.unwrap_or(false);
    state
        .kms
        .delete_key_ring(&caller.access, caller.instance, &ring(&id)?, force)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
