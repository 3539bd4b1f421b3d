//! The authorization matrix: every route of the three APIs × every kind of caller (no token, an
//! expired token, a token of a deleted API key, another account's administrator, each Key
//! Protect role, each IAM role, a user without roles, and the configuration service acting for
//! an authorized tenant, for a tenant outside the authorization's scope, and for another
//! account's tenant), one named case each (`<action> <METHOD> <route> :: <caller>`), run through
//! the real router. The expected outcome is computed from the role table in `keyward_iam` and
//! what each caller holds; the route → action mapping below is written independently of the
//! handlers, and a case checks that it covers every action of the table.
//!
//! Allowed: a 2xx answer (the fixture exists and the request is valid). Refused: 403 (or 404
//! where the API hides another account's resources). Unauthenticated: 401.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use axum::http::Method;
use common::{APIKEY_GRANT, KEY_TYPE, Reply, TestServer, key_collection};
use keyward_iam::{Action, ApiKeyRecord, ApiKeySecret, IamStore, PrincipalKind, Role, ServiceKind};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use uuid::Uuid;

/// What a caller holds.
#[derive(Clone, Debug)]
enum Holds {
    /// No valid credential.
    Nothing,
    /// A principal: of this account or another, with service roles (on every KMS and
    /// configuration-service instance of its account) and platform roles on IAM.
    Principal {
        ours: bool,
        service_roles: &'static [Role],
        iam_roles: &'static [Role],
    },
    /// The configuration service acting for a tenant, authorized (Reader on the KMS instance)
    /// or not.
    Service { authorized: bool },
}

struct Caller {
    name: &'static str,
    token: Option<String>,
    iam_id: String,
    holds: Holds,
}

/// What a route acts on, for the expected outcome.
#[derive(Clone, Copy, Debug, PartialEq)]
enum On {
    /// The caller's own account (lists, creations).
    OwnAccount,
    /// A given resource of this account (a policy, an instance).
    OurAccountResource,
    /// The caller's own identity (self-service).
    OwnIdentity,
    /// A user or service id of this account.
    OurIdentity,
    /// A KMS instance of this account.
    Kms,
    /// A configuration-service instance of this account.
    Configsvc,
    /// `GET /v1/entitlements`: always 200, lists the instance only when allowed.
    Entitlements,
}

struct Route {
    method: Method,
    template: &'static str,
    action: Action,
    on: On,
    /// Allowed means "not refused" (the feature is not there yet, or the answer is 404 for a
    /// preference that is not set).
    lenient: bool,
    /// Which fixture the case needs.
    fixture: Fixture,
}

#[derive(Clone, Copy, Debug)]
enum Fixture {
    Plain,
    RootKey,
    StandardKey,
    FreshKey,
    FreshDisabledKey,
    FreshDeletedKey,
    FreshPurgeableKey,
    FreshAlias,
    FreshRing,
    FreshRegistration,
    NewKeyBody,
    WrapBody,
    Ciphertext,
    NewRing,
    NewRegistration,
    NewUser,
    NewServiceId,
    FreshUser,
    FreshServiceId,
    UserKeyFor,
    ServiceIdKeyFor,
    SelfKey,
    UserKeys,
    ServiceIdKeys,
    UserKey,
    ServiceIdKey,
    FreshUserKey,
    FreshServiceIdKey,
    FreshLockedUserKey,
    FreshLockedServiceIdKey,
    PolicyForSelf,
    FreshPolicy,
    NewInstance,
    OurInstance,
    FreshInstance,
    ClockBody,
    ConfigInstance,
    NewDataMart,
    FreshDataMart,
    NewProvider,
    FreshProvider,
    NewSystem,
    FreshSystem,
    RootKeyPreference,
    RootKeyPreferencePatch,
    FreshProtectedInstance,
    DualAuthKey,
    NewKeyWithOverrides,
    MetricsPolicy,
    ImportTokenBody,
}

fn route(
    method: Method,
    template: &'static str,
    action: Action,
    on: On,
    fixture: Fixture,
) -> Route {
    Route {
        method,
        template,
        action,
        on,
        lenient: false,
        fixture,
    }
}

fn lenient(mut r: Route) -> Route {
    r.lenient = true;
    r
}

