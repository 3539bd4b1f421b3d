//! Instance policies: `GET` and `PUT /api/v2/instance/policies[?policy=<type>]`, and
//! `GET /api/v2/instance/allowed_ip_port`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_api::keyprotect::{
    ALLOWED_IP_METADATA_TYPE, Collection, InstancePolicyAttributes, InstancePolicyData,
    InstancePolicyRequest, InstancePolicyResource, POLICY_TYPE,
};
use keyward_kms::{
    AllowedNetwork, InstanceAttributes, InstancePolicy, InstancePolicyKind, InstanceSetting,
    KeyCreateImportAccess,
};
use serde::Deserialize;

use crate::auth::{KmsCaller, KmsCallerFromAnywhere};
use crate::body::collection_resources;
use crate::error::ApiError;
use crate::listener::LocalAddr;
use crate::openapi;
use crate::state::SharedState;
use crate::wire::date;
use keyward_api::keyprotect as kp;

/// `?policy=`.
#[derive(Debug, Deserialize)]
pub struct PolicyQuery {
    policy: Option<String>,
}

const KINDS: &str =
    "one of allowedIP, allowedNetwork, dualAuthDelete, keyCreateImportAccess, metrics, rotation";

fn kind(name: &str, field: &'static str) -> Result<InstancePolicyKind, ApiError> {
    InstancePolicyKind::parse(name).ok_or(ApiError::InvalidField {
        field,
        requirement: KINDS,
    })
}

fn only(query: &PolicyQuery) -> Result<Option<InstancePolicyKind>, ApiError> {
    query
        .policy
        .as_deref()
        .map(|p| kind(p, "policy"))
        .transpose()
}

/// `GET /api/v2/instance/policies`.
#[utoipa::path(
    get,
    path = "/api/v2/instance/policies",
    operation_id = "instance_policies_get",
    params(
        openapi::PolicyFilter,
    ),
    responses(
        (status = 200, description = "The instance's policies", body = openapi::SparseCollection<kp::InstancePolicyResource>),
    ),
)]
pub async fn get(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Query(query): Query<PolicyQuery>,
) -> Result<Response, ApiError> {
    let only = only(&query)?;
    let policies = state
        .kms
        .instance_policies(&caller.access, caller.instance)
        .await?;
    let resources: Vec<InstancePolicyResource> = policies
        .0
        .iter()
        .filter(|p| only.is_none_or(|k| p.setting.kind == k))
        .map(resource)
        .collect();
    if resources.is_empty() {
        let empty = serde_json::json!({
            "metadata": {"collectionType": POLICY_TYPE, "collectionTotal": 0}
        });
        return Ok((StatusCode::OK, Json(empty)).into_response());
    }
    Ok(Json(Collection::new(POLICY_TYPE, resources)).into_response())
}

