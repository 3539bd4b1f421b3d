//! The configuration service: resources whose credentials are instance secrets, the data mart's
//! database preparation with decrypted credentials, and the `user_root_key_crn` preference.

use std::sync::Arc;

use keyward_secrets::{
    KeyProvider, Protection, RootKey, RootKeyCrn, SecretId, SecretStore, Secrets, TenantId,
};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

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
    /// `force` an existing data mart is replaced.
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
        if kind == ResourceKind::DataMart
            && let Some(existing) = self.store.get_resource(instance, kind, id).await?
        {
            if !force {
                return Err(ConfigError::Exists);
            }
            self.remove(&existing).await?;
        }
        let secret = match &credentials {
            Some(c) => Some(self.seal(instance, None, c).await?),
            None => None,
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
        if !self.store.insert_resource(&resource).await? {
            return Err(ConfigError::Exists);
        }
        Ok(resource)
    }

    async fn seal(
        &self,
        instance: Uuid,
        secret: Option<Uuid>,
        credentials: &Credentials,
    ) -> Result<Uuid, ConfigError> {
        let secret = secret.unwrap_or_else(Uuid::new_v4);
        let tenant = TenantId(instance);
        self.secrets.delete(tenant, SecretId(secret)).await?;
        self.secrets
            .put(tenant, SecretId(secret), &credentials.fields())
            .await?;
        Ok(secret)
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

    /// Applies a JSON patch. Patches that touch the credentials decrypt them, apply the patch
    /// to the whole entity and seal the result again; the data mart then prepares again.
    pub async fn patch(
        &self,
        instance: Uuid,
        kind: ResourceKind,
        id: Uuid,
        ops: &[PatchOp],
    ) -> Result<ConfigResource, ConfigError> {
        let mut resource = self.get(instance, kind, id).await?;
        let cred_pointer = format!("/{}", kind.credentials_path().join("/"));
        let touches_credentials = ops.iter().any(|op| {
            op.path.starts_with(&cred_pointer)
                || op
                    .from
                    .as_deref()
                    .is_some_and(|f| f.starts_with(&cred_pointer))
        });
        let mut entity = resource.entity.clone();
        if touches_credentials {
            // Put the real credentials in place of the reference, unless the patch replaces them whole.
            let replaces_whole = ops
                .iter()
                .all(|op| op.path == cred_pointer && op.op != "remove");
            if let (Some(secret), false) = (resource.secret, replaces_whole) {
                let fields = self
                    .secrets
                    .get_all(TenantId(instance), SecretId(secret))
                    .await?;
                let plain: Map<String, Value> = fields
                    .into_iter()
                    .filter_map(|(k, v)| {
                        serde_json::from_slice(v.expose_secret())
                            .ok()
                            .map(|v| (k, v))
                    })
                    .collect();
                let path = kind.credentials_path();
                put_secret_ref(&mut entity, path, "");
                if let Some(slot) = slot_mut(&mut entity, path) {
                    *slot = Value::Object(plain);
                }
            }
        }
        let mut patched = apply(&entity, ops)?;
        let credentials = take_credentials(&mut patched, kind.credentials_path())?;
        validate(
            kind,
            &patched,
            credentials.is_some() || resource.secret.is_some(),
        )?;
        if touches_credentials {
            match credentials {
                Some(c) if !c.is_empty() => {
                    let secret = self.seal(instance, resource.secret, &c).await?;
                    resource.secret = Some(secret);
                }
                _ => {
                    if let Some(secret) = resource.secret.take() {
                        self.secrets
                            .delete(TenantId(instance), SecretId(secret))
                            .await?;
                    }
                }
            }
        }
        if let Some(secret) = resource.secret {
            put_secret_ref(&mut patched, kind.credentials_path(), &secret.to_string());
        }
        resource.entity = patched;
        resource.updated_at = OffsetDateTime::now_utc();
        if kind == ResourceKind::DataMart {
            resource.state = State::Preparing;
            resource.failure = None;
        }
        self.store.update_resource(&resource).await?;
        Ok(resource)
    }

    async fn remove(&self, r: &ConfigResource) -> Result<(), ConfigError> {
        if let Some(secret) = r.secret {
            self.secrets
                .delete(TenantId(r.instance), SecretId(secret))
                .await?;
        }
        self.store.delete_resource(r.instance, r.kind, r.id).await?;
        Ok(())
    }

    /// Deletes a resource and its secret.
    pub async fn delete(
        &self,
        instance: Uuid,
        kind: ResourceKind,
        id: Uuid,
    ) -> Result<(), ConfigError> {
        let r = self.get(instance, kind, id).await?;
        self.remove(&r).await
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
                .seal(dm.instance, None, &credentials)
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
                .update_resource(dm)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(());
        }
        let secret = dm
            .secret
            .ok_or("the data mart has no database credentials")?;
        let tenant = TenantId(dm.instance);
        self.secrets
            .verify_root_keys(tenant)
            .await
            .map_err(|e| format!("cannot decrypt the database credentials: {e}"))?;
        let fields = self
            .secrets
            .get_all(tenant, SecretId(secret))
            .await
            .map_err(|e| format!("cannot decrypt the database credentials: {e}"))?;
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

fn slot_mut<'a>(entity: &'a mut Map<String, Value>, path: &[&str]) -> Option<&'a mut Value> {
    let (last, dirs) = path.split_last()?;
    let mut node = entity;
    for d in dirs {
        node = node.get_mut(*d)?.as_object_mut()?;
    }
    node.get_mut(*last)
}