fn routes() -> Vec<Route> {
    use Action as A;
    use Fixture as F;
    use Method as M;
    use On::*;
    vec![
        route(
            M::POST,
            "/api/v2/keys",
            A::KmsKeysCreate,
            Kms,
            F::NewKeyBody,
        ),
        route(
            M::POST,
            "/api/v2/keys_with_policy_overrides",
            A::KmsKeysCreate,
            Kms,
            F::NewKeyWithOverrides,
        ),
        route(
            M::GET,
            "/api/v2/instance/policies",
            A::KmsInstancePoliciesRead,
            Kms,
            F::Plain,
        ),
        route(
            M::PUT,
            "/api/v2/instance/policies",
            A::KmsInstancePoliciesWrite,
            Kms,
            F::MetricsPolicy,
        ),
        route(
            M::POST,
            "/api/v2/import_token",
            A::KmsImportTokenCreate,
            Kms,
            F::ImportTokenBody,
        ),
        // Allowed callers may find the token replaced or spent by another case: any answer
        // but a refusal.
        lenient(route(
            M::GET,
            "/api/v2/import_token",
            A::KmsImportTokenRead,
            Kms,
            F::Plain,
        )),
        route(
            M::GET,
            "/api/v2/instance/allowed_ip_port",
            A::KmsInstanceReadAllowedIpPort,
            Kms,
            F::Plain,
        ),
        route(M::GET, "/api/v2/keys", A::KmsKeysList, Kms, F::Plain),
        route(M::HEAD, "/api/v2/keys", A::KmsKeysList, Kms, F::Plain),
        route(
            M::GET,
            "/api/v2/keys/{root}",
            A::KmsKeysReadMetadata,
            Kms,
            F::RootKey,
        ),
        route(
            M::GET,
            "/api/v2/keys/{standard}",
            A::KmsKeysRead,
            Kms,
            F::StandardKey,
        ),
        route(
            M::GET,
            "/api/v2/keys/{id}/metadata",
            A::KmsKeysReadMetadata,
            Kms,
            F::RootKey,
        ),
        route(
            M::PATCH,
            "/api/v2/keys/{id}",
            A::KmsKeysMove,
            Kms,
            F::FreshKey,
        ),
        route(
            M::DELETE,
            "/api/v2/keys/{id}",
            A::KmsKeysDelete,
            Kms,
            F::FreshKey,
        ),
        route(
            M::POST,
            "/api/v2/keys/{id}/restore",
            A::KmsKeysRestore,
            Kms,
            F::FreshDeletedKey,
        ),
        route(
            M::DELETE,
            "/api/v2/keys/{id}/purge",
            A::KmsKeysPurge,
            Kms,
            F::FreshPurgeableKey,
        ),
        route(
            M::GET,
            "/api/v2/keys/{id}/versions",
            A::KmsKeyVersionsList,
            Kms,
            F::RootKey,
        ),
        route(
            M::POST,
            "/api/v2/keys/{id}/actions/wrap",
            A::KmsKeysWrap,
            Kms,
            F::WrapBody,
        ),
        route(
            M::POST,
            "/api/v2/keys/{id}?action=wrap",
            A::KmsKeysWrap,
            Kms,
            F::WrapBody,
        ),
        route(
            M::POST,
            "/api/v2/keys/{id}/actions/unwrap",
            A::KmsKeysUnwrap,
            Kms,
            F::Ciphertext,
        ),
        route(
            M::POST,
            "/api/v2/keys/{id}/actions/rewrap",
            A::KmsKeysRewrap,
            Kms,
            F::Ciphertext,
        ),
        route(
            M::POST,
            "/api/v2/keys/{id}/actions/rotate",
            A::KmsKeysRotate,
            Kms,
            F::FreshKey,
        ),
        route(
            M::POST,
            "/api/v2/keys/{id}/actions/disable",
            A::KmsKeysDisable,
            Kms,
            F::FreshKey,
        ),
        route(
            M::POST,
            "/api/v2/keys/{id}/actions/enable",
            A::KmsKeysEnable,
            Kms,
            F::FreshDisabledKey,
        ),
        route(
            M::POST,
            "/api/v2/keys/{id}/actions/sync",
            A::KmsKeysSync,
            Kms,
            F::RootKey,
        ),
        route(
            M::POST,
            "/api/v2/keys/{id}/actions/setKeyForDeletion",
            A::KmsKeysSetForDeletion,
            Kms,
            F::DualAuthKey,
        ),
        route(
            M::POST,
            "/api/v2/keys/{id}/actions/unsetKeyForDeletion",
            A::KmsKeysUnsetForDeletion,
            Kms,
            F::DualAuthKey,
        ),
        route(
            M::GET,
            "/api/v2/keys/{id}/policies",
            A::KmsPoliciesRead,
            Kms,
            F::RootKey,
        ),
        route(
            M::PUT,
            "/api/v2/keys/{id}/policies",
            A::KmsPoliciesWrite,
            Kms,
            F::DualAuthKey,
        ),
        route(
            M::POST,
            "/api/v2/keys/{id}/aliases/{alias}",
            A::KmsAliasesCreate,
            Kms,
            F::FreshKey,
        ),
        route(
            M::DELETE,
            "/api/v2/keys/{id}/aliases/{alias}",
            A::KmsAliasesDelete,
            Kms,
            F::FreshAlias,
        ),
        route(
            M::GET,
            "/api/v2/key_rings",
            A::KmsKeyRingsList,
            Kms,
            F::Plain,
        ),
        route(
            M::POST,
            "/api/v2/key_rings/{ring}",
            A::KmsKeyRingsCreate,
            Kms,
            F::NewRing,
        ),
        route(
            M::DELETE,
            "/api/v2/key_rings/{ring}",
            A::KmsKeyRingsDelete,
            Kms,
            F::FreshRing,
        ),
        route(
            M::GET,
            "/api/v2/keys/registrations",
            A::KmsRegistrationsList,
            Kms,
            F::Plain,
        ),
        route(
            M::GET,
            "/api/v2/keys/{id}/registrations",
            A::KmsRegistrationsList,
            Kms,
            F::RootKey,
        ),
        route(
            M::POST,
            "/api/v2/keys/{id}/registrations/{crn}",
            A::KmsRegistrationsCreate,
            Kms,
            F::NewRegistration,
        ),
        route(
            M::PUT,
            "/api/v2/keys/{id}/registrations/{crn}",
            A::KmsRegistrationsCreate,
            Kms,
            F::NewRegistration,
        ),
        route(
            M::DELETE,
            "/api/v2/keys/{id}/registrations/{crn}",
            A::KmsRegistrationsDelete,
            Kms,
            F::FreshRegistration,
        ),
        route(
            M::POST,
            "/v1/users",
            A::IamUsersCreate,
            OwnAccount,
            F::NewUser,
        ),
        route(M::GET, "/v1/users", A::IamUsersList, OwnAccount, F::Plain),
        route(
            M::DELETE,
            "/v1/users/{id}",
            A::IamUsersDelete,
            OurIdentity,
            F::FreshUser,
        ),
        route(
            M::POST,
            "/v1/serviceids",
            A::IamServiceIdsCreate,
            OwnAccount,
            F::NewServiceId,
        ),
        route(
            M::GET,
            "/v1/serviceids",
            A::IamServiceIdsList,
            OwnAccount,
            F::Plain,
        ),
        route(
            M::DELETE,
            "/v1/serviceids/{id}",
            A::IamServiceIdsDelete,
            OurIdentity,
            F::FreshServiceId,
        ),
        route(
            M::POST,
            "/v1/apikeys",
            A::IamUserApiKeysCreate,
            OurIdentity,
            F::UserKeyFor,
        ),
        route(
            M::POST,
            "/v1/apikeys",
            A::IamServiceIdApiKeysCreate,
            OurIdentity,
            F::ServiceIdKeyFor,
        ),
        route(
            M::POST,
            "/v1/apikeys",
            A::IamUserApiKeysCreate,
            OwnIdentity,
            F::SelfKey,
        ),
        route(
            M::GET,
            "/v1/apikeys?iam_id={user}",
            A::IamUserApiKeysList,
            OurIdentity,
            F::UserKeys,
        ),
        route(
            M::GET,
            "/v1/apikeys?iam_id={serviceid}",
            A::IamServiceIdApiKeysList,
            OurIdentity,
            F::ServiceIdKeys,
        ),
        route(
            M::GET,
            "/v1/apikeys",
            A::IamUserApiKeysList,
            OwnIdentity,
            F::Plain,
        ),
        route(
            M::GET,
            "/v1/apikeys/{user key}",
            A::IamUserApiKeysRead,
            OurIdentity,
            F::UserKey,
        ),
        route(
            M::GET,
            "/v1/apikeys/{serviceid key}",
            A::IamServiceIdApiKeysRead,
            OurIdentity,
            F::ServiceIdKey,
        ),
        route(
            M::DELETE,
            "/v1/apikeys/{user key}",
            A::IamUserApiKeysDelete,
            OurIdentity,
            F::FreshUserKey,
        ),
        route(
            M::DELETE,
            "/v1/apikeys/{serviceid key}",
            A::IamServiceIdApiKeysDelete,
            OurIdentity,
            F::FreshServiceIdKey,
        ),
        route(
            M::POST,
            "/v1/apikeys/{user key}/lock",
            A::IamUserApiKeysLock,
            OurIdentity,
            F::FreshUserKey,
        ),
        route(
            M::POST,
            "/v1/apikeys/{serviceid key}/lock",
            A::IamServiceIdApiKeysLock,
            OurIdentity,
            F::FreshServiceIdKey,
        ),
        route(
            M::POST,
            "/v1/apikeys/{user key}/unlock",
            A::IamUserApiKeysUnlock,
            OurIdentity,
            F::FreshLockedUserKey,
        ),
        route(
            M::POST,
            "/v1/apikeys/{serviceid key}/unlock",
            A::IamServiceIdApiKeysUnlock,
            OurIdentity,
            F::FreshLockedServiceIdKey,
        ),
        route(
            M::POST,
            "/v1/policies",
            A::IamPoliciesCreate,
            OwnAccount,
            F::PolicyForSelf,
        ),
        route(
            M::GET,
            "/v1/policies",
            A::IamPoliciesList,
            OwnAccount,
            F::Plain,
        ),
        route(
            M::DELETE,
            "/v1/policies/{id}",
            A::IamPoliciesDelete,
            OurAccountResource,
            F::FreshPolicy,
        ),
        route(
            M::POST,
            "/v2/resource_instances",
            A::InstancesCreate,
            OwnAccount,
            F::NewInstance,
        ),
        route(
            M::GET,
            "/v2/resource_instances",
            A::InstancesList,
            OwnAccount,
            F::Plain,
        ),
        route(
            M::GET,
            "/v2/resource_instances/{guid}",
            A::InstancesRead,
            OurAccountResource,
            F::OurInstance,
        ),
        route(
            M::DELETE,
            "/v2/resource_instances/{guid}",
            A::InstancesDelete,
            OurAccountResource,
            F::FreshInstance,
        ),
        route(
            M::GET,
            "/api/v2/audit/events",
            A::AuditEventsList,
            OwnAccount,
            F::Plain,
        ),
        route(
            M::POST,
            "/admin/test-clock",
            A::TestClockAdvance,
            OwnAccount,
            F::ClockBody,
        ),
        route(
            M::GET,
            "/v1/entitlements",
            A::ConfigsvcInstanceRead,
            Entitlements,
            F::Plain,
        ),
        route(
            M::GET,
            "/openscale/{instance}/v2/monitor_definitions",
            A::ConfigsvcMonitorDefinitionsList,
            Configsvc,
            F::ConfigInstance,
        ),
        route(
            M::GET,
            "/openscale/{instance}/v2/data_marts",
            A::ConfigsvcDataMartsList,
            Configsvc,
            F::ConfigInstance,
        ),
        route(
            M::GET,
            "/openscale/{instance}/v2/data_marts/{id}",
            A::ConfigsvcDataMartsRead,
            Configsvc,
            F::FreshDataMart,
        ),
        route(
            M::POST,
            "/openscale/{instance}/v2/data_marts",
            A::ConfigsvcDataMartsCreate,
            Configsvc,
            F::NewDataMart,
        ),
        route(
            M::PATCH,
            "/openscale/{instance}/v2/data_marts/{id}",
            A::ConfigsvcDataMartsUpdate,
            Configsvc,
            F::FreshDataMart,
        ),
        route(
            M::DELETE,
            "/openscale/{instance}/v2/data_marts/{id}",
            A::ConfigsvcDataMartsDelete,
            Configsvc,
            F::FreshDataMart,
        ),
        route(
            M::GET,
            "/openscale/{instance}/v2/service_providers",
            A::ConfigsvcServiceProvidersList,
            Configsvc,
            F::ConfigInstance,
        ),
        route(
            M::GET,
            "/openscale/{instance}/v2/service_providers/{id}",
            A::ConfigsvcServiceProvidersRead,
            Configsvc,
            F::FreshProvider,
        ),
        route(
            M::POST,
            "/openscale/{instance}/v2/service_providers",
            A::ConfigsvcServiceProvidersCreate,
            Configsvc,
            F::NewProvider,
        ),
        route(
            M::PATCH,
            "/openscale/{instance}/v2/service_providers/{id}",
            A::ConfigsvcServiceProvidersUpdate,
            Configsvc,
            F::FreshProvider,
        ),
        route(
            M::DELETE,
            "/openscale/{instance}/v2/service_providers/{id}",
            A::ConfigsvcServiceProvidersDelete,
            Configsvc,
            F::FreshProvider,
        ),
        route(
            M::GET,
            "/openscale/{instance}/v2/integrated_systems",
            A::ConfigsvcIntegratedSystemsList,
            Configsvc,
            F::ConfigInstance,
        ),
        route(
            M::GET,
            "/openscale/{instance}/v2/integrated_systems/{id}",
            A::ConfigsvcIntegratedSystemsRead,
            Configsvc,
            F::FreshSystem,
        ),
        route(
            M::POST,
            "/openscale/{instance}/v2/integrated_systems",
            A::ConfigsvcIntegratedSystemsCreate,
            Configsvc,
            F::NewSystem,
        ),
        route(
            M::PATCH,
            "/openscale/{instance}/v2/integrated_systems/{id}",
            A::ConfigsvcIntegratedSystemsUpdate,
            Configsvc,
            F::FreshSystem,
        ),
        route(
            M::DELETE,
            "/openscale/{instance}/v2/integrated_systems/{id}",
            A::ConfigsvcIntegratedSystemsDelete,
            Configsvc,
            F::FreshSystem,
        ),
        route(
            M::GET,
            "/openscale/{instance}/v2/user_preferences",
            A::ConfigsvcPreferencesRead,
            Configsvc,
            F::ConfigInstance,
        ),
        lenient(route(
            M::GET,
            "/openscale/{instance}/v2/user_preferences/user_root_key_crn",
            A::ConfigsvcPreferencesRead,
            Configsvc,
            F::ConfigInstance,
        )),
        route(
            M::PUT,
            "/openscale/{instance}/v2/user_preferences/user_root_key_crn",
            A::ConfigsvcPreferencesUpdate,
            Configsvc,
            F::RootKeyPreference,
        ),
        route(
            M::PATCH,
            "/openscale/{instance}/v2/user_preferences",
            A::ConfigsvcPreferencesUpdate,
            Configsvc,
            F::RootKeyPreferencePatch,
        ),
        route(
            M::DELETE,
            "/openscale/{instance}/v2/user_preferences/user_root_key_crn",
            A::ConfigsvcPreferencesDelete,
            Configsvc,
            F::FreshProtectedInstance,
        ),
        route(
            M::GET,
            "/openscale/{instance}/v2/secrets_check",
            A::ConfigsvcSecretsCheck,
            Configsvc,
            F::ConfigInstance,
        ),
    ]
}

