//! Key resources: create, list, read, move, delete, restore, purge, versions, aliases.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_api::keyprotect::{
    ALIAS_TYPE, AliasResource, Collection, CreateKey, KEY_TYPE, KEY_VERSION_TYPE, KeyVersion,
    PatchKey,
};
use keyward_crypto::SecretBytes;
use keyward_kms::{Alias, Key, KeyRingId, NewKey, PolicyChange, RotationSchedule};

use crate::auth::KmsCaller;
use crate::body::{collection_resources, optional_json, required_json};
use crate::error::ApiError;
use crate::openapi;
use crate::routes::query::{
    flag, key_query, key_ref, key_ring_header, paging, prefer_representation,
};
use crate::state::SharedState;
use crate::wire::{date, decode_secret, key_resource, parse_date};
use keyward_api::keyprotect as kp;

/// A key collection response.
pub(crate) fn key_response(
    state: &SharedState,
    caller: &KmsCaller,
    status: StatusCode,
    keys: &[(&Key, Option<&SecretBytes>)],
) -> Response {
    let now = state.kms.now();
    let resources = keys
        .iter()
        .map(|(k, payload)| {
            key_resource(
                k,
                &state.crn,
                &caller.account,
                caller.instance,
                now,
                *payload,
            )
        })
        .collect();
    (status, Json(Collection::new(KEY_TYPE, resources))).into_response()
}

fn parse_create(body: &Bytes) -> Result<CreateKey, ApiError> {
    let mut resources: Vec<CreateKey> = collection_resources(body)?;
    if resources.len() != 1 {
        return Err(ApiError::BadBody("exactly one key resource is required"));
    }
    resources.pop().ok_or(ApiError::NoBody)
}

/// `POST /api/v2/keys`.
#[utoipa::path(
    post,
    path = "/api/v2/keys",
    operation_id = "keys_create",
    request_body = kp::IncomingCollection<kp::CreateKey>,
    params(
        ("x-kms-key-ring" = Option<String>, Header, description = "The key ring (default)"),
        ("prefer" = Option<String>, Header, description = "`return=minimal` for no key material in the answer"),
    ),
    responses(
        (status = 201, description = "The key", body = kp::Collection<kp::KeyResource>),
    ),
)]
pub async fn create(
    State(state): State<SharedState>,
    caller: KmsCaller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    create_key(&state, &caller, &headers, &body, false).await
}

/// `POST /api/v2/keys_with_policy_overrides`: a key with its own rotation and dual
/// authorization settings in place of the instance's.
#[utoipa::path(
    post,
    path = "/api/v2/keys_with_policy_overrides",
    operation_id = "keys_create_with_overrides",
    request_body = kp::IncomingCollection<kp::CreateKey>,
    params(
        ("x-kms-key-ring" = Option<String>, Header, description = "The key ring (default)"),
    ),
    responses(
        (status = 201, description = "The key, with its own policies", body = kp::Collection<kp::KeyResource>),
    ),
)]
pub async fn create_with_overrides(
    State(state): State<SharedState>,
    caller: KmsCaller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    create_key(&state, &caller, &headers, &body, true).await
}

async fn create_key(
    state: &SharedState,
    caller: &KmsCaller,
    headers: &HeaderMap,
    body: &Bytes,
    overrides: bool,
) -> Result<Response, ApiError> {
    let req = parse_create(body)?;
    let secure = crate::routes::import_token::secure_import(
        req.payload.as_deref(),
        req.encryption_algorithm.as_deref(),
        req.encrypted_nonce.as_deref(),
        req.iv.as_deref(),
    )?;
    let extractable = req.extractable.unwrap_or(false);
    if !overrides && (req.rotation.is_some() || req.dual_auth_delete.is_some()) {
        return Err(ApiError::BadBody(
            "a key's own policies are set through /api/v2/keys_with_policy_overrides",
        ));
    }
    let policies = PolicyChange {
        rotation: req.rotation.map(|r| RotationSchedule {
            enabled: r.enabled,
            interval_month: u8::try_from(r.interval_month).unwrap_or(0),
        }),
        dual_auth_delete: req.dual_auth_delete.map(|d| d.enabled),
    };
    let name = req.name.ok_or(ApiError::InvalidField {
        field: "name",
        requirement: "a string of 1 to 90 characters",
    })?;
    let aliases = req
        .aliases
        .unwrap_or_default()
        .iter()
        .map(|a| a.parse::<Alias>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ApiError::InvalidField {
            field: "aliases",
            requirement: "aliases of 2 to 90 letters, digits, '-' and '_', not UUIDs or reserved words",
        })?;
    let new = NewKey {
        name,
        description: req.description,
        tags: req.tags.unwrap_or_default(),
        extractable,
        // A secure import's material is opened by the KMS after every other check.
        payload: match &secure {
            Some(_) => None,
            None => req
                .payload
                .as_deref()
                .map(|p| decode_secret(p, "payload"))
                .transpose()?,
        },
        secure,
        expiration: req
            .expiration_date
            .as_deref()
            .map(|d| parse_date(d, "expirationDate"))
            .transpose()?,
        aliases,
        key_ring: key_ring_header(headers)?.unwrap_or_else(KeyRingId::default_ring),
        policies,
    };
    let created = state
        .kms
        .create_key(&caller.access, caller.instance, new)
        .await?;
    let payload = match prefer_representation(headers) {
        Some(true) => created.payload.as_ref(),
        _ => None,
    };
    Ok(key_response(
        state,
        caller,
        StatusCode::CREATED,
        &[(&created.key, payload)],
    ))
}

