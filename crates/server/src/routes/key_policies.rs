//! Key policies: `GET` and `PUT /api/v2/keys/{id}/policies[?policy=rotation|dualAuthDelete]`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_api::keyprotect::{
    Collection, DualAuthSetting, KeyPolicyRequest, KeyPolicyResource, POLICY_TYPE,
};
use keyward_iam::Action;
use keyward_kms::{Key, PolicyChange, PolicyStamp, RotationSchedule};
use serde::Deserialize;

use crate::auth::KmsCaller;
use crate::body::collection_resources;
use crate::error::ApiError;
use crate::openapi;
use crate::routes::query::key_ref;
use crate::state::SharedState;
use crate::wire::{date, rotation};
use keyward_api::keyprotect as kp;

/// `?policy=`.
#[derive(Debug, Deserialize)]
pub struct PolicyQuery {
    policy: Option<String>,
}

/// The two kinds of key policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rotation,
    DualAuthDelete,
}

const BOTH: [Kind; 2] = [Kind::Rotation, Kind::DualAuthDelete];

fn kind_of(query: &PolicyQuery) -> Result<Option<Kind>, ApiError> {
    match query.policy.as_deref() {
        None => Ok(None),
        Some("rotation") => Ok(Some(Kind::Rotation)),
        Some("dualAuthDelete") => Ok(Some(Kind::DualAuthDelete)),
        Some(_) => Err(ApiError::InvalidField {
            field: "policy",
            requirement: "rotation or dualAuthDelete",
        }),
    }
}

/// `GET /api/v2/keys/{id}/policies`: the key's policies (of one kind with `?policy=`).
#[utoipa::path(
    get,
    path = "/api/v2/keys/{id}/policies",
    operation_id = "key_policies_get",
    params(
        ("id" = String, Path, description = "A key id or alias"),
        openapi::PolicyFilter,
    ),
    responses(
        (status = 200, description = "The key's policies", body = openapi::SparseCollection<kp::KeyPolicyResource>),
    ),
)]
pub async fn get(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path(id): Path<String>,
    Query(query): Query<PolicyQuery>,
) -> Result<Response, ApiError> {
    let only = kind_of(&query)?;
    let key = state
        .kms
        .key_for(
            &caller.access,
            caller.instance,
            &key_ref(&id)?,
            Action::KmsPoliciesRead,
        )
        .await?;
    let kinds: Vec<Kind> = only.map_or(BOTH.to_vec(), |k| vec![k]);
    Ok(policies_response(&state, &caller, &key, &kinds))
}

/// `PUT /api/v2/keys/{id}/policies`: sets the policies in the body; answers with them.
#[utoipa::path(
    put,
    path = "/api/v2/keys/{id}/policies",
    operation_id = "key_policies_put",
    params(
        ("id" = String, Path, description = "A key id or alias"),
        openapi::PolicyFilter,
    ),
    request_body = kp::IncomingCollection<kp::KeyPolicyRequest>,
    responses(
        (status = 200, description = "The key's policies as set", body = openapi::SparseCollection<kp::KeyPolicyResource>),
    ),
)]
pub async fn put(
    State(state): State<SharedState>,
    caller: KmsCaller,
    Path(id): Path<String>,
    Query(query): Query<PolicyQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let only = kind_of(&query)?;
    let (change, kinds) = parse_change(&body, only)?;
    let key = state
        .kms
        .set_policies(&caller.access, caller.instance, &key_ref(&id)?, change)
        .await?;
    Ok(policies_response(&state, &caller, &key, &kinds))
}

/// The change a body asks for and the kinds it names. Each resource sets one kind, each kind
/// at most once; with `?policy=` every resource is of that kind.
fn parse_change(body: &Bytes, only: Option<Kind>) -> Result<(PolicyChange, Vec<Kind>), ApiError> {
    let resources: Vec<KeyPolicyRequest> = collection_resources(body)?;
    let mut change = PolicyChange::default();
    let mut kinds = Vec::new();
    for resource in resources {
        if resource.kind.as_deref().is_some_and(|t| t != POLICY_TYPE) {
            return Err(ApiError::BadBody(
                "a policy's type is application/vnd.ibm.kms.policy+json",
            ));
        }
        let kind = match (resource.rotation, resource.dual_auth_delete) {
            (Some(r), None) => {
                change.rotation = Some(RotationSchedule {
                    enabled: r.enabled,
                    // Out of range becomes 0, which the KMS refuses with the field's rule.
                    interval_month: u8::try_from(r.interval_month).unwrap_or(0),
                });
                Kind::Rotation
            }
            (None, Some(DualAuthSetting { enabled })) => {
                change.dual_auth_delete = Some(enabled);
                Kind::DualAuthDelete
            }
            _ => {
                return Err(ApiError::BadBody(
                    "each policy holds exactly one of rotation and dualAuthDelete",
                ));
            }
        };
        if kinds.contains(&kind) {
            return Err(ApiError::BadBody("a policy is given twice"));
        }
        if only.is_some_and(|o| o != kind) {
            return Err(ApiError::BodyQueryParamMismatch);
        }
        kinds.push(kind);
    }
    Ok((change, kinds))
}

