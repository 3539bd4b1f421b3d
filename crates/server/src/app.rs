//! Composition: settings → store, master key, services, router; and serving until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use keyward_iam::{IamStore, TokenSigner};
use keyward_kms::{Clock, CrnScheme, Kms, KmsConfig, OffsetClock, SystemClock};
use keyward_store::Store;
use time::OffsetDateTime;
use tokio::net::TcpListener;

use crate::bootstrap::{self, BootstrapError, BootstrapInfo};
use crate::iam_service::IamService;
use crate::key_provider::{GlobalKey, LocalKmsProvider, resource_crn_scheme};
use crate::listener::{self, ConnectionLimits};
use crate::rate_limit::{Rate, RateLimiter};
use crate::routes;
use crate::signing_keys;
use crate::state::AppState;
use crate::tls::{self, CertStore, TlsFiles};
use keyward_configsvc::ConfigService;
use keyward_secrets::{Endpoint, KeyProtectProvider, Secrets, SecretsConfig, WrappedBy};
use keyward_store::{NetworkPolicy, PgPreparer};

/// Validated settings of `keyward serve`.
#[derive(Clone, Debug)]
pub struct ServeSettings {
    /// Data directory (master key, SQLite file, bootstrap files).
    pub data_dir: PathBuf,
    /// Listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// PostgreSQL URL; the embedded SQLite file when `None`.
    pub database_url: Option<String>,
    /// Expose `POST /admin/test-clock` (tests only).
    pub unsafe_test_clock: bool,
    /// Serve the API on this address too, as the private endpoint: an instance with an
    /// `allowedNetwork: private-only` policy is served there only. `None`: no private endpoint.
    pub private_listen: Option<SocketAddr>,
    /// Serve `GET /metrics` (Prometheus text) on this address, plain HTTP, apart from the API:
    /// the figures are node-wide, across tenants. `None`: not served.
    pub metrics_listen: Option<SocketAddr>,
    /// Run the rotation scheduler in the background (tests that run it step by step turn it
    /// off and call [`crate::rotation_scheduler::run_once`]).
    pub schedule_rotations: bool,
    /// CRN parameters.
    pub crn: CrnScheme,
    /// KMS tunables.
    pub kms: KmsConfig,
    /// Secrets (configuration service) tunables.
    pub secrets: SecretsConfig,
    /// Key Protect endpoints the configuration service calls over HTTP for customer keys of
    /// their CRN cname and region (`url` `self` = this server); other keys of this server's own
    /// KMS are used in process.
    pub kms_endpoints: Vec<KmsEndpoint>,
    /// How often the token signing key changes.
    pub token_key_rotation: std::time::Duration,
    /// Where auto setup (`internal_database`) provisions data mart roles and schemas: a
    /// PostgreSQL database of the operator's choosing, never Keyward's own.
    pub provisioning_database_url: Option<String>,
    /// The networks data mart connections may reach (link-local and metadata addresses never).
    pub data_mart_networks: NetworkPolicy,
    /// Timeouts and rate limits at the edge.
    pub edge: EdgeSettings,
    /// Serve HTTPS with this certificate and key (reloaded on SIGHUP).
    pub tls: Option<TlsFiles>,
    /// Allow plain HTTP on a non-loopback address (behind a TLS proxy).
    pub insecure_http: bool,
    /// PEM file of CA certificates trusted, besides the public roots, for `kms_endpoints`.
    pub kms_ca_file: Option<PathBuf>,
    /// How long one attempt at a `kms_endpoints` call may take (a timed-out attempt is not
    /// retried).
    pub kms_timeout: std::time::Duration,
    /// When calls to a `kms_endpoints` endpoint that keeps failing are refused at once.
    pub kms_breaker: keyward_secrets::BreakerPolicy,
    /// When the audit trail signs a checkpoint.
    pub audit_checkpoints: crate::audit::CheckpointPolicy,
    /// How old a change's provisional audit event must be before it is moved into the chain as
    /// it is (its request never recorded its final event: the node stopped). Longer than any
    /// request runs.
    pub audit_pending_grace: std::time::Duration,
    /// Where the master key is.
    pub master_key: bootstrap::MasterKeySource,
}

/// Timeouts and rate limits at the edge (documented defaults in the README).
#[derive(Clone, Copy, Debug)]
pub struct EdgeSettings {
    /// Longest a client may take to send a request's headers (default 10 s).
    pub header_read_timeout: std::time::Duration,
    /// Longest a request may take, body included (default 30 s); then 408.
    pub request_timeout: std::time::Duration,
    /// Requests per principal (default 2000/s sustained, bursts of 4000).
    pub principal_rate: Rate,
    /// Token requests per client address (default 50/s, bursts of 100).
    pub token_rate: Rate,
}