/// `GET` (and `HEAD`) `/api/v2/keys`.
#[utoipa::path(
    get,
    path = "/api/v2/keys",
    operation_id = "keys_list",
    params(
        openapi::Paging,
        openapi::KeyFilters,
        ("x-kms-key-ring" = Option<String>, Header, description = "Only this ring's keys"),
    ),
    responses(
        (status = 200, description = "Keys, without material", body = kp::Collection<kp::KeyResource>),
    ),
)]
pub async fn list(
    State(state): State<SharedState>,
    caller: KmsCaller,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let query = key_query(&q, key_ring_header(&headers)?)?;
    let total = state
        .kms
        .count_keys(&caller.access, caller.instance, &query)
        .await?;
    let keys = state
        .kms
        .list_keys(&caller.access, caller.instance, &query)
        .await?;
    let now = state.kms.now();
    let resources = keys
        .iter()
        .map(|k| key_resource(k, &state.crn, &caller.account, caller.instance, now, None))
        .collect();
    let mut collection = Collection::new(KEY_TYPE, resources);
    if flag(&q, "totalCount")? == Some(true) {
        collection.metadata.total_count = Some(total);
    }
    let mut response = Json(collection).into_response();
    response
        .headers_mut()
        .insert("key-total", HeaderValue::from(total));
    Ok(response)
}

/// `GET /api/v2/keys/{id}`: includes a standard key's payload.
#[utoipa::path(
    get,
    path = "/api/v2/keys/{id}",
    operation_id = "keys_get",
    params(
        ("id" = String, Path, description = "A key id or alias"),
    ),
    responses(
        (status = 200, description = "The key; a standard key with its material", body = kp::Collection<kp::KeyResource>),
    ),
)]
pub async fn get(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let found = state
        .kms
        .get_key(&caller.access, caller.instance, &key_ref(&id)?, true)
        .await?;
    Ok(key_response(
        &state,
        &caller,
        StatusCode::OK,
        &[(&found.key, found.payload.as_ref())],
    ))
}

/// `GET /api/v2/keys/{id}/metadata`.
#[utoipa::path(
    get,
    path = "/api/v2/keys/{id}/metadata",
    operation_id = "keys_metadata",
    params(
        ("id" = String, Path, description = "A key id or alias"),
    ),
    responses(
        (status = 200, description = "The key, never its material", body = kp::Collection<kp::KeyResource>),
    ),
)]
pub async fn metadata(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let found = state
        .kms
        .get_key(&caller.access, caller.instance, &key_ref(&id)?, false)
        .await?;
    Ok(key_response(
        &state,
        &caller,
        StatusCode::OK,
        &[(&found.key, None)],
    ))
}

/// `PATCH /api/v2/keys/{id}`: move to another ring.
#[utoipa::path(
    patch,
    path = "/api/v2/keys/{id}",
    operation_id = "keys_patch",
    params(
        ("id" = String, Path, description = "A key id or alias"),
    ),
    request_body = kp::PatchKey,
    responses(
        (status = 200, description = "The key, in its new ring", body = kp::Collection<kp::KeyResource>),
        (status = 204, description = "Moved"),
    ),
)]
pub async fn patch(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: PatchKey = required_json(&body)?;
    let ring = req
        .key_ring_id
        .ok_or(ApiError::BadBody("keyRingID is required"))?
        .parse::<KeyRingId>()
        .map_err(|_| ApiError::InvalidField {
            field: "keyRingID",
            requirement: "a key ring id of 2 to 100 letters, digits and '-'",
        })?;
    let key = state
        .kms
        .move_key(&caller.access, caller.instance, &key_ref(&id)?, ring)
        .await?;
    Ok(key_response(
        &state,
        &caller,
        StatusCode::OK,
        &[(&key, None)],
    ))
}

/// 204, or 200 with the key when `Prefer: return=representation`.
fn key_or_no_content(
    state: &SharedState,
    caller: &KmsCaller,
    headers: &HeaderMap,
    key: &Key,
) -> Response {
    if prefer_representation(headers) == Some(true) {
        key_response(state, caller, StatusCode::OK, &[(key, None)])
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

/// `DELETE /api/v2/keys/{id}[?force=true]`.
#[utoipa::path(
    delete,
    path = "/api/v2/keys/{id}",
    operation_id = "keys_delete",
    params(
        ("id" = String, Path, description = "A key id or alias"),
        openapi::Force,
        ("prefer" = Option<String>, Header, description = "`return=representation` for the key in the answer"),
    ),
    responses(
        (status = 200, description = "The deleted key", body = kp::Collection<kp::KeyResource>),
        (status = 204, description = "Deleted"),
    ),
)]
pub async fn delete(
    State(state): State<SharedState>,
    caller: KmsCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let force = flag(&q, "force")?.unwrap_or(false);
    let key = state
        .kms
        .delete(&caller.access, caller.instance, &key_ref(&id)?, force)
        .await?;
    Ok(key_or_no_content(&state, &caller, &headers, &key))
}

