//! Key actions: `/keys/{id}/actions/{action}` and the legacy `/keys/{id}?action=`.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_api::keyprotect::{
    CiphertextRequest, RewrapResponse, RotateRequest, UnwrapResponse, WrapRequest, WrapResponse,
};
use keyward_iam::Action;
use keyward_kms::KmsError;

use crate::auth::KmsCaller;
use crate::body::{optional_json, required_json};
use crate::error::ApiError;
use crate::openapi;
use crate::routes::keys::key_response;
use crate::routes::query::{key_ref, prefer_representation};
use crate::state::SharedState;
use crate::wire::{b64, decode_ciphertext, decode_secret, version};
use keyward_api::keyprotect as kp;

/// `POST /api/v2/keys/{id}/actions/{action}`.
#[utoipa::path(
    post,
    path = "/api/v2/keys/{id}/actions/{action}",
    operation_id = "actions_action",
    params(
        ("id" = String, Path, description = "A key id or alias"),
        ("action" = String, Path, description = "wrap, unwrap, rewrap, rotate, disable, enable, sync, setKeyForDeletion or unsetKeyForDeletion"),
        ("prefer" = Option<String>, Header, description = "`return=representation`: rotate answers with the key"),
    ),
    request_body(content = Option<openapi::ActionBody>, description = "The action's fields"),
    responses(
        (status = 200, description = "wrap, unwrap or rewrap's answer, or (rotate with `return=representation`) the key", body = Object),
        (status = 204, description = "Done"),
    ),
)]
pub async fn action(
    State(state): State<SharedState>,
    caller: KmsCaller,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    run(&state, &caller, &headers, &id, &action, &body).await
}

/// `POST /api/v2/keys/{id}?action=<name>`.
#[utoipa::path(
    post,
    path = "/api/v2/keys/{id}",
    operation_id = "actions_legacy_action",
    params(
        ("id" = String, Path, description = "A key id or alias"),
        ("action" = String, Query, description = "The action, as in /actions/{action}, or restore"),
    ),
    request_body(content = Option<openapi::ActionBody>, description = "The action's fields"),
    responses(
        (status = 200, description = "wrap, unwrap or rewrap's answer, or the key", body = Object),
        (status = 201, description = "The restored key", body = kp::Collection<kp::KeyResource>),
        (status = 204, description = "Done"),
    ),
)]
pub async fn legacy_action(
    State(state): State<SharedState>,
    caller: KmsCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let action = q.get("action").ok_or(ApiError::InvalidField {
        field: "action",
        requirement: "a query parameter naming the action",
    })?;
    if action == "restore" {
        let key = state
            .kms
            .restore(&caller.access, caller.instance, &key_ref(&id)?)
            .await?;
        return Ok(key_response(
            &state,
            &caller,
            StatusCode::CREATED,
            &[(&key, None)],
        ));
    }
    run(&state, &caller, &headers, &id, action, &body).await
}

async fn run(
    state: &SharedState,
    caller: &KmsCaller,
    headers: &HeaderMap,
    id: &str,
    action: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let key = key_ref(id)?;
    let kms = &state.kms;
    let (access, instance) = (&caller.access, caller.instance);
    match action {
        "wrap" => {
            let req: WrapRequest = optional_json(body)?.unwrap_or_default();
            let plaintext = req
                .plaintext
                .as_deref()
                .map(|p| decode_secret(p, "plaintext"))
                .transpose()?;
            let aad = req.aad.unwrap_or_default();
            let out = kms.wrap(access, instance, &key, plaintext, &aad).await?;
            Ok(Json(WrapResponse {
                plaintext: out.generated.as_ref().map(|p| b64(p.expose_secret())),
                ciphertext: b64(&out.ciphertext),
                key_version: version(out.version),
            })
            .into_response())
        }
        "unwrap" => {
            let (ciphertext, aad) = ciphertext_request(body)?;
            let out = kms
                .unwrap(access, instance, &key, &ciphertext, &aad)
                .await?;
            let (rewrapped, rewrapped_version) = match out.rewrapped {
                Some((ct, v)) => (Some(b64(&ct)), Some(version(v))),
                None => (None, None),
            };
            Ok(Json(UnwrapResponse {
                plaintext: b64(out.plaintext.expose_secret()),
                key_version: version(out.version),
                ciphertext: rewrapped,
                rewrapped_key_version: rewrapped_version,
            })
            .into_response())
        }
        "rewrap" => {
            let (ciphertext, aad) = ciphertext_request(body)?;
            let out = kms
                .rewrap(access, instance, &key, &ciphertext, &aad)
                .await?;
            Ok(Json(RewrapResponse {
                ciphertext: b64(&out.ciphertext),
                key_version: version(out.version),
                rewrapped_key_version: version(out.rewrapped_version),
            })
            .into_response())
        }
        "rotate" => {
            let req: RotateRequest = optional_json(body)?.unwrap_or_default();
            let secure = crate::routes::import_token::secure_import(
                req.payload.as_deref(),
                req.encryption_algorithm.as_deref(),
                req.encrypted_nonce.as_deref(),
                req.iv.as_deref(),
            )?;
            if secure.is_some() {
                // A key that is not there, or not the caller's to rotate, spends no token.
                kms.key_for(access, instance, &key, Action::KmsKeysRotate)
                    .await?;
            }
            let payload = crate::routes::import_token::material(
                caller,
                state,
                Action::KmsKeysRotate,
                secure.as_ref(),
                req.payload.as_deref(),
            )
            .await?;
            let rotated = kms.rotate(access, instance, &key, payload).await?;
            if prefer_representation(headers) == Some(true) {
                return Ok(key_response(
                    state,
                    caller,
                    StatusCode::OK,
                    &[(&rotated, None)],
                ));
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "disable" => {
            kms.disable(access, instance, &key).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "enable" => {
            kms.enable(access, instance, &key).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "sync" => {
            kms.sync(access, instance, &key).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "setKeyForDeletion" | "unsetKeyForDeletion" => {
            kms.set_for_deletion(access, instance, &key, action == "setKeyForDeletion")
                .await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(ApiError::InvalidField {
            field: "action",
            requirement: "one of wrap, unwrap, rewrap, rotate, disable, enable, restore, sync, setKeyForDeletion, unsetKeyForDeletion",
        }),
    }
}

/// The ciphertext and aad of an unwrap or rewrap body.
fn ciphertext_request(body: &Bytes) -> Result<(Vec<u8>, Vec<String>), ApiError> {
    let req: CiphertextRequest = required_json(body)?;
    let encoded = req.ciphertext.ok_or(ApiError::Kms(KmsError::InvalidField {
        field: "ciphertext",
        requirement: "the original base64 encoded ciphertext from the wrap operation",
    }))?;
    Ok((decode_ciphertext(&encoded)?, req.aad.unwrap_or_default()))
}