impl Default for EdgeSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: std::time::Duration::from_secs(10),
            request_timeout: std::time::Duration::from_secs(30),
            principal_rate: Rate::per_second(2000),
            token_rate: Rate::per_second(50),
        }
    }
}

impl ServeSettings {
    /// This server's URL at `addr`: `https` with a certificate.
    pub fn url_of(&self, addr: SocketAddr) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{addr}")
    }

    /// The defaults of `keyward serve` on `data_dir`, listening on a free loopback port.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: None,
            unsafe_test_clock: false,
            schedule_rotations: true,
            metrics_listen: None,
            private_listen: None,
            crn: CrnScheme::default(),
            kms: KmsConfig::default(),
            secrets: SecretsConfig::default(),
            kms_endpoints: Vec::new(),
            token_key_rotation: signing_keys::DEFAULT_ROTATION,
            provisioning_database_url: None,
            data_mart_networks: NetworkPolicy::default(),
            edge: EdgeSettings::default(),
            tls: None,
            insecure_http: false,
            kms_ca_file: None,
            kms_timeout: std::time::Duration::from_secs(10),
            kms_breaker: keyward_secrets::BreakerPolicy::default(),
            audit_checkpoints: crate::audit::CheckpointPolicy::default(),
            audit_pending_grace: std::time::Duration::from_secs(120),
            master_key: bootstrap::MasterKeySource::File,
        }
    }
}

/// One Key Protect endpoint for customer keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsEndpoint {
    /// CRN cname.
    pub cname: String,
    /// CRN region.
    pub region: String,
    /// Base URL (also used for `/identity/token`), or `self`.
    pub url: String,
}

impl std::str::FromStr for KmsEndpoint {
    type Err = String;
    /// `cname:region=url`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (scope, url) = s.split_once('=').ok_or("expected cname:region=url")?;
        let (cname, region) = scope.split_once(':').ok_or("expected cname:region=url")?;
        if cname.is_empty() || region.is_empty() || url.is_empty() {
            return Err("expected cname:region=url".into());
        }
        Ok(Self {
            cname: cname.to_owned(),
            region: region.to_owned(),
            url: url.trim_end_matches('/').to_owned(),
        })
    }
}

/// A built application, ready to serve.
pub struct App {
    /// The router.
    pub router: Router,
    /// Non-secret bootstrap facts.
    pub info: BootstrapInfo,
    /// The admin API key, on first start only.
    pub new_admin_key: Option<keyward_iam::ApiKeySecret>,
    /// The store.
    pub store: Store,
    /// The test clock, when `unsafe_test_clock` is set.
    pub test_clock: Option<Arc<OffsetClock>>,
    /// The shared state (tests and the demo drive services directly).
    pub state: crate::state::SharedState,
}

impl App {
    /// The bootstrap admin as a caller.
    pub async fn admin(&self) -> Result<keyward_iam::Caller, BootstrapError> {
        let admin = self
            .store
            .find_principal(&self.info.admin_iam_id)
            .await?
            .ok_or_else(|| BootstrapError::Setup("the bootstrap admin is missing".into()))?;
        Ok(keyward_iam::Caller::principal(&admin))
    }

    /// The bootstrap admin's access to a KMS instance, decided as for any request (for tests,
    /// the demo and benchmarks that drive the KMS directly).
    pub async fn admin_access(
        &self,
        instance: uuid::Uuid,
    ) -> Result<crate::authz::InstanceAccess, BootstrapError> {
        let caller = Arc::new(self.admin().await?);
        let authorizer = self.state.iam.authorizer();
        let found = crate::authz::kms_instance(authorizer, instance)
            .await?
            .ok_or_else(|| BootstrapError::Setup(format!("no KMS instance {instance}")))?;
        crate::authz::instance_access(authorizer, caller, &found)
            .await?
            .ok_or_else(|| BootstrapError::Setup(format!("the admin holds nothing in {instance}")))
    }

    /// A new configuration-service instance (a tenant) of the bootstrap account.
    pub async fn create_tenant(&self, name: &str) -> Result<uuid::Uuid, BootstrapError> {
        let account: keyward_iam::AccountId = self.info.account_id.parse()?;
        let instance = crate::iam_admin::provision_instance(
            &self.store,
            &account,
            keyward_iam::ServiceKind::ConfigSvc,
            name,
            &self.info.admin_iam_id,
        )
        .await?;
        self.state.iam.invalidate();
        Ok(instance.id)
    }
}

