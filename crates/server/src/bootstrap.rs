//! First start: data directory, master key file, signing key, account, admin user and API key,
//! and one KMS instance. Later starts reuse all of it.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keyward_crypto::{SecretBytes, random_secret};
use keyward_iam::{
    AccountId, ApiKeyRecord, ApiKeySecret, Authorizer, Caller, IamStore, Instance, Policy,
    PolicyResource, Principal, PrincipalKind, Role, ServiceKind, Subject,
};
use keyward_kms::{MasterKey, RootKeyVault, SoftwareMasterKey};
use keyward_store::Store;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;

/// Non-secret facts written to `<data-dir>/bootstrap.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BootstrapInfo {
    /// The account created at first start.
    pub account_id: String,
    /// Its KMS instance.
    pub kms_instance_id: String,
    /// The admin's IAM id.
    pub admin_iam_id: String,
    /// Where the server listens (filled in at each start).
    #[serde(default)]
    pub url: String,
    /// The bootstrap account's configuration-service instance (filled in at each start).
    #[serde(default)]
    pub config_instance_id: String,
    /// The private endpoint, when `--private-listen` is given (filled in at each start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_url: Option<String>,
    /// Where `/metrics` is served, when `--metrics-listen` is given (filled in at each start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_url: Option<String>,
}

/// Why start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Which file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The master key file is not 32 bytes.
    #[error("the master key file {0} must hold exactly 32 bytes")]
    MasterKeyLength(PathBuf),
    /// The database was initialised with another master key.
    #[error(
        "the master key {0} is not the one this database was created with (start with the \
         --master-key options it was created with, e.g. --master-key pkcs11 and the same token)"
    )]
    WrongMasterKey(String),
    /// An offline command found no master key file to open.
    #[error("no master key at {0}")]
    NoMasterKey(PathBuf),
    /// The master key's token could not be used.
    #[error(transparent)]
    Hsm(#[from] keyward_hsm::HsmError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] keyward_store::StoreError),
    /// IAM or KMS setup failed.
    #[error("setup failed: {0}")]
    Setup(String),
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// Plain HTTP on an address other machines can reach.
    #[error(
        "refusing to serve plain HTTP on {0}, which other machines can reach: API keys and data keys would cross the network in clear. Give a certificate (--tls-cert FILE --tls-key FILE; `keyward tls self-signed --out DIR` makes one for development), listen on a loopback address, or pass --insecure-http if a TLS proxy in front of Keyward is the only way in"
    )]
    PlainHttpExposed(std::net::SocketAddr),
}

impl From<keyward_iam::IamError> for BootstrapError {
    fn from(e: keyward_iam::IamError) -> Self {
        Self::Setup(e.to_string())
    }
}

impl From<ApiError> for BootstrapError {
    fn from(e: ApiError) -> Self {
        Self::Setup(e.to_string())
    }
}

fn io<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> BootstrapError + 'a {
    move |source| BootstrapError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Writes a new file readable by the owner only; fails if it exists.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), BootstrapError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io("cannot create", path))?;
    f.write_all(contents).map_err(io("cannot write", path))?;
    f.sync_all().map_err(io("cannot sync", path))
}

/// Creates the data directory (0700) if needed.
pub fn ensure_data_dir(dir: &Path) -> Result<(), BootstrapError> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(io("cannot create directory", dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io("cannot set permissions on", dir))?;
    }
    Ok(())
}

/// Where the master key is: a file in the data directory, or a PKCS#11 token.
#[derive(Clone, Debug, Default)]
pub enum MasterKeySource {
    /// `<data-dir>/master.key`, made on first start.
    #[default]
    File,
    /// A key in a PKCS#11 token, made there on first start; no key file is written.
    Pkcs11(keyward_hsm::Pkcs11Config),
}

impl MasterKeySource {
    /// Says where the key is, for messages.
    pub fn describe(&self, dir: &Path) -> String {
        match self {
            Self::File => format!("in {}", dir.join("master.key").display()),
            Self::Pkcs11(c) => format!(
                "labelled {:?} in the PKCS#11 token {:?}",
                c.key_label, c.token_label
            ),
        }
    }

    /// Whether root key versions are made in the token (the HSM's strict mode).
    pub fn strict(&self) -> bool {
        matches!(self, Self::Pkcs11(c) if c.strict)
    }

    /// Where root key versions are kept in strict mode; `None` otherwise.
    pub fn root_key_vault(&self) -> Result<Option<Arc<dyn RootKeyVault>>, BootstrapError> {
        Ok(match self {
            Self::Pkcs11(config) if config.strict => {
                Some(Arc::new(keyward_hsm::TokenRootKeys::open(config)?))
            }
            _ => None,
        })
    }