/// The fixed resources of the world every case runs in.
struct World {
    server: TestServer,
    root_key: String,
    standard_key: String,
    ciphertext: String,
    config_instance: String,
    fixture_user: String,
    fixture_service_id: String,
    user_key: String,
    service_id_key: String,
    callers: Vec<Caller>,
}

/// Whether `caller` may perform `route` according to the role table.
fn expected_allowed(caller: &Caller, route: &Route) -> bool {
    let rule = route.action.rule();
    let any = |held: &[Role], wanted: &[Role]| held.iter().any(|r| wanted.contains(r));
    match &caller.holds {
        Holds::Nothing => false,
        Holds::Principal {
            ours,
            service_roles,
            iam_roles,
        } => match route.on {
            On::OwnAccount => any(iam_roles, rule.roles),
            On::OwnIdentity => {
                assert!(rule.self_service, "{} is not self-service", rule.name);
                true
            }
            On::OurAccountResource | On::OurIdentity => *ours && any(iam_roles, rule.roles),
            On::Kms => *ours && any(service_roles, rule.roles),
            On::Configsvc | On::Entitlements => {
                let grantable: Vec<Role> = service_roles
                    .iter()
                    .copied()
                    .filter(|r| r.grantable_on(ServiceKind::ConfigSvc))
                    .collect();
                *ours && any(&grantable, rule.roles)
            }
        },
        Holds::Service { authorized } => {
            route.on == On::Kms && *authorized && rule.authorized.contains(&Role::Reader)
        }
    }
}

