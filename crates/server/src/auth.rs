//! Extractors that authenticate the caller. Missing or bad credentials are refused (401); there
//! is no default identity.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use keyward_iam::Caller;
use keyward_kms::InstanceId;
use uuid::Uuid;

use crate::authz::{InstanceAccess, instance_access, kms_instance};
use crate::error::ApiError;
use crate::listener::{ClientAddr, PrivateEndpoint};
use crate::state::SharedState;

/// A caller with a valid bearer token, whose principal and API key are still in force.
pub struct Authenticated(pub Arc<Caller>);

pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<SharedState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let caller = state.iam.authenticate(token).await?;
        keyward_iam::audit_note::note_caller(&caller);
        Ok(Authenticated(caller))
    }
}

/// A caller of the KMS API, scoped to the instance in `Bluemix-Instance`.
pub struct KmsCaller {
    /// The instance.
    pub instance: InstanceId,
    /// The instance's account (for CRNs).
    pub account: String,
    /// The caller's access in it.
    pub access: InstanceAccess,
}

impl FromRequestParts<SharedState> for KmsCaller {
    type Rejection = ApiError;

    /// The caller, once the instance's allowedIP policy (if on) lists its address (a request
    /// that did not come over a socket has no address and is refused under such a policy) and
    /// its allowedNetwork policy accepts the endpoint the request came in on.
    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let KmsCallerFromAnywhere(caller) =
            KmsCallerFromAnywhere::from_request_parts(parts, state).await?;
        let policies = state.kms.current_instance_policies(caller.instance).await?;
        if policies.allowed_ip().is_some() {
            let client = parts.extensions.get::<ClientAddr>().map(|c| c.0.ip());
            if !client.is_some_and(|ip| policies.allows_client(ip)) {
                return Err(ApiError::ClientAddressNotAllowed);
            }
        }
        if policies.allowed_network() == keyward_kms::AllowedNetwork::PrivateOnly
            && parts.extensions.get::<PrivateEndpoint>().is_none()
        {
            return Err(ApiError::PrivateEndpointRequired);
        }
        if policies.metrics() {
            let route = parts
                .extensions
                .get::<axum::extract::MatchedPath>()
                .map_or("unmatched", |p| p.as_str());
            state.metrics.count_instance_request(
                &caller.instance.to_string(),
                &parts.method,
                route,
            );
        }
        Ok(caller)
    }
}

/// A caller of the KMS API from any address, whatever the instance's allowedIP policy says
/// (only `GET /instance/allowed_ip_port` takes it).
pub struct KmsCallerFromAnywhere(pub KmsCaller);

impl FromRequestParts<SharedState> for KmsCallerFromAnywhere {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let Authenticated(caller) = Authenticated::from_request_parts(parts, state).await?;
        let instance_id = parts
            .headers
            .get("bluemix-instance")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| v.len() == 36)
            .and_then(|v| Uuid::parse_str(v).ok())
            .ok_or(ApiError::InstanceHeader)?;
        let authorizer = state.iam.authorizer();
        let instance = kms_instance(authorizer, instance_id)
            .await?
            .ok_or(ApiError::NoInstanceAccess)?;
        keyward_iam::audit_note::note_target(
            &instance.account,
            keyward_iam::audit_note::NotedTarget::Instance {
                service: instance.service,
                id: instance.id,
            },
        );
        let access = instance_access(authorizer, caller, &instance)
            .await?
            .ok_or(ApiError::NoInstanceAccess)?;
        Ok(Self(KmsCaller {
            instance: InstanceId::from_uuid(instance.id),
            account: instance.account.as_str().to_owned(),
            access,
        }))
    }
}