/// Opens everything and builds the router.
pub async fn build(settings: &ServeSettings) -> Result<App, BootstrapError> {
    bootstrap::ensure_data_dir(&settings.data_dir)?;
    let master = settings.master_key.open(&settings.data_dir)?;
    let store = match &settings.database_url {
        Some(url) => Store::open_postgres(url, None).await?,
        None => Store::open_sqlite(&settings.data_dir.join("keyward.db")).await?,
    };
    bootstrap::check_master_key(
        &store,
        master.as_ref(),
        &settings.master_key,
        &settings.data_dir,
    )
    .await?;
    let signer = TokenSigner::new(
        signing_keys::ensure(
            &store,
            master.as_ref(),
            settings.token_key_rotation,
            OffsetDateTime::now_utc(),
        )
        .await?,
    )?;
    let (mut info, new_admin_key) = bootstrap::provision(&store).await?;

    let test_clock = settings
        .unsafe_test_clock
        .then(|| Arc::new(OffsetClock::new()));
    let kms_clock: Arc<dyn Clock> = match &test_clock {
        Some(c) => Arc::clone(c) as Arc<dyn Clock>,
        None => Arc::new(SystemClock),
    };
    // Token lifetimes follow real time even under the test clock, so that clients' token
    // caches stay valid when a test moves KMS time forward.
    let iam = IamService::new(
        store.clone(),
        signer,
        Arc::new(SystemClock),
        Arc::clone(&master),
        settings.token_key_rotation,
        RateLimiter::new(settings.edge.principal_rate),
    );
    let mut kms = Kms::new(store.clone(), master, kms_clock, settings.kms.clone());
    if let Some(vault) = settings.master_key.root_key_vault()? {
        kms = kms.with_vault(vault);
    }
    let kms = Arc::new(kms);
    let configsvc = bootstrap::provision_configsvc(&store, &kms, iam.authorizer(), &info).await?;
    let service = store
        .find_principal(&configsvc.service_iam_id)
        .await?
        .ok_or_else(|| BootstrapError::Setup("the configsvc service id is missing".into()))?;
    info.config_instance_id = configsvc.config_instance_id.clone();
    let global = GlobalKey {
        instance: parse_uuid(&configsvc.internal_kms_instance_id)?,
        key: parse_uuid(&configsvc.global_key_id)?,
    };
    let global_key = global.clone();
    let resource_crn = resource_crn_scheme(&settings.crn, &info.account_id);
    // Started before anything can use a key: the in-process provider records each use.
    let audit_key = crate::audit::checkpoint_key(&store, kms.master())
        .await
        .map_err(BootstrapError::Setup)?;
    let audit = crate::audit::AuditLog::start(
        store.clone(),
        audit_key,
        settings.audit_checkpoints,
        settings.audit_pending_grace,
    );
    let local = LocalKmsProvider::new(
        Arc::clone(&kms),
        Arc::clone(iam.authorizer()),
        settings.crn.clone(),
        service,
        global,
        Arc::clone(&resource_crn),
        audit.clone(),
    );
    let http = if settings.kms_endpoints.is_empty() {
        None
    } else {
        let apikey =
            bootstrap::configsvc_apikey(&store, kms.master(), &configsvc.service_iam_id).await?;
        let endpoints = settings
            .kms_endpoints
            .iter()
            .map(|e| {
                let url = if e.url == "self" {
                    settings.url_of(settings.listen)
                } else {
                    e.url.clone()
                };
                Endpoint {
                    cname: e.cname.clone(),
                    region: e.region.clone(),
                    iam_url: url.clone(),
                    url,
                }
            })
            .collect();
        let rc = Arc::clone(&resource_crn);
        let ca_pem = match &settings.kms_ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|source| BootstrapError::Io {
                what: "cannot read the KMS CA file",
                path: path.clone(),
                source,
            })?),
            None => None,
        };
        Some(
            KeyProtectProvider::new(
                endpoints,
                apikey.expose_secret(),
                settings.kms_timeout,
                settings.kms_breaker,
                ca_pem.as_deref(),
                Box::new(move |t| rc(t)),
            )
            .map_err(|e| BootstrapError::Setup(e.to_string()))?,
        )
    };
    let provider = keyward_secrets::Measured::new(keyward_secrets::Routing::new(local, http));
    let key_provider_stats = provider.stats();
    let node = bootstrap::node_name(&settings.data_dir)?;
    let secrets_config = SecretsConfig {
        node: node.clone(),
        ..settings.secrets.clone()
    };
    let secrets = Arc::new(Secrets::new(store.clone(), provider, secrets_config));
    let resumed = secrets
        .resume_all()
        .await
        .map_err(|e| BootstrapError::Setup(e.to_string()))?;
    if resumed > 0 {
        tracing::info!(resumed, "resuming interrupted re-encryptions");
    }
    secrets.spawn_adopter();
    if !settings.kms_endpoints.is_empty() {
        secrets.spawn_key_watch();
    }
    let config = ConfigService::new(
        store.clone(),
        Arc::clone(&secrets),
        PgPreparer::new(
            settings.provisioning_database_url.clone(),
            settings.data_mart_networks.clone(),
        )
        .map_err(BootstrapError::Setup)?,
    );
    let state = Arc::new(AppState {
        kms,
        iam,
        config,
        secrets,
        store: store.clone(),
        crn: settings.crn.clone(),
        test_clock: test_clock.clone(),
        token_limiter: RateLimiter::new(settings.edge.token_rate),
        request_timeout: settings.edge.request_timeout,
        audit,
        provisional: crate::audit::middleware::provisional(settings.crn.clone()),
        node,
        private_port: std::sync::OnceLock::new(),
        metrics: crate::metrics::Metrics::default(),
        key_provider_stats,
    });
    spawn_signing_key_refresh(&state);
    if settings.schedule_rotations {
        crate::rotation_scheduler::spawn(&state);
    }
    forget_on_key_events(&state, &global_key);
    if store.listen_for_key_events() {
        tracing::info!("listening for other nodes' key events");
    }
    Ok(App {
        router: routes::router(Arc::clone(&state)),
        state,
        info,
        new_admin_key,
        store,
        test_clock,
    })
}