impl World {
    fn call(&self, method: Method, path: &str, token: Option<&str>) -> common::Call {
        let call = self.server.call(method, path);
        match token {
            Some(t) => call.token(t),
            None => call.no_auth(),
        }
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut call = self.server.call(method, path);
        if let Some(b) = body {
            call = call.json(&b);
        }
        call.send().await
    }

    async fn fresh_key(&self) -> String {
        self.server.root_key("fixture").await
    }

    async fn fresh_api_key(&self, owner: &str, locked: bool) -> String {
        let id = self.server.create_api_key(None, Some(owner)).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        if locked {
            self.admin(Method::POST, &format!("/v1/apikeys/{id}/lock"), None)
                .await
                .expect_status(200);
        }
        id
    }

    async fn fresh_config_instance(&self) -> String {
        self.server.config_instance("fixture").await
    }

    async fn fresh_config_resource(&self, kind: &str) -> String {
        let body = config_body(kind);
        let r = self
            .admin(
                Method::POST,
                &format!("/openscale/{}/v2/{kind}", self.config_instance),
                Some(body),
            )
            .await
            .expect_status(201);
        r.json()["metadata"]["id"].as_str().unwrap().to_owned()
    }

    /// The concrete path and body of one case.
    async fn prepare(&self, route: &Route, caller: &Caller) -> (String, Option<Value>) {
        use Fixture as F;
        let t = route.template;
        let instance = &self.config_instance;
        match route.fixture {
            F::Plain => (t.to_owned(), None),
            F::RootKey => (
                t.replace("{id}", &self.root_key)
                    .replace("{root}", &self.root_key),
                None,
            ),
            F::StandardKey => (t.replace("{standard}", &self.standard_key), None),
            F::FreshKey => {
                let key = self.fresh_key().await;
                let body = (route.method == Method::PATCH).then(|| json!({"keyRingID": "default"}));
                (
                    t.replace("{id}", &key)
                        .replace("{alias}", &format!("a-{}", short())),
                    body,
                )
            }
            F::DualAuthKey => {
                let key = self.fresh_key().await;
                let policy = json!({"resources": [{"dualAuthDelete": {"enabled": true}}]});
                self.admin(
                    Method::PUT,
                    &format!("/api/v2/keys/{key}/policies"),
                    Some(policy.clone()),
                )
                .await
                .expect_status(200);
                let body = (route.method == Method::PUT).then_some(policy);
                (t.replace("{id}", &key), body)
            }
            F::FreshDisabledKey => {
                let key = self.fresh_key().await;
                self.server.action(&key, "disable").await.expect_status(204);
                self.server.advance(31);
                (t.replace("{id}", &key), None)
            }
            F::FreshDeletedKey | F::FreshPurgeableKey => {
                let key = self.fresh_key().await;
                self.admin(Method::DELETE, &format!("/api/v2/keys/{key}"), None)
                    .await
                    .expect_status(204);
                let wait = if matches!(route.fixture, F::FreshPurgeableKey) {
                    common::PAST_WINDOWS
                } else {
                    31
                };
                self.server.advance(wait);
                (t.replace("{id}", &key), None)
            }
            F::FreshAlias => {
                let key = self.fresh_key().await;
                let alias = format!("a-{}", short());
                self.admin(
                    Method::POST,
                    &format!("/api/v2/keys/{key}/aliases/{alias}"),
                    None,
                )
                .await
                .expect_status(201);
                (t.replace("{id}", &key).replace("{alias}", &alias), None)
            }
            F::NewRing => (t.replace("{ring}", &format!("ring-{}", short())), None),
            F::FreshRing => {
                let ring = format!("ring-{}", short());
                self.admin(Method::POST, &format!("/api/v2/key_rings/{ring}"), None)
                    .await
                    .expect_status(201);
                (t.replace("{ring}", &ring), None)
            }
            F::NewRegistration => {
                let crn = registration_crn();
                (
                    t.replace("{id}", &self.root_key).replace("{crn}", &crn),
                    None,
                )
            }
            F::FreshRegistration => {
                let crn = registration_crn();
                self.admin(
                    Method::POST,
                    &format!("/api/v2/keys/{}/registrations/{crn}", self.root_key),
                    None,
                )
                .await
                .expect_status(201);
                (
                    t.replace("{id}", &self.root_key).replace("{crn}", &crn),
                    None,
                )
            }
            F::NewKeyBody => (
                t.to_owned(),
                Some(key_collection(
                    json!({"type": KEY_TYPE, "name": "new", "extractable": false}),
                )),
            ),
            F::NewKeyWithOverrides => (
                t.to_owned(),
                Some(key_collection(json!({"type": KEY_TYPE, "name": "new",
                    "extractable": false, "rotation": {"enabled": true, "interval_month": 2},
                    "dualAuthDelete": {"enabled": false}}))),
            ),
            F::ImportTokenBody => (t.to_owned(), Some(json!({"maxAllowedRetrievals": 500}))),
            F::MetricsPolicy => (
                t.to_owned(),
                Some(json!({"resources": [{"policy_type": "metrics",
                    "policy_data": {"enabled": true}}]})),
            ),
            F::WrapBody => (t.replace("{id}", &self.root_key), Some(json!({}))),
            F::Ciphertext => (
                t.replace("{id}", &self.root_key),
                Some(json!({"ciphertext": self.ciphertext})),
            ),
            F::NewUser | F::NewServiceId => (t.to_owned(), Some(json!({"name": "new"}))),
            F::FreshUser => {
                let id = self
                    .server
                    .create_identity(PrincipalKind::User, "fixture")
                    .await;
                (t.replace("{id}", &id), None)
            }
            F::FreshServiceId => {
                let id = self
                    .server
                    .create_identity(PrincipalKind::ServiceId, "fixture")
                    .await;
                (t.replace("{id}", &id), None)
            }
            F::UserKeyFor => (
                t.to_owned(),
                Some(json!({"name": "k", "iam_id": self.fixture_user})),
            ),
            F::ServiceIdKeyFor => (
                t.to_owned(),
                Some(json!({"name": "k", "iam_id": self.fixture_service_id})),
            ),
            F::SelfKey => (t.to_owned(), Some(json!({"name": "mine"}))),
            F::UserKeys => (t.replace("{user}", &self.fixture_user), None),
            F::ServiceIdKeys => (t.replace("{serviceid}", &self.fixture_service_id), None),
            F::UserKey => (t.replace("{user key}", &self.user_key), None),
            F::ServiceIdKey => (t.replace("{serviceid key}", &self.service_id_key), None),
            F::FreshUserKey | F::FreshLockedUserKey => {
                let locked = matches!(route.fixture, F::FreshLockedUserKey);
                let key = self.fresh_api_key(&self.fixture_user, locked).await;
                (t.replace("{user key}", &key), None)
            }
            F::FreshServiceIdKey | F::FreshLockedServiceIdKey => {
                let locked = matches!(route.fixture, F::FreshLockedServiceIdKey);
                let key = self.fresh_api_key(&self.fixture_service_id, locked).await;
                (t.replace("{serviceid key}", &key), None)
            }
            F::PolicyForSelf => (
                t.to_owned(),
                Some(json!({"type": "access",
                    "subjects": [{"attributes": [{"name": "iam_id", "value": caller.iam_id}]}],
                    "roles": [{"role_id": "crn:v1:bluemix:public:iam::::role:Viewer"}],
                    "resources": [{"attributes": [{"name": "serviceName", "value": "iam"}]}]})),
            ),
            F::FreshPolicy => {
                let policy = self
                    .admin(
                        Method::POST,
                        "/v1/policies",
                        Some(json!({"type": "access",
                            "subjects": [{"attributes": [{"name": "iam_id", "value": self.fixture_user}]}],
                            "roles": [{"role_id": "crn:v1:bluemix:public:iam::::role:Viewer"}],
                            "resources": [{"attributes": [{"name": "serviceName", "value": "iam"}]}]})),
                    )
                    .await
                    .expect_status(201)
                    .json();
                (t.replace("{id}", policy["id"].as_str().unwrap()), None)
            }
            F::NewInstance => (t.to_owned(), Some(json!({"name": "new", "service": "kms"}))),
            F::OurInstance => (t.replace("{guid}", &self.server.instance), None),
            F::FreshInstance => {
                let guid = self
                    .admin(
                        Method::POST,
                        "/v2/resource_instances",
                        Some(json!({"name": "fixture", "service": "kms"})),
                    )
                    .await
                    .expect_status(201)
                    .json()["guid"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                (t.replace("{guid}", &guid), None)
            }
            F::ClockBody => (t.to_owned(), Some(json!({"advance_seconds": 0}))),
            F::ConfigInstance => (t.replace("{instance}", instance), None),
            F::NewDataMart => {
                let fresh = self.fresh_config_instance().await;
                (
                    t.replace("{instance}", &fresh),
                    Some(config_body("data_marts")),
                )
            }
            F::FreshDataMart => {
                let fresh = self.fresh_config_instance().await;
                self.admin(
                    Method::POST,
                    &format!("/openscale/{fresh}/v2/data_marts"),
                    Some(config_body("data_marts")),
                )
                .await
                .expect_status(201);
                let body = (route.method == Method::PATCH)
                    .then(|| json!([{"op": "replace", "path": "/description", "value": "x"}]));
                (
                    t.replace("{instance}", &fresh).replace("{id}", &fresh),
                    body,
                )
            }
            F::NewProvider => (
                t.replace("{instance}", instance),
                Some(config_body("service_providers")),
            ),
            F::NewSystem => (
                t.replace("{instance}", instance),
                Some(config_body("integrated_systems")),
            ),
            F::FreshProvider | F::FreshSystem => {
                let kind = if matches!(route.fixture, F::FreshProvider) {
                    "service_providers"
                } else {
                    "integrated_systems"
                };
                let id = self.fresh_config_resource(kind).await;
                let body = (route.method == Method::PATCH)
                    .then(|| json!([{"op": "replace", "path": "/description", "value": "x"}]));
                (t.replace("{instance}", instance).replace("{id}", &id), body)
            }
            F::RootKeyPreference | F::RootKeyPreferencePatch => {
                let fresh = self.fresh_config_instance().await;
                self.server
                    .authorize_configsvc(Some(&fresh), "Reader")
                    .await;
                let crn = self.server.crn_of(&self.root_key).await;
                let body = if matches!(route.fixture, F::RootKeyPreference) {
                    json!({"user_root_key_crn": crn})
                } else {
                    json!([{"op": "add", "path": "/user_root_key_crn", "value": crn}])
                };
                (t.replace("{instance}", &fresh), Some(body))
            }
            F::FreshProtectedInstance => {
                let fresh = self.fresh_config_instance().await;
                self.server
                    .authorize_configsvc(Some(&fresh), "Reader")
                    .await;
                let crn = self.server.crn_of(&self.root_key).await;
                self.server
                    .set_root_key(&fresh, &crn, None)
                    .await
                    .expect_status(200);
                (t.replace("{instance}", &fresh), None)
            }
        }
    }

    async fn run(&self, route: &Route, caller: &Caller) -> Result<(), Failed> {
        let (path, body) = self.prepare(route, caller).await;
        let mut call = self.call(route.method.clone(), &path, caller.token.as_deref());
        if let Some(b) = &body {
            call = call.json(b);
        }
        let reply = call.send().await;
        let status = reply.status.as_u16();
        let unauthenticated = matches!(caller.holds, Holds::Nothing);
        let allowed = !unauthenticated && expected_allowed(caller, route);
        let outcome = if route.on == On::Entitlements && status == 200 {
            let listed = reply.text().contains(&self.config_instance);
            if listed == allowed {
                return Ok(());
            }
            format!("listed: {listed}")
        } else if unauthenticated {
            if status == 401 {
                return Ok(());
            }
            format!("status {status}")
        } else if allowed {
            let ok = if route.lenient {
                ![401, 403].contains(&status)
            } else {
                (200..300).contains(&status)
            };
            if ok {
                return Ok(());
            }
            format!("status {status}")
        } else {
            if [403, 404].contains(&status) {
                return Ok(());
            }
            format!("status {status}")
        };
        let expected = if unauthenticated {
            "401"
        } else if allowed {
            "allowed"
        } else {
            "refused"
        };
        Err(format!(
            "expected {expected}, got {outcome}: {}",
            reply.text().chars().take(400).collect::<String>()
        )
        .into())
    }
}

fn short() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}

