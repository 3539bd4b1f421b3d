//! Test harness for the HTTP tests: builds the real application on a temporary data directory
//! with the test clock, gets an admin token through `/identity/token`, and drives the router
//! with `tower::ServiceExt::oneshot` (no socket).
//!
//! Each test binary uses a different part of the harness.
#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use keyward_iam::{
    AccountId, ApiKeyRecord, ApiKeySecret, Claims, IamStore, Instance, Policy, PolicyResource,
    Principal, PrincipalKind, Role, ServiceKind, Subject, TokenSigner,
};
use keyward_kms::{Clock, KmsConfig, OffsetClock};
use keyward_server::{ServeSettings, build};
use keyward_store::Store;
use serde_json::{Value, json};
use tempfile::TempDir;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub mod byok;
pub mod database;
pub mod fault_proxy;
pub mod race;
mod request;

pub use request::{Call, Reply};

/// `collectionType` of keys.
pub const KEY_TYPE: &str = "application/vnd.ibm.kms.key+json";
/// `collectionType` of errors.
pub const ERROR_TYPE: &str = "application/vnd.ibm.kms.error+json";
/// `collectionType` of key versions.
pub const VERSION_TYPE: &str = "application/vnd.ibm.kms.key.version+json";
/// `collectionType` of key rings.
pub const KEY_RING_TYPE: &str = "application/vnd.ibm.kms.key_ring+json";
/// The IAM API-key grant.
pub const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";

/// Seconds past every waiting window but the 30-day restore window: 30 s (enable, restore),
/// 1 h (rotation) and 4 h (purge).
pub const PAST_WINDOWS: i64 = 5 * 3600;

/// A running application with its admin.
pub struct TestServer {
    /// The router under test.
    pub router: Router,
    /// The store behind it (for creating identities directly).
    pub store: Store,
    /// The test clock every KMS rule reads.
    pub clock: Arc<OffsetClock>,
    /// The bootstrap KMS instance.
    pub instance: String,
    /// The bootstrap account.
    pub account: AccountId,
    /// The admin's IAM id.
    pub admin_iam_id: String,
    /// A token of the admin (Manager + KeyPurge on the instance, Administrator on IAM).
    pub admin_token: String,
    /// The application's shared state.
    pub state: keyward_server::state::SharedState,
    /// The bootstrap configuration-service instance.
    pub config_instance: String,
    /// The data directory (kept alive as long as the server).
    pub dir: TempDir,
    /// The settings it was built with.
    pub settings: ServeSettings,
}

/// A server just built, with the admin key of a first start.
struct Built {
    server: TestServer,
    new_admin_key: Option<ApiKeySecret>,
}

/// The dates a server may write `seconds` after something it did, from before it to now.
pub struct DateWindow {
    seconds: i64,
    earliest: String,
}

impl DateWindow {
    /// Checks that `value` is an RFC 3339 date inside the window, which ends now.
    pub fn assert_holds(&self, server: &TestServer, value: &Value) {
        let latest = server.date_in(self.seconds);
        let date = value
            .as_str()
            .unwrap_or_else(|| panic!("{value} is not a date"));
        assert!(
            (self.earliest.as_str()..=latest.as_str()).contains(&date),
            "{date} is not between {} and {latest}",
            self.earliest
        );
    }
}

/// A credential created for a test principal.
pub struct TestUser {
    /// IAM id.
    pub iam_id: String,
    /// Its API key.
    pub apikey: String,
    /// A bearer token for it.
    pub token: String,
}

impl TestServer {
    /// Builds a server with the test clock.
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// Builds a server, with or without the test clock.
    pub async fn start_with(unsafe_test_clock: bool) -> Self {
        Self::start_configured(unsafe_test_clock, KmsConfig::default()).await
    }

    /// Builds a server with the test clock and the given KMS tunables.
    pub async fn start_with_kms(kms: KmsConfig) -> Self {
        Self::start_configured(true, kms).await
    }

    async fn start_configured(unsafe_test_clock: bool, kms: KmsConfig) -> Self {
        Self::start_adjusted(|s| ServeSettings {
            unsafe_test_clock,
            kms,
            ..s
        })
        .await
    }

