//! `/openscale/{instance}/v2/user_preferences`: the `user_root_key_crn` preference switches the
//! instance's secrets between the global key and the customer's root key.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use keyward_configsvc::PatchOp;
use keyward_iam::Action;
use keyward_secrets::{Protection, RootKey};
use serde_json::{Value, json};

use crate::openapi;
use crate::openscale_error::OsError;
use crate::routes::openscale::{OsCaller, authorize};
use crate::state::SharedState;

const ROOT_KEY_PREF: &str = "user_root_key_crn";

fn root_text(root: &RootKey) -> String {
    match root {
        RootKey::Global => "global".to_owned(),
        RootKey::Customer(crn) => crn.to_string(),
    }
}

/// The preference map, with the protection state beside it.
fn preferences(p: &Protection) -> Value {
    let target = p
        .switching_to
        .as_ref()
        .map(|(root, _)| root)
        .unwrap_or(&p.current);
    let progress = match &p.switching_to {
        Some((_, progress)) => json!({"done": progress.done, "total": progress.total}),
        None => Value::Null,
    };
    let mut map = serde_json::Map::new();
    if let RootKey::Customer(crn) = target {
        map.insert(ROOT_KEY_PREF.into(), Value::String(crn.to_string()));
    }
    map.insert(
        "key_protection".into(),
        json!({
            "root_key": root_text(&p.current),
            "switching_to": p.switching_to.as_ref().map(|(root, _)| root_text(root)),
            "progress": progress,
            "state": match (&p.switching_to, &p.paused) {
                (None, _) => Value::Null,
                (Some(_), None) => json!("running"),
                (Some(_), Some(_)) => json!("paused"),
            },
            "reason": p.paused,
        }),
    );
    Value::Object(map)
}

fn unsupported(key: &str) -> Result<(), OsError> {
    if key == ROOT_KEY_PREF {
        Ok(())
    } else {
        Err(OsError::BadRequest(
            "the only supported preference is user_root_key_crn",
        ))
    }
}

/// The CRN in any of the accepted bodies: `{"user_root_key_crn": crn}`, `{"value": crn}`, `"crn"`.
fn crn_from_body(body: &Bytes) -> Result<String, OsError> {
    let bad = OsError::BadRequest(
        r#"send {"user_root_key_crn": "<crn>"}, {"value": "<crn>"} or "<crn>""#,
    );
    match serde_json::from_slice::<Value>(body.trim_ascii()) {
        Ok(Value::String(s)) => Ok(s),
        Ok(Value::Object(m)) => m
            .get(ROOT_KEY_PREF)
            .or_else(|| m.get("value"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(bad),
        _ => Err(bad),
    }
}

/// `GET .../v2/user_preferences`.
#[utoipa::path(
    get,
    path = "/openscale/{instance}/v2/user_preferences",
    operation_id = "preferences_list",
    params(
        ("instance" = String, Path, description = "The configuration instance's id"),
    ),
    responses(
        (status = 200, description = "The preferences and the key protection", body = openapi::UserPreferences),
    ),
)]
pub async fn list(
    State(state): State<SharedState>,
    OsCaller(caller): OsCaller,
    Path(instance): Path<String>,
) -> Result<Json<Value>, OsError> {
    let instance = authorize(&state, &caller, &instance, Action::ConfigsvcPreferencesRead).await?;
    Ok(Json(preferences(&state.config.protection(instance).await?)))
}

/// `GET .../v2/user_preferences/{key}`: the bare value.
#[utoipa::path(
    get,
    path = "/openscale/{instance}/v2/user_preferences/{key}",
    operation_id = "preferences_get",
    params(
        ("instance" = String, Path, description = "The configuration instance's id"),
        ("key" = String, Path, description = "user_root_key_crn, the only preference"),
    ),
    responses(
        (status = 200, description = "The root key CRN", body = String),
    ),
)]
pub async fn get(
    State(state): State<SharedState>,
    OsCaller(caller): OsCaller,
    Path((instance, key)): Path<(String, String)>,
) -> Result<Json<Value>, OsError> {
    let instance = authorize(&state, &caller, &instance, Action::ConfigsvcPreferencesRead).await?;
    unsupported(&key)?;
    let prefs = preferences(&state.config.protection(instance).await?);
    prefs
        .get(ROOT_KEY_PREF)
        .cloned()
        .map(Json)
        .ok_or(OsError::NotFound)
}

