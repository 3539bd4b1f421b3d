//! HTTP routes.

mod actions;
mod admin;
mod audit;
mod health;
mod iam;
mod identity;
mod import_token;
mod instance_policies;
mod instances;
mod key_policies;
mod key_rings;
mod keys;
pub(crate) mod openscale;
mod plain_errors;
mod preferences;
mod query;
mod registrations;
mod timeout;
mod to_completion;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::state::SharedState;

/// Every route of the server.
pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/identity/token", post(identity::token))
        .route("/oidc/token", post(identity::token))
        .route("/admin/test-clock", post(admin::advance_clock))
        .route("/api/v2/audit/events", get(audit::list))
        .route("/v1/users", post(iam::create_user).get(iam::list_users))
        .route("/v1/users/{id}", delete(iam::delete_user))
        .route(
            "/v1/serviceids",
            post(iam::create_service_id).get(iam::list_service_ids),
        )
        .route("/v1/serviceids/{id}", delete(iam::delete_service_id))
        .route(
            "/v1/apikeys",
            post(iam::create_apikey).get(iam::list_apikeys),
        )
        .route(
            "/v1/apikeys/{id}",
            get(iam::get_apikey).delete(iam::delete_apikey),
        )
        .route("/v1/apikeys/{id}/lock", post(iam::lock_apikey))
        .route("/v1/apikeys/{id}/unlock", post(iam::unlock_apikey))
        .route(
            "/v1/policies",
            post(iam::create_policy).get(iam::list_policies),
        )
        .route("/v1/policies/{id}", delete(iam::delete_policy))
        .route(
            "/v2/resource_instances",
            post(instances::create).get(instances::list),
        )
        .route(
            "/v2/resource_instances/{guid}",
            get(instances::get).delete(instances::delete),
        )
        .route("/api/v2/keys", get(keys::list).post(keys::create))
        .route(
            "/api/v2/keys_with_policy_overrides",
            post(keys::create_with_overrides),
        )
        .route(
            "/api/v2/import_token",
            get(import_token::retrieve).post(import_token::create),
        )
        .route(
            "/api/v2/instance/policies",
            get(instance_policies::get).put(instance_policies::put),
        )
        .route(
            "/api/v2/instance/allowed_ip_port",
            get(instance_policies::allowed_ip_port),
        )
        .route(
            "/api/v2/keys/{id}",
            get(keys::get)
                .delete(keys::delete)
                .patch(keys::patch)
                .post(actions::legacy_action),
        )
        .route("/api/v2/keys/registrations", get(registrations::all))
        .route(
            "/api/v2/keys/{id}/registrations",
            get(registrations::of_key),
        )
        .route(
            "/api/v2/keys/{id}/registrations/{crn}",
            post(registrations::put)
                .put(registrations::put)
                .delete(registrations::delete),
        )
        .route("/api/v2/keys/{id}/metadata", get(keys::metadata))
        .route(
            "/api/v2/keys/{id}/policies",
            get(key_policies::get).put(key_policies::put),
        )
        .route("/api/v2/keys/{id}/purge", delete(keys::purge))
        .route("/api/v2/keys/{id}/restore", post(keys::restore))
        .route("/api/v2/keys/{id}/versions", get(keys::versions))
        .route("/api/v2/keys/{id}/actions/{action}", post(actions::action))
        .route(
            "/api/v2/keys/{id}/aliases/{alias}",
            post(keys::add_alias).delete(keys::remove_alias),
        )
        .route("/api/v2/key_rings", get(key_rings::list))
        .route(
            "/api/v2/key_rings/{ring}",
            post(key_rings::create).delete(key_rings::delete),
        )
        .route("/v2/fairness/heartbeat", get(openscale::heartbeat))
        .route(
            "/openscale/v2/fairness/heartbeat",
            get(openscale::heartbeat),
        )
        .route("/v1/entitlements", get(openscale::entitlements))
        .route(
            "/openscale/{instance}/v2/monitor_definitions",
            get(openscale::monitor_definitions),
        )
        .route(
            "/openscale/{instance}/v2/secrets_check",
            get(preferences::secrets_check),
        )
        .route(
            "/openscale/{instance}/v2/user_preferences",
            get(preferences::list).patch(preferences::patch),
        )
        .route(
            "/openscale/{instance}/v2/user_preferences/{key}",
            get(preferences::get)
                .put(preferences::put)
                .delete(preferences::delete),
        )
        .route(
            "/openscale/{instance}/v2/{kind}",
            get(openscale::list).post(openscale::create),
        )
        .route(
            "/openscale/{instance}/v2/{kind}/{id}",
            get(openscale::get)
                .patch(openscale::patch)
                .delete(openscale::delete),
        )
        .fallback(health::not_found)
        .layer(axum::middleware::from_fn(
            plain_errors::envelope_plain_errors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            timeout::request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::audit::middleware::audit,
        ))
        .layer(axum::middleware::from_fn(to_completion::run_to_completion))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
}