    /// Opens the master key (making it on first start).
    pub fn open(&self, dir: &Path) -> Result<Arc<dyn MasterKey>, BootstrapError> {
        Ok(match self {
            Self::File => Arc::new(load_or_create_master_key(dir)?),
            Self::Pkcs11(config) => Arc::new(keyward_hsm::Pkcs11MasterKey::open(config)?),
        })
    }
}

/// Loads the master key file, creating it (0600, 32 random bytes) on first start.
pub fn load_or_create_master_key(dir: &Path) -> Result<SoftwareMasterKey, BootstrapError> {
    let path = dir.join("master.key");
    if !path.exists() {
        let material = random_secret(32).map_err(|e| BootstrapError::Setup(e.to_string()))?;
        write_private_file(&path, material.expose_secret())?;
    }
    let mode = fs::metadata(&path)
        .map_err(io("cannot stat", &path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "the master key file is readable by group or others; chmod 600 it");
    }
    let material = SecretBytes::new(fs::read(&path).map_err(io("cannot read", &path))?);
    if material.len() != 32 {
        return Err(BootstrapError::MasterKeyLength(path));
    }
    SoftwareMasterKey::new(&material).map_err(|_| BootstrapError::MasterKeyLength(path))
}

/// Opens the master key of an existing deployment for an offline command (`keyward audit`,
/// `keyward iam rotate-signing-key`): never makes a key file, and checks that the database was
/// made with this key.
pub async fn open_existing_master_key(
    store: &Store,
    source: &MasterKeySource,
    dir: &Path,
) -> Result<Arc<dyn MasterKey>, BootstrapError> {
    let file = dir.join("master.key");
    if matches!(source, MasterKeySource::File) && !file.exists() {
        return Err(BootstrapError::NoMasterKey(file));
    }
    let master = source.open(dir)?;
    check_master_key(store, master.as_ref(), source, dir).await?;
    Ok(master)
}

/// This node's name in job leases, kept in `<data-dir>/node.id` so that a node that restarts
/// takes its own jobs back at once (every node has its own data directory).
pub fn node_name(dir: &Path) -> Result<String, BootstrapError> {
    let path = dir.join("node.id");
    match fs::read_to_string(&path) {
        Ok(name) if !name.trim().is_empty() => Ok(name.trim().to_owned()),
        _ => {
            let name = Uuid::new_v4().to_string();
            fs::write(&path, format!("{name}\n")).map_err(io("cannot write", &path))?;
            Ok(name)
        }
    }
}

/// Checks that the database belongs to this master key (records it on first use).
pub async fn check_master_key(
    store: &Store,
    master: &dyn MasterKey,
    source: &MasterKeySource,
    dir: &Path,
) -> Result<(), BootstrapError> {
    if store
        .setting(crate::master_key_migration::MIGRATION_SETTING)
        .await?
        .is_some()
    {
        return Err(BootstrapError::Setup(
            "a master key migration was started and not finished: finish it with \
             `keyward master-key migrate` (the same command again) before starting"
                .into(),
        ));
    }
    let id = master.id();
    let stored = store
        .setting_insert_if_absent(MASTER_KEY_SETTING, id.as_bytes())
        .await?;
    if stored != id.as_bytes() {
        return Err(BootstrapError::WrongMasterKey(source.describe(dir)));
    }
    if !source.strict() {
        let in_token = store.key_versions_in_vault(keyward_kms::VAULT_TAG).await?;
        if in_token > 0 {
            return Err(BootstrapError::Setup(format!(
                "{in_token} root key versions are objects in the PKCS#11 token (made in strict \
                 mode): start with --master-key pkcs11 --pkcs11-strict"
            )));
        }
    }
    Ok(())
}