/// `PUT .../v2/user_preferences/{key}`.
#[utoipa::path(
    put,
    path = "/openscale/{instance}/v2/user_preferences/{key}",
    operation_id = "preferences_put",
    params(
        ("instance" = String, Path, description = "The configuration instance's id"),
        ("key" = String, Path, description = "user_root_key_crn, the only preference"),
    ),
    request_body = openapi::RootKeyPreference,
    responses(
        (status = 200, description = "The preferences; the switch runs on", body = openapi::UserPreferences),
    ),
)]
pub async fn put(
    State(state): State<SharedState>,
    OsCaller(caller): OsCaller,
    Path((instance, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, OsError> {
    let instance = authorize(
        &state,
        &caller,
        &instance,
        Action::ConfigsvcPreferencesUpdate,
    )
    .await?;
    unsupported(&key)?;
    let crn = crn_from_body(&body)?;
    Ok(Json(preferences(
        &state.config.set_root_key(instance, &crn).await?,
    )))
}

/// `DELETE .../v2/user_preferences/{key}`: back to the global key.
#[utoipa::path(
    delete,
    path = "/openscale/{instance}/v2/user_preferences/{key}",
    operation_id = "preferences_delete",
    params(
        ("instance" = String, Path, description = "The configuration instance's id"),
        ("key" = String, Path, description = "user_root_key_crn, the only preference"),
    ),
    responses(
        (status = 200, description = "The preferences; the switch back runs on", body = openapi::UserPreferences),
    ),
)]
pub async fn delete(
    State(state): State<SharedState>,
    OsCaller(caller): OsCaller,
    Path((instance, key)): Path<(String, String)>,
) -> Result<Json<Value>, OsError> {
    let instance = authorize(
        &state,
        &caller,
        &instance,
        Action::ConfigsvcPreferencesDelete,
    )
    .await?;
    unsupported(&key)?;
    Ok(Json(preferences(
        &state.config.remove_root_key(instance).await?,
    )))
}

/// `PATCH .../v2/user_preferences` with add/replace/remove on `/user_root_key_crn`.
#[utoipa::path(
    patch,
    path = "/openscale/{instance}/v2/user_preferences",
    operation_id = "preferences_patch",
    params(
        ("instance" = String, Path, description = "The configuration instance's id"),
    ),
    request_body(content = Vec<Object>, description = "add, replace or remove of /user_root_key_crn"),
    responses(
        (status = 200, description = "The preferences and the key protection", body = openapi::UserPreferences),
    ),
)]
pub async fn patch(
    State(state): State<SharedState>,
    OsCaller(caller): OsCaller,
    Path(instance): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, OsError> {
    let instance = authorize(
        &state,
        &caller,
        &instance,
        Action::ConfigsvcPreferencesUpdate,
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
    let mut protection = state.config.protection(instance).await?;
    for op in &ops {
        if op.path != format!("/{ROOT_KEY_PREF}") {
            return Err(OsError::BadRequest(
                "the only supported preference is /user_root_key_crn",
            ));
        }
        protection = match op.op.as_str() {
            "add" | "replace" => {
                let crn = op
                    .value
                    .as_ref()
                    .and_then(Value::as_str)
                    .ok_or(OsError::BadRequest(
                        "add and replace need a CRN string value",
                    ))?;
                state.config.set_root_key(instance, crn).await?
            }
            "remove" => state.config.remove_root_key(instance).await?,
            _ => {
                return Err(OsError::BadRequest(
                    "user preferences take add, replace and remove",
                ));
            }
        };
    }
    Ok(Json(preferences(&protection)))
}

/// `GET .../v2/secrets_check` (Writer or Manager): decrypts every instance secret server-side
/// and reports counts and DEK generations, never values.
#[utoipa::path(
    get,
    path = "/openscale/{instance}/v2/secrets_check",
    operation_id = "preferences_secrets_check",
    params(
        ("instance" = String, Path, description = "The configuration instance's id"),
    ),
    responses(
        (status = 200, description = "Counts of secrets decrypted, never values", body = openapi::SecretsCheck),
    ),
)]
pub async fn secrets_check(
    State(state): State<SharedState>,
    OsCaller(caller): OsCaller,
    Path(instance): Path<String>,
) -> Result<Json<Value>, OsError> {
    let instance = authorize(&state, &caller, &instance, Action::ConfigsvcSecretsCheck).await?;
    let report = state.config.check_secrets(instance).await?;
    let generations: Vec<Value> = report
        .generations
        .iter()
        .map(|(status, root)| json!({"status": status.as_str(), "root_key": root_text(root)}))
        .collect();
    Ok(Json(json!({
        "secrets": report.secrets,
        "fields_decrypted": report.fields_decrypted,
        "failures": report.failures,
        "generations": generations,
    })))
}
