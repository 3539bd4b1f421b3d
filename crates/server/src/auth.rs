//! Extractors that authenticate the caller. Missing or bad credentials are refused (401); there
//! is no default identity.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use keyward_iam::{Claims, ServiceKind};
use keyward_kms::InstanceId;
use uuid::Uuid;

use crate::authz::GrantsAccess;
use crate::error::ApiError;
use crate::state::SharedState;

/// A caller with a valid bearer token.
pub struct Caller(pub Claims);

pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        state.iam.verify(token).map(Caller)
    }
}

/// A caller of the KMS API, scoped to the instance in `Bluemix-Instance`.
pub struct KmsCaller {
    /// The instance.
    pub instance: InstanceId,
    /// The instance's account (for CRNs).
    pub account: String,
    /// The caller's access in it.
    pub access: GrantsAccess,
}

impl FromRequestParts<SharedState> for KmsCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let Caller(claims) = Caller::from_request_parts(parts, state).await?;
        let instance_id = parts
            .headers
            .get("bluemix-instance")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| v.len() == 36)
            .and_then(|v| Uuid::parse_str(v).ok())
            .ok_or(ApiError::InstanceHeader)?;
        let instance = state
            .iam
            .instance(instance_id)
            .await?
            .filter(|i| i.service == ServiceKind::Kms)
            .ok_or(ApiError::NoInstanceAccess)?;
        let grants = if instance.account.as_str() == claims.account.bss {
            state.iam.grants(&claims, &instance).await?
        } else {
            std::sync::Arc::new(keyward_iam::Grants::default())
        };
        // One of our services acting for a customer: the customer's service-to-service
        // authorization on this instance decides, in the instance's account.
        let grants = if grants.is_empty() {
            state.iam.service_grants(&claims, &instance).await?
        } else {
            grants
        };
        if grants.is_empty() {
            return Err(ApiError::NoInstanceAccess);
        }
        Ok(Self {
            instance: InstanceId::from_uuid(instance.id),
            account: instance.account.as_str().to_owned(),
            access: GrantsAccess {
                iam_id: claims.iam_id,
                grants,
            },
        })
    }
}
