//! The configuration service: resources whose credentials are instance secrets, the data mart's
//! database preparation with decrypted credentials, and the `user_root_key_crn` preference.

use std::sync::Arc;

use keyward_secrets::{
    KeyProvider, Protection, RootKey, RootKeyCrn, SecretId, SecretStore, Secrets, TenantId,
};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::credential_patch::{apply_credentials, require_password_with_new_target, split};
use crate::credentials::{Credentials, put_secret_ref, take_credentials};
use crate::error::ConfigError;
use crate::model::{ConfigResource, ResourceKind, State};
use crate::patch::{PatchOp, apply};
use crate::ports::{ConfigStore, DatabasePreparer, DatabaseTarget};

/// What [`ConfigService::check_secrets`] found.
#[derive(Debug, Default)]
pub struct SecretsReport {
    /// Secrets (one per resource with credentials).
    pub secrets: u64,
    /// Fields that decrypted.
    pub fields_decrypted: u64,
    /// What failed, without values.
    pub failures: Vec<String>,
    /// The instance's generations (a finished switch leaves exactly one, current).
    pub generations: Vec<(keyward_secrets::GenerationStatus, RootKey)>,
}

/// The configuration service.
pub struct ConfigService<C, S, P, D> {
    store: C,
    secrets: Arc<Secrets<S, P>>,
    preparer: D,
}

fn text<'a>(entity: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (last, dirs) = path.split_last()?;
    let mut node = entity;
    for d in dirs {
        node = node.get(*d)?.as_object()?;
    }
    node.get(*last)?.as_str()
}

fn require(
    entity: &Map<String, Value>,
    path: &[&str],
    message: &'static str,
) -> Result<(), ConfigError> {
    text(entity, path)
        .filter(|s| !s.trim().is_empty())
        .map(|_| ())
        .ok_or(ConfigError::Invalid(message))
}

fn validate(
    kind: ResourceKind,
    entity: &Map<String, Value>,
    has_credentials: bool,
) -> Result<(), ConfigError> {
    match kind {
        ResourceKind::DataMart => {
            if entity.get("internal_database").and_then(Value::as_bool) == Some(true) {
                return Ok(());
            }
            match text(entity, &["database_configuration", "database_type"]) {
                Some("postgresql" | "db2") => {}
                _ => {
                    return Err(ConfigError::Invalid(
                        "database_configuration.database_type must be postgresql or db2 (or set internal_database: true)",
                    ));
                }
            }
            if !has_credentials {
                return Err(ConfigError::Invalid(
                    "database_configuration.credentials is required",
                ));
            }
        }
        ResourceKind::ServiceProvider => {
            require(entity, &["name"], "name is required")?;
            require(entity, &["service_type"], "service_type is required")?;
            if !has_credentials {
                return Err(ConfigError::Invalid("credentials is required"));
            }
        }
        ResourceKind::IntegratedSystem => {
            require(entity, &["name"], "name is required")?;
            require(entity, &["type"], "type is required")?;
            if !has_credentials {
                return Err(ConfigError::Invalid("credentials is required"));
            }
        }
    }
    Ok(())
}