/// Binds, writes `bootstrap.json` (and `admin.apikey` on first start), and serves until
/// Ctrl-C or SIGTERM.
pub async fn serve(settings: ServeSettings) -> Result<(), BootstrapError> {
    for address in std::iter::once(settings.listen).chain(settings.private_listen) {
        if settings.tls.is_none() && !settings.insecure_http && !address.ip().is_loopback() {
            return Err(BootstrapError::PlainHttpExposed(address));
        }
    }
    let certs = settings.tls.clone().map(CertStore::load).transpose()?;
    let app = build(&settings).await?;
    let listener =
        TcpListener::bind(settings.listen)
            .await
            .map_err(|source| BootstrapError::Io {
                what: "cannot listen on",
                path: PathBuf::from(settings.listen.to_string()),
                source,
            })?;
    let addr = listener.local_addr().map_err(|source| BootstrapError::Io {
        what: "cannot read the address of",
        path: PathBuf::from(settings.listen.to_string()),
        source,
    })?;
    let mut info = app.info.clone();
    info.url = settings.url_of(addr);
    let private = match settings.private_listen {
        Some(at) => {
            let private = TcpListener::bind(at)
                .await
                .map_err(|source| BootstrapError::Io {
                    what: "cannot listen (private endpoint) on",
                    path: PathBuf::from(at.to_string()),
                    source,
                })?;
            let bound = private.local_addr().map_err(|source| BootstrapError::Io {
                what: "cannot read the address of",
                path: PathBuf::from(at.to_string()),
                source,
            })?;
            let _ = app.state.private_port.set(bound.port());
            info.private_url = Some(settings.url_of(bound));
            Some((private, bound))
        }
        None => None,
    };
    if let Some(at) = settings.metrics_listen {
        let metrics = TcpListener::bind(at)
            .await
            .map_err(|source| BootstrapError::Io {
                what: "cannot listen for metrics on",
                path: PathBuf::from(at.to_string()),
                source,
            })?;
        let bound = metrics.local_addr().map_err(|source| BootstrapError::Io {
            what: "cannot read the address of",
            path: PathBuf::from(at.to_string()),
            source,
        })?;
        info.metrics_url = Some(format!("http://{bound}/metrics"));
        println!("Metrics on http://{bound}/metrics");
        let router = crate::metrics::router(Arc::clone(&app.state));
        let limits = ConnectionLimits {
            header_read_timeout: settings.edge.header_read_timeout,
            shutdown_grace: settings.edge.request_timeout,
        };
        tokio::spawn(async move {
            let never = std::future::pending::<()>();
            if let Err(e) = listener::serve(metrics, router, limits, None, never).await {
                tracing::warn!(error = %e, "the metrics listener stopped");
            }
        });
    }
    if let Some(key) = &app.new_admin_key {
        let path = settings.data_dir.join("admin.apikey");
        bootstrap::write_private_file(&path, format!("{}\n", key.expose_secret()).as_bytes())?;
        println!(
            "First start: created account {} with an admin user.",
            info.account_id
        );
        println!("Admin API key (shown once; also in {}):", path.display());
        println!("{}", key.expose_secret());
    }
    let info_path = settings.data_dir.join("bootstrap.json");
    let json =
        serde_json::to_vec_pretty(&info).map_err(|e| BootstrapError::Setup(e.to_string()))?;
    std::fs::write(&info_path, json).map_err(|source| BootstrapError::Io {
        what: "cannot write",
        path: info_path.clone(),
        source,
    })?;
    println!(
        "Keyward listening on {} (KMS instance {})",
        info.url, info.kms_instance_id
    );
    let limits = ConnectionLimits {
        header_read_timeout: settings.edge.header_read_timeout,
        shutdown_grace: settings.edge.request_timeout,
    };
    let tls = match &certs {
        Some(certs) => {
            #[cfg(unix)]
            tls::reload_on_sighup(Arc::clone(certs)).map_err(|source| BootstrapError::Io {
                what: "cannot watch SIGHUP for",
                path: certs.files().cert.clone(),
                source,
            })?;
            Some(certs.acceptor())
        }
        None => None,
    };
    if let Some((private, bound)) = private {
        println!("Private endpoint on {}", settings.url_of(bound));
        let router = app
            .router
            .clone()
            .layer(axum::Extension(listener::PrivateEndpoint));
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Err(e) = listener::serve(private, router, limits, tls, shutdown_signal()).await {
                tracing::warn!(error = %e, "the private endpoint stopped");
            }
        });
    }
    listener::serve(listener, app.router, limits, tls, shutdown_signal())
        .await
        .map_err(|source| BootstrapError::Io {
            what: "server failed on",
            path: PathBuf::from(addr.to_string()),
            source,
        })?;
    app.store.close().await;
    println!("Keyward stopped.");
    Ok(())
}