fn registration_crn() -> String {
    format!(
        "crn:v1:keyward:local:configsvc:local:a%2F0000:{}::",
        Uuid::new_v4()
    )
}

fn config_body(kind: &str) -> Value {
    match kind {
        "data_marts" => json!({"name": "dm", "description": "d",
            "database_configuration": {"database_type": "postgresql",
                "credentials": {"hostname": "127.0.0.1", "port": 9, "username": "u",
                    "password": "p", "db": "d"}}}),
        "service_providers" => json!({"name": "sp", "description": "d",
            "service_type": "custom_machine_learning",
            "credentials": {"url": "https://ml.example", "apikey": "k"}}),
        _ => json!({"name": "is", "description": "d", "type": "generic",
            "credentials": {"url": "https://is.example", "apikey": "k"}}),
    }
}

async fn token(server: &TestServer, apikey: &str, source: Option<&str>) -> String {
    let mut form = vec![("grant_type", APIKEY_GRANT), ("apikey", apikey)];
    if let Some(s) = source {
        form.push(("source_instance", s));
    }
    server
        .post("/identity/token")
        .no_auth()
        .no_instance()
        .form(&form)
        .send()
        .await
        .expect_status(200)
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn principal(
    server: &TestServer,
    name: &'static str,
    ours: bool,
    service_roles: &'static [Role],
    iam_roles: &'static [Role],
) -> Caller {
    let account = if ours {
        server.account.clone()
    } else {
        let other = keyward_iam::AccountId::new_random();
        server.store.create_account(&other, "other").await.unwrap();
        other
    };
    let mut grants = Vec::new();
    if !service_roles.is_empty() {
        grants.push(common::Grant {
            service: ServiceKind::Kms,
            instance: None,
            ring: None,
            roles: service_roles,
        });
    }
    let configsvc_roles: &'static [Role] = match service_roles {
        [Role::Reader] => &[Role::Reader],
        [Role::Writer] => &[Role::Writer],
        [Role::Manager, ..] => &[Role::Manager],
        _ => &[],
    };
    if !configsvc_roles.is_empty() {
        grants.push(common::Grant {
            service: ServiceKind::ConfigSvc,
            instance: None,
            ring: None,
            roles: configsvc_roles,
        });
    }
    if !iam_roles.is_empty() {
        grants.push(common::Grant {
            service: ServiceKind::Iam,
            instance: None,
            ring: None,
            roles: iam_roles,
        });
    }
    let user = server
        .principal(&account, PrincipalKind::User, &grants)
        .await;
    Caller {
        name,
        token: Some(user.token),
        iam_id: user.iam_id,
        holds: Holds::Principal {
            ours,
            service_roles,
            iam_roles,
        },
    }
}