/// The key's policies of `kinds` that are set, as a policy collection (without `resources`
/// when there are none, as Key Protect answers).
fn policies_response(
    state: &SharedState,
    caller: &KmsCaller,
    key: &Key,
    kinds: &[Kind],
) -> Response {
    let crn = state.crn.key_crn(&caller.account, caller.instance, key.id);
    let resource = |stamp: &PolicyStamp| KeyPolicyResource {
        id: key.id.to_string(),
        crn: crn.clone(),
        kind: POLICY_TYPE,
        created_by: stamp.created_by.clone(),
        creation_date: date(stamp.created_at),
        updated_by: stamp.updated_by.clone(),
        last_update_date: date(stamp.updated_at),
        rotation: None,
        dual_auth_delete: None,
    };
    let resources: Vec<KeyPolicyResource> = kinds
        .iter()
        .filter_map(|kind| match kind {
            Kind::Rotation => key.policies.rotation.as_ref().map(|p| KeyPolicyResource {
                rotation: Some(rotation(p.value)),
                ..resource(&p.stamp)
            }),
            Kind::DualAuthDelete => {
                key.policies
                    .dual_auth_delete
                    .as_ref()
                    .map(|p| KeyPolicyResource {
                        dual_auth_delete: Some(DualAuthSetting { enabled: p.value }),
                        ..resource(&p.stamp)
                    })
            }
        })
        .collect();
    if resources.is_empty() {
        let empty = serde_json::json!({
            "metadata": {"collectionType": POLICY_TYPE, "collectionTotal": 0}
        });
        return (StatusCode::OK, Json(empty)).into_response();
    }
    (
        StatusCode::OK,
        Json(Collection::new(POLICY_TYPE, resources)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str, only: Option<Kind>) -> Result<(PolicyChange, Vec<Kind>), ApiError> {
        parse_change(&Bytes::from(body.to_owned()), only)
    }

    #[test]
    fn bodies_set_each_kind_once_and_match_the_query() {
        let both = r#"{"metadata":{"collectionType":"application/vnd.ibm.kms.policy+json","collectionTotal":2},
            "resources":[{"type":"application/vnd.ibm.kms.policy+json","rotation":{"enabled":true,"interval_month":3}},
                         {"type":"application/vnd.ibm.kms.policy+json","dualAuthDelete":{"enabled":true}}]}"#;
        let (change, kinds) = parse(both, None).expect("both");
        assert_eq!(kinds, BOTH.to_vec());
        assert_eq!(change.dual_auth_delete, Some(true));
        assert_eq!(change.rotation.map(|r| r.interval_month), Some(3));
        assert!(matches!(
            parse(both, Some(Kind::Rotation)),
            Err(ApiError::BodyQueryParamMismatch)
        ));
        let wrong_total = both.replace("\"collectionTotal\":2", "\"collectionTotal\":1");
        assert!(matches!(
            parse(&wrong_total, None),
            Err(ApiError::CollectionTotalMismatch)
        ));
        for bad in [
            r#"{"resources":[]}"#,
            r#"{"resources":[{"rotation":{"enabled":true,"interval_month":1},"dualAuthDelete":{"enabled":true}}]}"#,
            r#"{"resources":[{"dualAuthDelete":{"enabled":true}},{"dualAuthDelete":{"enabled":true}}]}"#,
            r#"{"resources":[{"dualAuthDelete":{"enabled":true,"extra":1}}]}"#,
            r#"{"resources":[{"type":"application/vnd.ibm.kms.key+json","dualAuthDelete":{"enabled":true}}]}"#,
            r#"{"resources":[{}]}"#,
        ] {
            assert!(
                matches!(parse(bad, None), Err(ApiError::BadBody(_))),
                "{bad}"
            );
        }
        let huge = r#"{"resources":[{"rotation":{"enabled":true,"interval_month":4294967297}}]}"#;
        let (change, _) = parse(huge, None).expect("parsed; the KMS refuses the interval");
        assert_eq!(change.rotation.map(|r| r.interval_month), Some(0));
    }
}