/// Every key event, from this node or another, drops what this node caches about the key: the
/// KMS's entry at once, and, when the key can no longer be used (disabled, deleted, purged),
/// every DEK it wrapped, so that decryption is refused from then on.
fn forget_on_key_events(state: &crate::state::SharedState, global: &GlobalKey) {
    let weak = Arc::downgrade(state);
    let global = global.key;
    state
        .store
        .on_key_event(Arc::new(move |event: &keyward_kms::KeyEvent| {
            let Some(state) = weak.upgrade() else { return };
            let lag = time::OffsetDateTime::now_utc() - event.at;
            state
                .metrics
                .observe_key_event(lag.try_into().unwrap_or_default());
            state.kms.forget_key(event.key);
            let root = if event.key.as_uuid() == global {
                WrappedBy::Global
            } else {
                WrappedBy::CustomerKey {
                    instance: event.instance.as_uuid(),
                    key: event.key.as_uuid(),
                }
            };
            if event.kind.revokes() {
                let cache = state.secrets.cache();
                match root {
                    WrappedBy::Global => cache.forget_root(&keyward_secrets::RootKey::Global),
                    WrappedBy::CustomerKey { instance, key } => {
                        cache.forget_customer_key(instance, key);
                    }
                }
            }
            // Every node hears the event and rewraps; a second rewrap is harmless (the DEK is
            // already under the newest version) and keeps the work going if one node dies.
            if event.kind == keyward_kms::KeyEventKind::Rotated
                && let Ok(runtime) = tokio::runtime::Handle::try_current()
            {
                runtime.spawn(async move {
                    match state.secrets.rewrap_under(root).await {
                        Ok(n) => tracing::debug!(rewrapped = n, "DEKs rewrapped after a rotation"),
                        Err(e) => tracing::warn!(error = %e, "cannot rewrap DEKs after a rotation"),
                    }
                });
            }
        }));
}

/// Every 10 s: rotate the signing key when due, drop expired keys, take up other nodes' keys.
/// Stops when the application is dropped.
fn spawn_signing_key_refresh(state: &crate::state::SharedState) {
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { return };
            if let Err(e) = state.iam.refresh_signing_keys().await {
                tracing::warn!(error = %e, "cannot refresh the token signing keys");
            }
        }
    });
}

fn parse_uuid(s: &str) -> Result<uuid::Uuid, BootstrapError> {
    uuid::Uuid::parse_str(s)
        .map_err(|_| BootstrapError::Setup(format!("corrupt id in the configsvc record: {s}")))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