    /// Builds a server from the harness's settings (test clock, no rate limits) as `adjust`
    /// changes them.
    pub async fn start_adjusted(adjust: impl FnOnce(ServeSettings) -> ServeSettings) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        // The rate limits have their own test (http_edge); the suites here send fixtures fast.
        let edge = keyward_server::EdgeSettings {
            principal_rate: keyward_server::rate_limit::Rate::UNLIMITED,
            token_rate: keyward_server::rate_limit::Rate::UNLIMITED,
            ..Default::default()
        };
        let settings = adjust(ServeSettings {
            unsafe_test_clock: true,
            edge,
            ..ServeSettings::new(dir.path().join("data"))
        });
        let mut server = Self::build_on(dir, settings).await;
        let apikey = server
            .new_admin_key
            .take()
            .expect("first start creates an admin key");
        server.server.admin_token = server.server.token_for(apikey.expose_secret()).await;
        server.server
    }

    /// Another node of this server: the same (PostgreSQL) database and master key, a data
    /// directory and clock of its own (set to this node's time), and the same admin token.
    pub async fn another_node(&self) -> Self {
        assert!(
            self.settings.database_url.is_some(),
            "several nodes need PostgreSQL"
        );
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data directory");
        std::fs::copy(
            self.settings.data_dir.join("master.key"),
            data.join("master.key"),
        )
        .expect("copy the master key");
        let settings = ServeSettings {
            data_dir: data,
            ..self.settings.clone()
        };
        let mut node = Self::build_on(dir, settings).await.server;
        node.clock.advance(self.now() - node.now());
        node.admin_token = self.admin_token.clone();
        node
    }

    async fn build_on(dir: TempDir, settings: ServeSettings) -> Built {
        let app = build(&settings).await.expect("the application builds");
        let clock = app
            .test_clock
            .unwrap_or_else(|| Arc::new(OffsetClock::new()));
        Built {
            new_admin_key: app.new_admin_key,
            server: Self {
                router: app.router,
                store: app.store,
                clock,
                instance: app.info.kms_instance_id.clone(),
                account: app.info.account_id.parse().expect("account id"),
                admin_iam_id: app.info.admin_iam_id.clone(),
                admin_token: String::new(),
                state: app.state,
                config_instance: app.info.config_instance_id.clone(),
                dir,
                settings,
            },
        }
    }

    /// Exchanges an API key for a token through `/identity/token`.
    pub async fn token_for(&self, apikey: &str) -> String {
        let reply = self
            .post("/identity/token")
            .no_auth()
            .no_instance()
            .form(&[("grant_type", APIKEY_GRANT), ("apikey", apikey)])
            .send()
            .await
            .expect_status(200);
        reply.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A request with the admin's token and the bootstrap instance.
    pub fn call(&self, method: Method, uri: &str) -> Call {
        Call::new(
            self.router.clone(),
            method,
            uri,
            Some(format!("Bearer {}", self.admin_token)),
            Some(self.instance.clone()),
        )
    }

    /// `GET`.
    pub fn get(&self, uri: &str) -> Call {
        self.call(Method::GET, uri)
    }
    /// `HEAD`.
    pub fn head(&self, uri: &str) -> Call {
        self.call(Method::HEAD, uri)
    }
    /// `POST`.
    pub fn post(&self, uri: &str) -> Call {
        self.call(Method::POST, uri)
    }
    /// `PATCH`.
    pub fn patch(&self, uri: &str) -> Call {
        self.call(Method::PATCH, uri)
    }
    /// `DELETE`.
    pub fn delete(&self, uri: &str) -> Call {
        self.call(Method::DELETE, uri)
    }

    /// Moves the KMS clock forward.
    pub fn advance(&self, seconds: i64) {
        self.clock.advance(Duration::seconds(seconds));
    }

    /// The KMS time.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// An RFC 3339 date `seconds` from the KMS time.
    pub fn date_in(&self, seconds: i64) -> String {
        (self.now() + Duration::seconds(seconds))
            .replace_nanosecond(0)
            .expect("whole seconds")
            .format(&Rfc3339)
            .expect("RFC 3339")
    }

    /// Opens a window on the date `seconds` from the KMS time; close it with
    /// [`DateWindow::assert_holds`] once the server has written its date. The test clock follows
    /// real time from its offset, so a date the server took lies between the window's ends.
    pub fn date_window(&self, seconds: i64) -> DateWindow {
        DateWindow {
            seconds,
            earliest: self.date_in(seconds),
        }
    }

    /// Creates a key from one resource; returns the created resource.
    pub async fn create(&self, resource: Value) -> Value {
        self.post("/api/v2/keys")
            .header("content-type", KEY_TYPE)
            .json(&key_collection(resource))
            .send()
            .await
            .expect_status(201)
            .resource()
    }

    /// Creates a generated root key; returns its id.
    pub async fn root_key(&self, name: &str) -> String {
        id_of(
            &self
                .create(json!({"type": KEY_TYPE, "name": name, "extractable": false}))
                .await,
        )
    }

    /// Creates a generated standard key; returns its id.
    pub async fn standard_key(&self, name: &str) -> String {
        id_of(
            &self
                .create(json!({"type": KEY_TYPE, "name": name, "extractable": true}))
                .await,
        )
    }

    /// Creates a root key that expires `seconds` from now; returns its id.
    pub async fn expiring_root_key(&self, name: &str, seconds: i64) -> String {
        let resource = json!({
            "type": KEY_TYPE, "name": name, "extractable": false,
            "expirationDate": self.date_in(seconds),
        });
        id_of(&self.create(resource).await)
    }

    /// Wraps a generated DEK; returns `(ciphertext, plaintext, key version)`.
    pub async fn wrap_new(&self, key: &str) -> (String, String, String) {
        let v = self
            .post(&format!("/api/v2/keys/{key}/actions/wrap"))
            .send()
            .await
            .expect_status(200)
            .json();
        (
            str_of(&v["ciphertext"]),
            str_of(&v["plaintext"]),
            str_of(&v["keyVersion"]["id"]),
        )
    }

    /// The key's metadata resource.
    pub async fn metadata(&self, key: &str) -> Value {
        self.get(&format!("/api/v2/keys/{key}/metadata"))
            .send()
            .await
            .expect_status(200)
            .resource()
    }

    /// The key's effective state.
    pub async fn state(&self, key: &str) -> i64 {
        self.metadata(key)
            .await
            .get("state")
            .and_then(Value::as_i64)
            .expect("state")
    }

    /// Runs `/actions/{action}` with no body.
    pub async fn action(&self, key: &str, action: &str) -> Reply {
        self.post(&format!("/api/v2/keys/{key}/actions/{action}"))
            .send()
            .await
    }

    /// Creates a principal of the bootstrap account with `roles` on the bootstrap instance
    /// (on one ring when `ring` is given), and gets its token.
    pub async fn user(&self, roles: &[Role], ring: Option<&str>) -> TestUser {
        let instance: Uuid = self.instance.parse().expect("instance uuid");
        self.user_in(&self.account, Some(instance), roles, ring)
            .await
    }

    /// Creates a principal of `account` with `roles` on `instance` (all roles on every
    /// instance when `None`; no policy at all when `roles` is empty), and gets its token.
    pub async fn user_in(
        &self,
        account: &AccountId,
        instance: Option<Uuid>,
        roles: &[Role],
        ring: Option<&str>,
    ) -> TestUser {
        let grants = if roles.is_empty() {
            vec![]
        } else {
            vec![Grant {
                service: ServiceKind::Kms,
                instance,
                ring,
                roles,
            }]
        };
        self.principal(account, PrincipalKind::User, &grants).await
    }

    /// A user of the bootstrap account with platform `roles` on IAM (none when empty).
    pub async fn iam_user(&self, roles: &[Role]) -> TestUser {
        let grants = if roles.is_empty() {
            vec![]
        } else {
            vec![Grant {
                service: ServiceKind::Iam,
                instance: None,
                ring: None,
                roles,
            }]
        };
        self.principal(&self.account, PrincipalKind::User, &grants)
            .await
    }

    /// Creates a principal of `account` of `kind` with `grants`, an API key, and a token.
    pub async fn principal(
        &self,
        account: &AccountId,
        kind: PrincipalKind,
        grants: &[Grant<'_>],
    ) -> TestUser {
        let now = OffsetDateTime::now_utc();
        let principal =
            Principal::new(account.clone(), kind, "test principal", now).expect("principal");
        self.store
            .create_principal(&principal)
            .await
            .expect("create principal");
        let apikey = ApiKeySecret::generate().expect("api key");
        self.store
            .create_api_key(&ApiKeyRecord {
                id: Uuid::new_v4(),
                iam_id: principal.iam_id.clone(),
                name: "test key".into(),
                hash: apikey.hash(),
                created_at: now,
                locked: false,
            })
            .await
            .expect("create api key");
        for g in grants {
            self.store
                .create_policy(&Policy {
                    id: Uuid::new_v4(),
                    account: account.clone(),
                    subject: Subject::Principal(principal.iam_id.clone()),
                    roles: g.roles.to_vec(),
                    resource: PolicyResource {
                        service: g.service,
                        instance: g.instance,
                        key_ring: g.ring.map(str::to_owned),
                    },
                    created_at: now,
                })
                .await
                .expect("create policy");
        }
        self.forget_decisions();
        let token = self.token_for(apikey.expose_secret()).await;
        TestUser {
            iam_id: principal.iam_id,
            apikey: apikey.expose_secret().to_owned(),
            token,
        }
    }

    /// Makes the server see policies written directly to the store at once (a change made
    /// through the API does this itself).
    pub fn forget_decisions(&self) {
        self.state.iam.invalidate();
    }

    /// Creates another account with its own KMS instance and a Manager there; returns the
    /// instance id and that manager.
    pub async fn foreign_instance(&self) -> (String, TestUser) {
        self.foreign_instance_of(ServiceKind::Kms).await
    }

    /// Creates another account with its own instance of `service` and a Manager there; returns
    /// the instance id and that manager.
    pub async fn foreign_instance_of(&self, service: ServiceKind) -> (String, TestUser) {
        let account = AccountId::new_random();
        self.store
            .create_account(&account, "other")
            .await
            .expect("create account");
        let instance = Instance {
            id: Uuid::new_v4(),
            account: account.clone(),
            service,
            name: "other".into(),
            created_at: OffsetDateTime::now_utc(),
        };
        self.store
            .create_instance(&instance)
            .await
            .expect("create instance");
        let grant = Grant {
            service,
            instance: Some(instance.id),
            ring: None,
            roles: &[Role::Manager],
        };
        let manager = self
            .principal(&account, PrincipalKind::User, &[grant])
            .await;
        (instance.id.to_string(), manager)
    }

    /// Creates a user or service id through the API as the admin; returns its IAM id.
    pub async fn create_identity(&self, kind: PrincipalKind, name: &str) -> String {
        let path = match kind {
            PrincipalKind::User => "/v1/users",
            PrincipalKind::ServiceId => "/v1/serviceids",
        };
        str_of(
            &self
                .post(path)
                .no_instance()
                .json(&json!({ "name": name }))
                .send()
                .await
                .expect_status(201)
                .json()["iam_id"],
        )
    }

    /// Creates an API key through `/v1/apikeys` as `token` (the admin when `None`) for `owner`
    /// (the caller when `None`); returns the created key (its `id` and, once, `apikey`).
    pub async fn create_api_key(&self, token: Option<&str>, owner: Option<&str>) -> Value {
        let mut body = json!({"name": "test key"});
        if let Some(owner) = owner {
            body["iam_id"] = json!(owner);
        }
        let mut call = self.post("/v1/apikeys").no_instance().json(&body);
        if let Some(t) = token {
            call = call.token(t);
        }
        call.send().await.expect_status(201).json()
    }

    /// A configuration-service instance of the bootstrap account (the admin manages it).
    pub async fn config_instance(&self, name: &str) -> String {
        self.post("/v2/resource_instances")
            .no_instance()
            .json(&json!({"name": name, "service": "configsvc"}))
            .send()
            .await
            .expect_status(201)
            .json()["guid"]
            .as_str()
            .expect("guid")
            .to_owned()
    }

    /// The CRN of a key of the bootstrap KMS instance.
    pub async fn crn_of(&self, key: &str) -> String {
        str_of(&self.metadata(key).await["crn"])
    }

    /// A service-to-service authorization in the bootstrap account: the configuration service
    /// (every instance of the account, or `source` only) may use keys of the bootstrap KMS
    /// instance with `role`.
    pub async fn authorize_configsvc(&self, source: Option<&str>, role: &str) -> Value {
        let mut subject = vec![json!({"name": "serviceName", "value": "configsvc"})];
        subject.extend(source.map(|s| json!({"name": "serviceInstance", "value": s})));
        self.post("/v1/policies")
            .no_instance()
            .json(&json!({"type": "authorization",
                "subjects": [{"attributes": subject}],
                "roles": [{"role_id": role}],
                "resources": [{"attributes": [
                    {"name": "serviceName", "value": "kms"},
                    {"name": "serviceInstance", "value": self.instance}]}]}))
            .send()
            .await
            .expect_status(201)
            .json()
    }

    /// A new configuration-service instance protected by a new root key of the bootstrap KMS
    /// instance (the service authorized as Reader on it, the switch finished).
    pub async fn customer_tenant(&self) -> CustomerTenant {
        let id = self.config_instance("tenant").await;
        let tenant = keyward_secrets::TenantId(id.parse().expect("tenant id"));
        let key = self.root_key("customer").await;
        let crn = self.crn_of(&key).await;
        self.authorize_configsvc(None, "Reader").await;
        self.set_root_key(&id, &crn, None).await.expect_status(200);
        let root = keyward_secrets::RootKey::Customer(crn.parse().expect("CRN"));
        byok::wait_switched_state(&self.state, tenant, &root).await;
        CustomerTenant {
            id,
            tenant,
            key,
            crn,
            root,
        }
    }

    /// `PUT /openscale/{instance}/v2/user_preferences/user_root_key_crn` as `token` (the admin's
    /// when `None`).
    pub async fn set_root_key(&self, instance: &str, crn: &str, token: Option<&str>) -> Reply {
        let mut call = self
            .call(
                Method::PUT,
                &format!("/openscale/{instance}/v2/user_preferences/user_root_key_crn"),
            )
            .no_instance()
            .json(&json!({ "user_root_key_crn": crn }));
        if let Some(t) = token {
            call = call.token(t);
        }
        call.send().await
    }

    /// A correctly signed token of the admin that expired an hour ago.
    pub async fn expired_admin_token(&self) -> String {
        let issued = OffsetDateTime::now_utc() - Duration::hours(2);
        self.admin_token_issued_at(issued).await
    }

    /// A token of the admin signed with the server's keys, issued at `issued`.
    pub async fn admin_token_issued_at(&self, issued: OffsetDateTime) -> String {
        let data_dir = self.dir.path().join("data");
        let master =
            keyward_server::bootstrap::load_or_create_master_key(&data_dir).expect("master key");
        let keys = keyward_server::signing_keys::load(&self.store, &master)
            .await
            .expect("signing keys");
        let signer = TokenSigner::new(keys).expect("signer");
        let admin = self
            .store
            .find_principal(&self.admin_iam_id)
            .await
            .expect("find admin")
            .expect("admin exists");
        let key = self
            .store
            .list_api_keys(&self.admin_iam_id)
            .await
            .expect("admin keys")
            .first()
            .map(|k| k.id)
            .expect("the admin has a key");
        signer
            .issue(&Claims::for_principal(&admin, key, issued))
            .expect("issue")
    }
}

/// Roles granted to a test principal on one resource.
pub struct Grant<'a> {
    /// The service.
    pub service: ServiceKind,
    /// One instance, or all of the account.
    pub instance: Option<Uuid>,
    /// One key ring.
    pub ring: Option<&'a str>,
    /// The roles.
    pub roles: &'a [Role],
}

/// `{"metadata": ..., "resources": [resource]}` of the key type.
pub fn key_collection(resource: Value) -> Value {
    json!({
        "metadata": {"collectionType": KEY_TYPE, "collectionTotal": 1},
        "resources": [resource],
    })
}

/// A configuration-service instance under a customer's root key ([`TestServer::customer_tenant`]).
pub struct CustomerTenant {
    /// The instance's GUID, as the API names it.
    pub id: String,
    /// The same, as the secrets library names it.
    pub tenant: keyward_secrets::TenantId,
    /// The root key's id.
    pub key: String,
    /// The root key's CRN.
    pub crn: String,
    /// The root key, as the secrets library names it.
    pub root: keyward_secrets::RootKey,
}

/// The `id` of a key resource.
pub fn id_of(resource: &Value) -> String {
    str_of(&resource["id"])
}

/// A JSON string value.
pub fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_owned()
}

/// Path of a key.
pub fn key_path(key: &str) -> String {
    format!("/api/v2/keys/{key}")
}