/// Creates the account, admin, API key and KMS instance on first start; returns the facts and,
/// on first start only, the admin API key.
pub async fn provision(
    store: &Store,
) -> Result<(BootstrapInfo, Option<ApiKeySecret>), BootstrapError> {
    if let Some(raw) = store.setting("bootstrap").await? {
        let info: BootstrapInfo = serde_json::from_slice(&raw)
            .map_err(|e| BootstrapError::Setup(format!("bootstrap record: {e}")))?;
        return Ok((info, None));
    }
    let now = OffsetDateTime::now_utc();
    let account = AccountId::new_random();
    store.create_account(&account, "keyward").await?;
    let admin = Principal::new(account.clone(), PrincipalKind::User, "admin", now)?;
    store.create_principal(&admin).await?;
    let apikey = ApiKeySecret::generate()?;
    store
        .create_api_key(&ApiKeyRecord {
            id: Uuid::new_v4(),
            iam_id: admin.iam_id.clone(),
            name: "admin bootstrap key".into(),
            hash: apikey.hash(),
            created_at: now,
            locked: false,
        })
        .await?;
    let instance = Instance {
        id: Uuid::new_v4(),
        account: account.clone(),
        service: ServiceKind::Kms,
        name: "default".into(),
        created_at: now,
    };
    store.create_instance(&instance).await?;
    for (service, instance, roles) in [
        (
            ServiceKind::Kms,
            Some(instance.id),
            vec![Role::Manager, Role::KeyPurge],
        ),
        (ServiceKind::Iam, None, vec![Role::Administrator]),
    ] {
        store
            .create_policy(&Policy {
                id: Uuid::new_v4(),
                account: account.clone(),
                subject: Subject::Principal(admin.iam_id.clone()),
                roles,
                resource: PolicyResource {
                    service,
                    instance,
                    key_ring: None,
                },
                created_at: now,
            })
            .await?;
    }
    let info = BootstrapInfo {
        account_id: account.to_string(),
        kms_instance_id: instance.id.to_string(),
        admin_iam_id: admin.iam_id,
        url: String::new(),
        config_instance_id: String::new(),
        metrics_url: None,
        private_url: None,
    };
    let raw = serde_json::to_vec(&info).map_err(|e| BootstrapError::Setup(e.to_string()))?;
    let in_force = store.setting_insert_if_absent("bootstrap", &raw).await?;
    if in_force != raw {
        // Another node bootstrapped the shared database first; use its record.
        let info: BootstrapInfo =
            serde_json::from_slice(&in_force).map_err(|e| BootstrapError::Setup(e.to_string()))?;
        return Ok((info, None));
    }
    Ok((info, Some(apikey)))
}

/// The configuration service's own identity and keys, created once.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConfigsvcBootstrap {
    /// The service's service id (its `service_name` is `configsvc`).
    pub service_iam_id: String,
    /// The service's internal KMS instance (not a customer's).
    pub internal_kms_instance_id: String,
    /// The global key: a root key in that instance.
    pub global_key_id: String,
    /// The configuration-service instance created for the bootstrap account.
    pub config_instance_id: String,
}

/// Creates the configuration service's service id, internal KMS instance, global key and one
/// configuration-service instance for the bootstrap account (once; also on databases
/// bootstrapped before the configuration service existed). The service uses its internal
/// instance through an access policy (Writer), decided like any other caller.
pub async fn provision_configsvc(
    store: &Store,
    kms: &crate::state::KmsService,
    authorizer: &Authorizer<Store>,
    info: &BootstrapInfo,
) -> Result<ConfigsvcBootstrap, BootstrapError> {
    if let Some(raw) = store.setting("configsvc").await? {
        let record: ConfigsvcBootstrap = serde_json::from_slice(&raw)
            .map_err(|e| BootstrapError::Setup(format!("configsvc record: {e}")))?;
        ensure_internal_access(store, info, &record).await?;
        return Ok(record);
    }
    let now = OffsetDateTime::now_utc();
    let account: AccountId = info.account_id.parse()?;
    let mut service = Principal::new(account.clone(), PrincipalKind::ServiceId, "configsvc", now)?;
    service.service_name = Some(ServiceKind::ConfigSvc.as_str().to_owned());
    store.create_principal(&service).await?;
    let internal = Instance {
        id: Uuid::new_v4(),
        account: account.clone(),
        service: ServiceKind::Kms,
        name: "configsvc-internal".into(),
        created_at: now,
    };
    store.create_instance(&internal).await?;
    store
        .create_policy(&internal_access(&account, &service.iam_id, internal.id))
        .await?;
    authorizer.invalidate();
    let caller = std::sync::Arc::new(Caller::principal(&service));
    let access = crate::authz::instance_access(authorizer, caller, &internal)
        .await?
        .ok_or_else(|| {
            BootstrapError::Setup("the service's access policy grants nothing".into())
        })?;
    let global = kms
        .create_key(
            &access,
            keyward_kms::InstanceId::from_uuid(internal.id),
            keyward_kms::NewKey {
                description: Some("The configuration service's global key".into()),
                ..keyward_kms::NewKey::root("configsvc-global-key")
            },
        )
        .await
        .map_err(|e| BootstrapError::Setup(e.to_string()))?;
    let config_instance = Instance {
        id: Uuid::new_v4(),
        account: account.clone(),
        service: ServiceKind::ConfigSvc,
        name: "default".into(),
        created_at: now,
    };
    store.create_instance(&config_instance).await?;
    store
        .create_policy(&Policy {
            id: Uuid::new_v4(),
            account: account.clone(),
            subject: Subject::Principal(info.admin_iam_id.clone()),
            roles: vec![Role::Manager],
            resource: PolicyResource {
                service: ServiceKind::ConfigSvc,
                instance: None,
                key_ring: None,
            },
            created_at: now,
        })
        .await?;
    let record = ConfigsvcBootstrap {
        service_iam_id: service.iam_id,
        internal_kms_instance_id: internal.id.to_string(),
        global_key_id: global.key.id.to_string(),
        config_instance_id: config_instance.id.to_string(),
    };
    let raw = serde_json::to_vec(&record).map_err(|e| BootstrapError::Setup(e.to_string()))?;
    let in_force = store.setting_insert_if_absent("configsvc", &raw).await?;
    authorizer.invalidate();
    serde_json::from_slice(&in_force).map_err(|e| BootstrapError::Setup(e.to_string()))
}

