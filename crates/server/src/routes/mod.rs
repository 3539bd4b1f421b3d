//! HTTP routes.

mod actions;
mod admin;
mod audit;
mod console;
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
use axum::http::header::CONTENT_TYPE;
use axum::routing::{get, post};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::SharedState;

/// Every route of the server, and `GET /openapi.json` describing the documented ones.
pub fn router(state: SharedState) -> Router {
    let (router, mut doc) = documented().split_for_parts();
    crate::openapi::complete(&mut doc);
    let description = axum::body::Bytes::from(crate::openapi::to_json(&doc));
    router
        .route(
            "/openapi.json",
            get(move || async move { ([(CONTENT_TYPE, "application/json")], description) }),
        )
        // Not described: `/oidc/token` is `/identity/token`'s other name, OpenScale's heartbeat
        // has a second path, the clock route exists only with `--unsafe-test-clock`, and the
        // console's files are a page, not API.
        .route("/oidc/token", post(identity::token))
        .route(
            "/openscale/v2/fairness/heartbeat",
            get(openscale::heartbeat),
        )
        .route("/admin/test-clock", post(admin::advance_clock))
        // The web console's static files (README, "The web console"), not part of the API.
        .route("/ui", get(console::redirect))
        .route("/ui/", get(console::index))
        .route("/ui/{file}", get(console::asset))
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

/// The described routes: each handler's `#[utoipa::path]` gives its method and path.
fn documented() -> OpenApiRouter<SharedState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(health::healthz))
        .routes(routes!(identity::token))
        .routes(routes!(audit::list))
        .routes(routes!(iam::create_user, iam::list_users))
        .routes(routes!(iam::delete_user))
        .routes(routes!(iam::create_service_id, iam::list_service_ids))
        .routes(routes!(iam::delete_service_id))
        .routes(routes!(iam::create_apikey, iam::list_apikeys))
        .routes(routes!(iam::get_apikey, iam::delete_apikey))
        .routes(routes!(iam::lock_apikey))
        .routes(routes!(iam::unlock_apikey))
        .routes(routes!(iam::create_policy, iam::list_policies))
        .routes(routes!(iam::delete_policy))
        .routes(routes!(instances::create, instances::list))
        .routes(routes!(instances::get, instances::delete))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::create_with_overrides))
        .routes(routes!(import_token::retrieve, import_token::create))
        .routes(routes!(instance_policies::get, instance_policies::put))
        .routes(routes!(instance_policies::allowed_ip_port))
        .routes(routes!(
            keys::get,
            keys::delete,
            keys::patch,
            actions::legacy_action
        ))
        .routes(routes!(registrations::all))
        .routes(routes!(registrations::of_key))
        .routes(routes!(registrations::put, registrations::delete))
        .routes(routes!(keys::metadata))
        .routes(routes!(key_policies::get, key_policies::put))
        .routes(routes!(keys::purge))
        .routes(routes!(keys::restore))
        .routes(routes!(keys::versions))
        .routes(routes!(actions::action))
        .routes(routes!(keys::add_alias, keys::remove_alias))
        .routes(routes!(key_rings::list))
        .routes(routes!(key_rings::create, key_rings::delete))
        .routes(routes!(openscale::heartbeat))
        .routes(routes!(openscale::entitlements))
        .routes(routes!(openscale::monitor_definitions))
        .routes(routes!(preferences::secrets_check))
        .routes(routes!(preferences::list, preferences::patch))
        .routes(routes!(
            preferences::get,
            preferences::put,
            preferences::delete
        ))
        .routes(routes!(openscale::list, openscale::create))
        .routes(routes!(openscale::get, openscale::patch, openscale::delete))
}