/// `PUT /api/v2/instance/policies`: sets each policy in the body (with `?policy=`, exactly
/// one, of that type); 204.
#[utoipa::path(
    put,
    path = "/api/v2/instance/policies",
    operation_id = "instance_policies_put",
    params(
        openapi::PolicyFilter,
    ),
    request_body = kp::IncomingCollection<kp::InstancePolicyRequest>,
    responses(
        (status = 204, description = "Set"),
    ),
)]
pub async fn put(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Query(query): Query<PolicyQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let settings = parse_settings(&body, only(&query)?, state.private_port.get().is_some())?;
    state
        .kms
        .set_instance_policies(&caller.access, caller.instance, settings)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v2/instance/allowed_ip_port`: the port of this endpoint while an allowedIP policy
/// is on (nothing otherwise). It answers from any address, so that a client outside the
/// allowed blocks can learn where to go.
#[utoipa::path(
    get,
    path = "/api/v2/instance/allowed_ip_port",
    operation_id = "instance_policies_allowed_ip_port",
    params(
        ("bluemix-instance" = String, Header, description = "The KMS instance's id"),
    ),
    responses(
        (status = 200, description = "The private endpoint's port, when an allowedIP policy is on", body = openapi::SparseCollection<openapi::AllowedIpPort>),
    ),
)]
pub async fn allowed_ip_port(
    State(state): State<SharedState>,
    KmsCallerFromAnywhere(caller): KmsCallerFromAnywhere,
    local: Option<axum::Extension<LocalAddr>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let allowed = state
        .kms
        .allowed_ip(&caller.access, caller.instance)
        .await?;
    if allowed.is_none() {
        let empty = serde_json::json!({
            "metadata": {"collectionType": ALLOWED_IP_METADATA_TYPE, "collectionTotal": 0}
        });
        return Ok(Json(empty).into_response());
    }
    // The private endpoint's port, or (without one) the port this request came in on.
    let port = state
        .private_port
        .get()
        .copied()
        .or_else(|| local.map(|l| l.0.0.port()))
        .or_else(|| host_port(&headers))
        .unwrap_or(443);
    let resources = vec![serde_json::json!({ "private_endpoint_port": port })];
    Ok(Json(Collection::new(ALLOWED_IP_METADATA_TYPE, resources)).into_response())
}

fn host_port(headers: &HeaderMap) -> Option<u16> {
    let host = headers.get("host")?.to_str().ok()?;
    host.rsplit_once(':')?.1.parse().ok()
}

fn parse_settings(
    body: &Bytes,
    only: Option<InstancePolicyKind>,
    private_endpoint: bool,
) -> Result<Vec<InstanceSetting>, ApiError> {
    let resources: Vec<InstancePolicyRequest> = collection_resources(body)?;
    if only.is_some() && resources.len() != 1 {
        return Err(ApiError::NumCollectionResource);
    }
    let mut settings: Vec<InstanceSetting> = Vec::new();
    for request in resources {
        let name = request
            .policy_type
            .ok_or(ApiError::BadBody("every policy has a policy_type"))?;
        let kind = kind(&name, "policy_type")?;
        if only.is_some_and(|o| o != kind) {
            return Err(ApiError::BodyQueryParamMismatch);
        }
        if settings.iter().any(|s| s.kind == kind) {
            return Err(ApiError::BadBody("a policy type is given twice"));
        }
        let data = request
            .policy_data
            .ok_or(ApiError::BadBody("every policy has policy_data"))?;
        let attributes = data
            .attributes
            .map(|a| attributes_of(kind, a, private_endpoint))
            .transpose()?;
        let setting = InstanceSetting {
            kind,
            enabled: data.enabled,
            attributes,
        };
        setting.validate()?;
        settings.push(setting);
    }
    Ok(settings)
}

/// The attributes of `kind` in `given`; fields of another type are refused.
fn attributes_of(
    kind: InstancePolicyKind,
    mut given: InstancePolicyAttributes,
    private_endpoint: bool,
) -> Result<InstanceAttributes, ApiError> {
    use InstancePolicyKind as K;
    let invalid = |field, requirement| ApiError::InvalidField { field, requirement };
    let attributes = match kind {
        K::Rotation => {
            let months = given
                .interval_month
                .take()
                .ok_or(invalid("interval_month", "an integer from 1 to 12"))?;
            InstanceAttributes::Rotation {
                interval_month: u8::try_from(months).unwrap_or(0),
            }
        }
        K::AllowedNetwork => {
            let network = given
                .allowed_network
                .take()
                .and_then(|n| AllowedNetwork::parse(&n));
            match network {
                Some(AllowedNetwork::PrivateOnly) if !private_endpoint => {
                    // Without a private endpoint, private-only would shut the instance out.
                    return Err(invalid(
                        "allowed_network",
                        "public-and-private (this server has no private endpoint: serve --private-listen)",
                    ));
                }
                Some(network) => InstanceAttributes::AllowedNetwork(network),
                None => {
                    return Err(invalid(
                        "allowed_network",
                        "public-and-private or private-only",
                    ));
                }
            }
        }
        K::AllowedIp => {
            let blocks = given.allowed_ip.take().unwrap_or_default();
            let parsed = blocks
                .iter()
                .map(|b| b.trim().parse::<ipnet::IpNet>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| invalid("allowed_ip", "a list of IPv4 or IPv6 CIDR blocks"))?;
            InstanceAttributes::AllowedIp(parsed)
        }
        K::KeyCreateImportAccess => {
            let d = KeyCreateImportAccess::default();
            InstanceAttributes::KeyCreateImportAccess(KeyCreateImportAccess {
                create_root_key: given.create_root_key.take().unwrap_or(d.create_root_key),
                create_standard_key: given
                    .create_standard_key
                    .take()
                    .unwrap_or(d.create_standard_key),
                import_root_key: given.import_root_key.take().unwrap_or(d.import_root_key),
                import_standard_key: given
                    .import_standard_key
                    .take()
                    .unwrap_or(d.import_standard_key),
                enforce_token: given.enforce_token.take().unwrap_or(d.enforce_token),
            })
        }
        K::DualAuthDelete | K::Metrics => {
            return Err(invalid("attributes", "absent: this policy takes none"));
        }
    };
    if given != InstancePolicyAttributes::default() {
        return Err(ApiError::BadBody(
            "the attributes hold fields of another policy type",
        ));
    }
    Ok(attributes)
}

fn resource(policy: &InstancePolicy) -> InstancePolicyResource {
    let attributes = policy.setting.attributes.as_ref().map(|a| match a {
        InstanceAttributes::Rotation { interval_month } => InstancePolicyAttributes {
            interval_month: Some(i64::from(*interval_month)),
            ..Default::default()
        },
        InstanceAttributes::AllowedNetwork(n) => InstancePolicyAttributes {
            allowed_network: Some(n.as_str().to_owned()),
            ..Default::default()
        },
        InstanceAttributes::AllowedIp(blocks) => InstancePolicyAttributes {
            allowed_ip: Some(blocks.iter().map(ToString::to_string).collect()),
            ..Default::default()
        },
        InstanceAttributes::KeyCreateImportAccess(a) => InstancePolicyAttributes {
            create_root_key: Some(a.create_root_key),
            create_standard_key: Some(a.create_standard_key),
            import_root_key: Some(a.import_root_key),
            import_standard_key: Some(a.import_standard_key),
            enforce_token: Some(a.enforce_token),
            ..Default::default()
        },
    });
    InstancePolicyResource {
        policy_type: policy.setting.kind.as_str(),
        policy_data: InstancePolicyData {
            enabled: policy.setting.enabled,
            attributes,
        },
        creation_date: date(policy.stamp.created_at),
        created_by: policy.stamp.created_by.clone(),
        updated_by: policy.stamp.updated_by.clone(),
        last_updated: date(policy.stamp.updated_at),
    }
}