async fn world() -> World {
    let server = TestServer::start().await;
    let root_key = server.root_key("shared-root").await;
    let standard_key = server.standard_key("shared-standard").await;
    let (ciphertext, _, _) = server.wrap_new(&root_key).await;
    let config_instance = server.config_instance("shared").await;

    let mut callers = vec![Caller {
        name: "no token",
        token: None,
        iam_id: String::new(),
        holds: Holds::Nothing,
    }];
    callers.push(Caller {
        name: "expired token",
        token: Some(server.expired_admin_token().await),
        iam_id: String::new(),
        holds: Holds::Nothing,
    });
    let doomed = server.user(&[Role::Manager], None).await;
    let doomed_key = server
        .get(&format!("/v1/apikeys?iam_id={}", doomed.iam_id))
        .no_instance()
        .send()
        .await
        .expect_status(200)
        .json()["apikeys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .delete(&format!("/v1/apikeys/{doomed_key}"))
        .no_instance()
        .send()
        .await
        .expect_status(204);
    callers.push(Caller {
        name: "token of a deleted key",
        token: Some(doomed.token),
        iam_id: doomed.iam_id,
        holds: Holds::Nothing,
    });
    use Role::*;
    callers.push(
        principal(
            &server,
            "another account's administrator",
            false,
            &[Manager, KeyPurge],
            &[Administrator],
        )
        .await,
    );
    for (name, roles) in [
        ("Reader", &[Reader][..]),
        ("ReaderPlus", &[ReaderPlus][..]),
        ("Writer", &[Writer][..]),
        ("Manager", &[Manager][..]),
        ("KeyPurge", &[KeyPurge][..]),
    ] {
        callers.push(principal(&server, name, true, roles, &[]).await);
    }
    for (name, roles) in [
        ("Viewer", &[Viewer][..]),
        ("Operator", &[Operator][..]),
        ("Editor", &[Editor][..]),
        ("Administrator", &[Administrator][..]),
    ] {
        callers.push(principal(&server, name, true, &[], roles).await);
    }
    callers.push(principal(&server, "a user without roles", true, &[], &[]).await);

    // The configuration service's own id, with a key made for the test.
    let raw = server.store.setting("configsvc").await.unwrap().unwrap();
    let record: Value = serde_json::from_slice(&raw).unwrap();
    let service_iam_id = record["service_iam_id"].as_str().unwrap().to_owned();
    let secret = ApiKeySecret::generate().unwrap();
    server
        .store
        .create_api_key(&ApiKeyRecord {
            id: Uuid::new_v4(),
            iam_id: service_iam_id.clone(),
            name: "matrix".into(),
            hash: secret.hash(),
            created_at: time::OffsetDateTime::now_utc(),
            locked: false,
        })
        .await
        .unwrap();
    let authorized_tenant = server.config_instance("authorized tenant").await;
    let other_tenant = server.config_instance("tenant outside the scope").await;
    let (foreign_tenant, _) = server.foreign_instance_of(ServiceKind::ConfigSvc).await;
    server
        .authorize_configsvc(Some(&authorized_tenant), "Reader")
        .await;
    for (name, tenant, authorized) in [
        (
            "configsvc acting for an authorized tenant",
            &authorized_tenant,
            true,
        ),
        (
            "configsvc acting for a tenant outside the authorization's scope",
            &other_tenant,
            false,
        ),
        (
            "configsvc acting for another account's tenant",
            &foreign_tenant,
            false,
        ),
    ] {
        callers.push(Caller {
            name,
            token: Some(token(&server, secret.expose_secret(), Some(tenant)).await),
            iam_id: service_iam_id.clone(),
            holds: Holds::Service { authorized },
        });
    }

    let fixture_user = server
        .create_identity(PrincipalKind::User, "fixture user")
        .await;
    let fixture_service_id = server
        .create_identity(PrincipalKind::ServiceId, "fixture service id")
        .await;
    let mut world = World {
        server,
        root_key,
        standard_key,
        ciphertext,
        config_instance,
        fixture_user: fixture_user.clone(),
        fixture_service_id: fixture_service_id.clone(),
        user_key: String::new(),
        service_id_key: String::new(),
        callers,
    };
    world.user_key = world.fresh_api_key(&fixture_user, false).await;
    world.service_id_key = world.fresh_api_key(&fixture_service_id, false).await;
    world
}

fn main() {
    let args = Arguments::from_args();
    let runtime = Arc::new(Runtime::new().expect("a tokio runtime"));
    let world = Arc::new(runtime.block_on(world()));
    let routes = Arc::new(routes());

    let covered: HashSet<Action> = routes.iter().map(|r| r.action).collect();
    let missing: Vec<&str> = Action::ALL
        .iter()
        .filter(|a| !covered.contains(a))
        .map(|a| a.name())
        .collect();
    let mut trials = vec![Trial::test(
        "every action of the role table has a route here",
        move || {
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("no route for {missing:?}").into())
            }
        },
    )];
    for (r, route) in routes.iter().enumerate() {
        for (c, caller) in world.callers.iter().enumerate() {
            let name = format!(
                "{} {} {} :: {}",
                route.action.name(),
                route.method,
                route.template,
                caller.name
            );
            let (world, routes, runtime) = (
                Arc::clone(&world),
                Arc::clone(&routes),
                Arc::clone(&runtime),
            );
            trials.push(Trial::test(name, move || {
                runtime.block_on(world.run(&routes[r], &world.callers[c]))
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