/// The configuration service's access policy on its internal KMS instance.
fn internal_access(account: &AccountId, service_iam_id: &str, internal: Uuid) -> Policy {
    Policy {
        id: Uuid::new_v4(),
        account: account.clone(),
        subject: Subject::Principal(service_iam_id.to_owned()),
        roles: vec![Role::Writer],
        resource: PolicyResource {
            service: ServiceKind::Kms,
            instance: Some(internal),
            key_ring: None,
        },
        created_at: OffsetDateTime::now_utc(),
    }
}

/// Databases made before the service's access went through IAM lack the policy: add it.
async fn ensure_internal_access(
    store: &Store,
    info: &BootstrapInfo,
    record: &ConfigsvcBootstrap,
) -> Result<(), BootstrapError> {
    let account: AccountId = info.account_id.parse()?;
    let internal = Uuid::parse_str(&record.internal_kms_instance_id).map_err(|_| {
        BootstrapError::Setup("corrupt internal instance id in the configsvc record".into())
    })?;
    let present = store.list_policies(&account).await?.iter().any(|p| {
        p.subject == Subject::Principal(record.service_iam_id.clone())
            && p.resource.instance == Some(internal)
    });
    if !present {
        store
            .create_policy(&internal_access(&account, &record.service_iam_id, internal))
            .await?;
    }
    Ok(())
}

/// Instances Keyward's own services use (never deleted through the API).
pub async fn system_instances(store: &Store) -> Result<Vec<Uuid>, ApiError> {
    let Some(raw) = store.setting("configsvc").await? else {
        return Ok(Vec::new());
    };
    let record: ConfigsvcBootstrap = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::Internal(format!("configsvc record: {e}")))?;
    Ok(Uuid::parse_str(&record.internal_kms_instance_id)
        .into_iter()
        .collect())
}

/// The setting that names the master key the database is bound to.
pub(crate) const MASTER_KEY_SETTING: &str = "master_key_id";

/// The setting that holds the configuration service's sealed API key.
pub(crate) const CONFIGSVC_APIKEY_SETTING: &str = "configsvc_apikey";
/// What that key is bound to when sealed.
pub(crate) const CONFIGSVC_APIKEY_AAD: &[u8] = b"keyward.configsvc.apikey.v1";

/// The configuration service's API key (for calling a KMS over HTTP as its service id): made
/// once, stored sealed under the master key.
pub async fn configsvc_apikey(
    store: &Store,
    master: &dyn MasterKey,
    service_iam_id: &str,
) -> Result<ApiKeySecret, BootstrapError> {
    let unseal = |sealed: &[u8]| -> Result<ApiKeySecret, BootstrapError> {
        let plain = master
            .unwrap(CONFIGSVC_APIKEY_AAD, sealed)
            .map_err(|e| BootstrapError::Setup(e.to_string()))?;
        let text = String::from_utf8(plain.expose_secret().to_vec())
            .map_err(|_| BootstrapError::Setup("corrupt configsvc API key".into()))?;
        Ok(ApiKeySecret::from_presented(text))
    };
    if let Some(sealed) = store.setting(CONFIGSVC_APIKEY_SETTING).await? {
        return unseal(&sealed);
    }
    let apikey = ApiKeySecret::generate()?;
    store
        .create_api_key(&ApiKeyRecord {
            id: Uuid::new_v4(),
            iam_id: service_iam_id.to_owned(),
            name: "configsvc service key".into(),
            hash: apikey.hash(),
            created_at: OffsetDateTime::now_utc(),
            locked: false,
        })
        .await?;
    let sealed = master
        .wrap(
            CONFIGSVC_APIKEY_AAD,
            &SecretBytes::from_slice(apikey.expose_secret().as_bytes()),
        )
        .map_err(|e| BootstrapError::Setup(e.to_string()))?;
    let in_force = store
        .setting_insert_if_absent(CONFIGSVC_APIKEY_SETTING, &sealed)
        .await?;
    unseal(&in_force)
}