/// `DELETE /api/v2/keys/{id}/purge`.
#[utoipa::path(
    delete,
    path = "/api/v2/keys/{id}/purge",
    operation_id = "keys_purge",
    params(
        ("id" = String, Path, description = "A key id or alias"),
        ("prefer" = Option<String>, Header, description = "`return=representation` for the key in the answer"),
    ),
    responses(
        (status = 200, description = "The purged key", body = kp::Collection<kp::KeyResource>),
        (status = 204, description = "Purged"),
    ),
)]
pub async fn purge(
    State(state): State<SharedState>,
    caller: KmsCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = state
        .kms
        .purge(&caller.access, caller.instance, &key_ref(&id)?)
        .await?;
    Ok(key_or_no_content(&state, &caller, &headers, &key))
}

/// `POST /api/v2/keys/{id}/restore` (a body, if any, is ignored).
#[utoipa::path(
    post,
    path = "/api/v2/keys/{id}/restore",
    operation_id = "keys_restore",
    params(
        ("id" = String, Path, description = "A key id or alias"),
    ),
    responses(
        (status = 201, description = "The restored key", body = kp::Collection<kp::KeyResource>),
    ),
)]
pub async fn restore(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let _ignored: Option<serde_json::Value> = optional_json(&body)?;
    let key = state
        .kms
        .restore(&caller.access, caller.instance, &key_ref(&id)?)
        .await?;
    Ok(key_response(
        &state,
        &caller,
        StatusCode::CREATED,
        &[(&key, None)],
    ))
}

/// `GET /api/v2/keys/{id}/versions`.
#[utoipa::path(
    get,
    path = "/api/v2/keys/{id}/versions",
    operation_id = "keys_versions",
    params(
        ("id" = String, Path, description = "A key id or alias"),
        openapi::Paging,
        ("allKeyStates" = Option<bool>, Query, description = "Also versions of keys not active"),
    ),
    responses(
        (status = 200, description = "The key's versions, newest first", body = kp::Collection<kp::KeyVersion>),
    ),
)]
pub async fn versions(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (limit, offset) = paging(&q)?;
    let all_states = flag(&q, "allKeyStates")?.unwrap_or(false);
    let versions = state
        .kms
        .key_versions(&caller.access, caller.instance, &key_ref(&id)?, all_states)
        .await?;
    let total = versions.len() as u64;
    let page: Vec<KeyVersion> = versions
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|v| KeyVersion {
            id: v.id.to_string(),
            creation_date: Some(date(v.created_at)),
        })
        .collect();
    let mut c = Collection::new(KEY_VERSION_TYPE, page);
    if flag(&q, "totalCount")? == Some(true) {
        c.metadata.total_count = Some(total);
    }
    Ok(Json(c).into_response())
}

fn parse_alias(alias: &str) -> Result<Alias, ApiError> {
    alias.parse().map_err(|_| ApiError::InvalidField {
        field: "alias",
        requirement: "2 to 90 letters, digits, '-' and '_', not a UUID or reserved word",
    })
}

/// `POST /api/v2/keys/{id}/aliases/{alias}`.
#[utoipa::path(
    post,
    path = "/api/v2/keys/{id}/aliases/{alias}",
    operation_id = "keys_add_alias",
    params(
        ("id" = String, Path, description = "A key id or alias"),
        ("alias" = String, Path, description = "The alias"),
    ),
    responses(
        (status = 201, description = "The alias", body = kp::Collection<kp::AliasResource>),
    ),
)]
pub async fn add_alias(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path((id, alias)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let alias = parse_alias(&alias)?;
    let key = state
        .kms
        .add_alias(&caller.access, caller.instance, &key_ref(&id)?, &alias)
        .await?;
    let resource = AliasResource {
        key_id: key.id.to_string(),
        alias: alias.to_string(),
        creation_date: date(state.kms.now()),
        created_by: caller.access.caller.iam_id.clone(),
    };
    Ok((
        StatusCode::CREATED,
        Json(Collection::new(ALIAS_TYPE, vec![resource])),
    )
        .into_response())
}

/// `DELETE /api/v2/keys/{id}/aliases/{alias}`.
#[utoipa::path(
    delete,
    path = "/api/v2/keys/{id}/aliases/{alias}",
    operation_id = "keys_remove_alias",
    params(
        ("id" = String, Path, description = "A key id or alias"),
        ("alias" = String, Path, description = "The alias"),
    ),
    responses(
        (status = 204, description = "Removed"),
    ),
)]
pub async fn remove_alias(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path((id, alias)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let alias = parse_alias(&alias)?;
    state
        .kms
        .remove_alias(&caller.access, caller.instance, &key_ref(&id)?, &alias)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