impl<C, S, P, D> ConfigService<C, S, P, D>
where
    C: ConfigStore,
    S: SecretStore,
    P: KeyProvider,
    D: DatabasePreparer,
{
    /// Builds the service.
    pub fn new(store: C, secrets: Arc<Secrets<S, P>>, preparer: D) -> Self {
        Self {
            store,
            secrets,
            preparer,
        }
    }

    /// The secrets service underneath.
    pub fn secrets(&self) -> &Arc<Secrets<S, P>> {
        &self.secrets
    }

    /// Creates a resource from the request entity. The data mart's id is the instance id; with
    /// `force` an existing data mart is replaced (with its secret, in one transaction).
    pub async fn create(
        &self,
        instance: Uuid,
        kind: ResourceKind,
        mut entity: Map<String, Value>,
        created_by: &str,
        force: bool,
    ) -> Result<ConfigResource, ConfigError> {
        let credentials = take_credentials(&mut entity, kind.credentials_path())?;
        validate(
            kind,
            &entity,
            credentials.as_ref().is_some_and(|c| !c.is_empty()),
        )?;
        let id = if kind == ResourceKind::DataMart {
            instance
        } else {
            Uuid::new_v4()
        };
        let existing = if kind == ResourceKind::DataMart {
            self.store.get_resource(instance, kind, id).await?
        } else {
            None
        };
        if existing.is_some() && !force {
            return Err(ConfigError::Exists);
        }
        let secret = match &credentials {
            Some(c) if !c.is_empty() => Some(self.seal_new(instance, c).await?),
            _ => None,
        };
        if let Some(secret) = secret {
            put_secret_ref(&mut entity, kind.credentials_path(), &secret.to_string());
        }
        let now = OffsetDateTime::now_utc();
        let resource = ConfigResource {
            instance,
            kind,
            id,
            entity,
            secret,
            state: if kind == ResourceKind::DataMart {
                State::Preparing
            } else {
                State::Active
            },
            failure: None,
            created_by: created_by.to_owned(),
            created_at: now,
            updated_at: now,
        };
        let stored = match &existing {
            Some(old) => self
                .store
                .replace_resource(old, &resource)
                .await
                .map(|()| true),
            None => self.store.insert_resource(&resource).await,
        };
        match stored {
            Ok(true) => {
                if let Some(old) = existing {
                    self.release_internal_database(&old).await;
                }
                Ok(resource)
            }
            Ok(false) => {
                self.discard(instance, secret).await;
                Err(ConfigError::Exists)
            }
            Err(e) => {
                self.discard(instance, secret).await;
                Err(e)
            }
        }
    }

    /// Seals credentials as a new secret of the instance; returns its id.
    async fn seal_new(
        &self,
        instance: Uuid,
        credentials: &Credentials,
    ) -> Result<Uuid, ConfigError> {
        let secret = Uuid::new_v4();
        let tenant = TenantId(instance);
        if let Err(e) = self
            .secrets
            .put(tenant, SecretId(secret), &credentials.fields())
            .await
        {
            self.discard(instance, Some(secret)).await;
            return Err(e.into());
        }
        Ok(secret)
    }

    /// Deletes a secret that nothing refers to (after a failed write); failures are logged.
    async fn discard(&self, instance: Uuid, secret: Option<Uuid>) {
        if let Some(secret) = secret
            && let Err(e) = self
                .secrets
                .delete(TenantId(instance), SecretId(secret))
                .await
        {
            tracing::warn!(%instance, %secret, error = %e, "cannot delete an unreferenced secret");
        }
    }

    /// One resource.
    pub async fn get(
        &self,
        instance: Uuid,
        kind: ResourceKind,
        id: Uuid,
    ) -> Result<ConfigResource, ConfigError> {
        self.store
            .get_resource(instance, kind, id)
            .await?
            .ok_or(ConfigError::NotFound)
    }

    /// All resources of a kind.
    pub async fn list(
        &self,
        instance: Uuid,
        kind: ResourceKind,
    ) -> Result<Vec<ConfigResource>, ConfigError> {
        self.store.list_resources(instance, kind).await
    }

    /// Applies a JSON patch. Operations on the credentials change the typed credentials (never
    /// a JSON document): the new credentials are sealed as a new secret and the reference is
    /// switched in the same transaction that deletes the old one, so a failure (KMS unreachable,
    /// key disabled) changes nothing. The data mart then prepares again.
    pub async fn patch(
        &self,
        instance: Uuid,
        kind: ResourceKind,
        id: Uuid,
        ops: &[PatchOp],
    ) -> Result<ConfigResource, ConfigError> {
        let mut resource = self.get(instance, kind, id).await?;
        let split = split(kind, ops)?;
        require_password_with_new_target(kind, &split.credentials)?;
        let mut patched = apply(&resource.entity, &split.entity)?;
        let old_secret = resource.secret;
        let new_credentials = if split.credentials.is_empty() {
            None
        } else {
            let current = || async {
                match old_secret {
                    None => Ok(None),
                    Some(secret) => {
                        let fields = self
                            .secrets
                            .get_all(TenantId(instance), SecretId(secret))
                            .await?;
                        Ok(Some(Credentials::from_fields(fields)))
                    }
                }
            };
            Some(apply_credentials(split.credentials, current).await?)
        };
        let has_credentials = match &new_credentials {
            Some(c) => c.is_some(),
            None => old_secret.is_some(),
        };
        validate(kind, &patched, has_credentials)?;
        let mut retired = None;
        let mut fresh = None;
        if let Some(credentials) = new_credentials {
            retired = old_secret;
            resource.secret = match credentials {
                Some(c) => {
                    let secret = self.seal_new(instance, &c).await?;
                    fresh = Some(secret);
                    Some(secret)
                }
                None => None,
            };
        }
        match resource.secret {
            Some(secret) => {
                put_secret_ref(&mut patched, kind.credentials_path(), &secret.to_string())
            }
            None => {
                take_credentials(&mut patched, kind.credentials_path())?;
            }
        }
        resource.entity = patched;
        resource.updated_at = OffsetDateTime::now_utc();
        if kind == ResourceKind::DataMart {
            resource.state = State::Preparing;
            resource.failure = None;
        }
        if let Err(e) = self.store.update_resource(&resource, retired).await {
            self.discard(instance, fresh).await;
            return Err(e);
        }
        Ok(resource)
    }

    /// Deletes a resource and its secret; what auto setup provisioned for a data mart is
    /// dropped.
    pub async fn delete(
        &self,
        instance: Uuid,
        kind: ResourceKind,
        id: Uuid,
    ) -> Result<(), ConfigError> {
        let r = self.get(instance, kind, id).await?;
        if !self.store.delete_resource(&r).await? {
            return Err(ConfigError::NotFound);
        }
        self.release_internal_database(&r).await;
        Ok(())
    }

    /// Drops what auto setup provisioned for a data mart that is gone; failures are logged (the
    /// resource is gone either way).
    async fn release_internal_database(&self, r: &ConfigResource) {
        if r.kind != ResourceKind::DataMart
            || r.entity.get("internal_database").and_then(Value::as_bool) != Some(true)
        {
            return;
        }
        let Some(schema) = text(
            &r.entity,
            &["database_configuration", "location", "schema_name"],
        ) else {
            return;
        };
        if let Err(e) = self.preparer.deprovision_internal(schema).await {
            tracing::warn!(instance = %r.instance, error = %e, "cannot drop the data mart's provisioned database objects");
        }
    }

    /// Connects to the data mart's database with the decrypted credentials and creates its
    /// schema; records `active`, or `error` with the reason.
    pub async fn prepare_data_mart(&self, instance: Uuid) -> Result<State, ConfigError> {
        let mut dm = self.get(instance, ResourceKind::DataMart, instance).await?;
        let outcome = self.try_prepare(&mut dm).await;
        let (state, failure) = match outcome {
            Ok(()) => (State::Active, None),
            Err(reason) => (State::Error, Some(reason)),
        };
        self.store
            .set_state(
                instance,
                ResourceKind::DataMart,
                instance,
                state,
                failure.as_deref(),
            )
            .await?;
        Ok(state)
    }

    async fn try_prepare(&self, dm: &mut ConfigResource) -> Result<(), String> {
        let schema = text(
            &dm.entity,
            &["database_configuration", "location", "schema_name"],
        )
        .map(str::to_owned);
        let internal = dm.entity.get("internal_database").and_then(Value::as_bool) == Some(true);
        if internal && dm.secret.is_none() {
            let schema = schema.unwrap_or_else(|| format!("wos_{}", dm.instance.simple()));
            let credentials = self.preparer.provision_internal(&schema).await?;
            let secret = self
                .seal_new(dm.instance, &credentials)
                .await
                .map_err(|e| e.to_string())?;
            dm.secret = Some(secret);
            put_secret_ref(
                &mut dm.entity,
                ResourceKind::DataMart.credentials_path(),
                &secret.to_string(),
            );
            let config = dm
                .entity
                .entry("database_configuration")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(config) = config {
                config.insert("database_type".into(), Value::String("postgresql".into()));
                let location = config
                    .entry("location")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(location) = location {
                    location.insert("schema_name".into(), Value::String(schema));
                }
            }
            self.store
                .update_resource(dm, None)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(());
        }
        let secret = dm
            .secret
            .ok_or("CREDENTIALS_INCOMPLETE: the data mart has no database credentials")?;
        let tenant = TenantId(dm.instance);
        self.secrets.verify_root_keys(tenant).await.map_err(|e| {
            format!("CREDENTIALS_UNAVAILABLE: cannot decrypt the database credentials: {e}")
        })?;
        let fields = self
            .secrets
            .get_all(tenant, SecretId(secret))
            .await
            .map_err(|e| {
                format!("CREDENTIALS_UNAVAILABLE: cannot decrypt the database credentials: {e}")
            })?;
        let credentials = Credentials::from_fields(fields);
        let database_type =
            text(&dm.entity, &["database_configuration", "database_type"]).unwrap_or("postgresql");
        self.preparer
            .prepare(DatabaseTarget {
                database_type,
                schema: schema.as_deref(),
                credentials: &credentials,
            })
            .await
    }

    /// Decrypts every credential of every resource of the instance (reporting counts only),
    /// and lists the instance's DEK generations.
    pub async fn check_secrets(&self, instance: Uuid) -> Result<SecretsReport, ConfigError> {
        let tenant = TenantId(instance);
        let mut report = SecretsReport::default();
        for kind in [
            ResourceKind::DataMart,
            ResourceKind::ServiceProvider,
            ResourceKind::IntegratedSystem,
        ] {
            for r in self.store.list_resources(instance, kind).await? {
                let Some(secret) = r.secret else { continue };
                report.secrets += 1;
                match self.secrets.get_all(tenant, SecretId(secret)).await {
                    Ok(fields) => report.fields_decrypted += fields.len() as u64,
                    Err(e) => report.failures.push(format!("{kind} {}: {e}", r.id)),
                }
            }
        }
        report.generations = self
            .secrets
            .store()
            .generations(tenant)
            .await?
            .into_iter()
            .map(|g| (g.status, g.root))
            .collect();
        Ok(report)
    }

    /// Which root key protects the instance, and a running switch's progress.
    pub async fn protection(&self, instance: Uuid) -> Result<Protection, ConfigError> {
        Ok(self.secrets.protection(TenantId(instance)).await?)
    }

    /// Sets `user_root_key_crn`: parses the CRN and switches the instance's secrets to it.
    pub async fn set_root_key(&self, instance: Uuid, crn: &str) -> Result<Protection, ConfigError> {
        let crn: RootKeyCrn = crn.parse().map_err(ConfigError::Secrets)?;
        Ok(self
            .secrets
            .switch_root_key(TenantId(instance), RootKey::Customer(crn))
            .await?)
    }

    /// Removes `user_root_key_crn`: switches the instance's secrets back to the global key.
    pub async fn remove_root_key(&self, instance: Uuid) -> Result<Protection, ConfigError> {
        Ok(self
            .secrets
            .switch_root_key(TenantId(instance), RootKey::Global)
            .await?)
    }
}
