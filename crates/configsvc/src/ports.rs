//! Ports of the configuration service.

use std::future::Future;

use uuid::Uuid;

use crate::credentials::Credentials;
use crate::error::ConfigError;
use crate::model::{ConfigResource, ResourceKind, State};

/// Persistence of resources.
pub trait ConfigStore: Send + Sync + 'static {
    /// Inserts; `Ok(false)` if the id exists.
    fn insert_resource(
        &self,
        r: &ConfigResource,
    ) -> impl Future<Output = Result<bool, ConfigError>> + Send;
    /// Reads one.
    fn get_resource(
        &self,
        instance: Uuid,
        kind: ResourceKind,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<ConfigResource>, ConfigError>> + Send;
    /// Lists an instance's resources of a kind, oldest first.
    fn list_resources(
        &self,
        instance: Uuid,
        kind: ResourceKind,
    ) -> impl Future<Output = Result<Vec<ConfigResource>, ConfigError>> + Send;
    /// Replaces entity, secret reference and state; with `retired`, deletes that secret of the
    /// resource's instance in the same transaction (credentials replaced atomically).
    fn update_resource(
        &self,
        r: &ConfigResource,
        retired: Option<Uuid>,
    ) -> impl Future<Output = Result<(), ConfigError>> + Send;
    /// Replaces `old` by `new` (same instance, kind and id) and deletes `old`'s secret, in one
    /// transaction.
    fn replace_resource(
        &self,
        old: &ConfigResource,
        new: &ConfigResource,
    ) -> impl Future<Output = Result<(), ConfigError>> + Send;
    /// Sets state and failure only.
    fn set_state(
        &self,
        instance: Uuid,
        kind: ResourceKind,
        id: Uuid,
        state: State,
        failure: Option<&str>,
    ) -> impl Future<Output = Result<(), ConfigError>> + Send;
    /// Deletes a resource and its secret in one transaction; `Ok(false)` if absent.
    fn delete_resource(
        &self,
        r: &ConfigResource,
    ) -> impl Future<Output = Result<bool, ConfigError>> + Send;
}

/// What a data mart's database setup needs.
pub struct DatabaseTarget<'a> {
    /// `postgresql` or `db2`.
    pub database_type: &'a str,
    /// Schema to create if missing.
    pub schema: Option<&'a str>,
    /// Decrypted credentials.
    pub credentials: &'a Credentials,
}

/// Connects to a customer's database with decrypted credentials and prepares it.
pub trait DatabasePreparer: Send + Sync + 'static {
    /// Connects and creates the schema if it is missing; the error text is shown to the user.
    fn prepare(
        &self,
        target: DatabaseTarget<'_>,
    ) -> impl Future<Output = Result<(), String>> + Send;

    /// Auto setup: a schema and a role with a generated password in the provisioning database
    /// the operator configured; returns the credentials to store, or why it cannot.
    fn provision_internal(
        &self,
        schema: &str,
    ) -> impl Future<Output = Result<Credentials, String>> + Send;

    /// Drops what [`DatabasePreparer::provision_internal`] made for `schema` (the data mart is
    /// gone).
    fn deprovision_internal(&self, schema: &str)
    -> impl Future<Output = Result<(), String>> + Send;
}
