//! Import tokens: `POST` and `GET /api/v2/import_token`, and the secure-import fields of the
//! create and rotate bodies.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use keyward_api::keyprotect::{ImportTokenRequest, ImportTokenResponse};
use keyward_crypto::SecretBytes;
use keyward_kms::import_token::SECURE_IMPORT_ALGORITHM;
use keyward_kms::{ImportToken, SecureImport};

use crate::auth::KmsCaller;
use crate::body::optional_json;
use crate::error::ApiError;
use crate::state::SharedState;
use crate::wire::{b64, date, decode_field, decode_secret};
use keyward_api::keyprotect as kp;

/// `POST /api/v2/import_token`: a new token for the instance (replacing any other).
#[utoipa::path(
    post,
    path = "/api/v2/import_token",
    operation_id = "import_token_create",
    request_body(content = Option<kp::ImportTokenRequest>),
    responses(
        (status = 200, description = "The token, without its key", body = kp::ImportTokenResponse),
    ),
)]
pub async fn create(
    State(state): State<SharedState>,
    caller: KmsCaller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ImportTokenRequest = optional_json(&body)?.unwrap_or_default();
    let token = state
        .kms
        .create_import_token(
            &caller.access,
            caller.instance,
            req.expiration,
            req.max_allowed_retrievals,
        )
        .await?;
    Ok(Json(response(&token, false)).into_response())
}

/// `GET /api/v2/import_token`: the token with its public key and nonce; counts a retrieval.
#[utoipa::path(
    get,
    path = "/api/v2/import_token",
    operation_id = "import_token_retrieve",
    responses(
        (status = 200, description = "The token with its public key and nonce", body = kp::ImportTokenResponse),
    ),
)]
pub async fn retrieve(
    State(state): State<SharedState>,
    caller: KmsCaller,
) -> Result<Response, ApiError> {
    let token = state
        .kms
        .retrieve_import_token(&caller.access, caller.instance)
        .await?;
    Ok(Json(response(&token, true)).into_response())
}

fn response(token: &ImportToken, with_key: bool) -> ImportTokenResponse {
    ImportTokenResponse {
        creation_date: date(token.created_at),
        expiration_date: date(token.expires_at),
        max_allowed_retrievals: token.max_retrievals,
        remaining_retrievals: token.remaining,
        payload: with_key.then(|| b64(token.public_key_pem().as_bytes())),
        nonce: with_key.then(|| b64(&token.nonce)),
    }
}

/// The secure import a create or rotate body asks for: `None` when it names none of
/// `encryptionAlgorithm`, `encryptedNonce` and `iv` (plain material or none).
pub fn secure_import(
    payload: Option<&str>,
    algorithm: Option<&str>,
    encrypted_nonce: Option<&str>,
    iv: Option<&str>,
) -> Result<Option<SecureImport>, ApiError> {
    if algorithm.is_none() && encrypted_nonce.is_none() && iv.is_none() {
        return Ok(None);
    }
    if algorithm.is_some_and(|a| a != SECURE_IMPORT_ALGORITHM) {
        return Err(ApiError::InvalidField {
            field: "encryptionAlgorithm",
            requirement: "RSAES_OAEP_SHA_256",
        });
    }
    Ok(Some(SecureImport {
        payload: decode_field(required(payload, "payload")?, "payload")?,
        encrypted_nonce: decode_field(
            required(encrypted_nonce, "encryptedNonce")?,
            "encryptedNonce",
        )?,
        iv: decode_field(required(iv, "iv")?, "iv")?,
    }))
}

/// The material a create or rotate body brings: opened through the instance's import token
/// (which the import spends) for a caller who may perform `action`, or the plain `payload`.
pub async fn material(
    caller: &KmsCaller,
    state: &SharedState,
    action: keyward_iam::Action,
    secure: Option<&SecureImport>,
    payload: Option<&str>,
) -> Result<Option<SecretBytes>, ApiError> {
    match secure {
        Some(import) => Ok(Some(
            state
                .kms
                .open_secure_import(&caller.access, caller.instance, action, import)
                .await?,
        )),
        None => payload.map(|p| decode_secret(p, "payload")).transpose(),
    }
}

fn required<'a>(value: Option<&'a str>, field: &'static str) -> Result<&'a str, ApiError> {
    value.ok_or(ApiError::InvalidField {
        field,
        requirement: "present in a secure import, with payload, encryptedNonce and iv",
    })
}
