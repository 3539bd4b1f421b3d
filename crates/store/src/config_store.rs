//! `ConfigStore` on SQLite and PostgreSQL.

use keyward_configsvc::{ConfigError, ConfigResource, ConfigStore, ResourceKind, State};
use uuid::Uuid;

use crate::audit_pending::{change, record_provisional};
use crate::db::{Store, with_pool};
use crate::timestamp::{from_millis, to_millis};

fn failure(e: sqlx::Error) -> ConfigError {
    if crate::is_unavailable(&e) {
        ConfigError::StoreUnavailable(e.to_string())
    } else {
        ConfigError::Store(e.to_string())
    }
}

fn corrupt(what: &str) -> ConfigError {
    ConfigError::Store(format!("corrupt row: {what}"))
}

#[derive(sqlx::FromRow)]
struct ResourceRow {
    instance_id: String,
    kind: String,
    id: String,
    entity: String,
    secret_id: Option<String>,
    state: String,
    failure: Option<String>,
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

/// Deletes every field of one secret of one tenant (a configuration instance).
const DELETE_SECRET: &str = "DELETE FROM secret_fields WHERE tenant_id = $1 AND secret_id = $2";

const COLUMNS: &str =
    "instance_id, kind, id, entity, secret_id, state, failure, created_by, created_at, updated_at";

impl ResourceRow {
    fn into_resource(self) -> Result<ConfigResource, ConfigError> {
        let uuid = |s: &str, what| Uuid::parse_str(s).map_err(|_| corrupt(what));
        Ok(ConfigResource {
            instance: uuid(&self.instance_id, "instance id")?,
            kind: ResourceKind::parse(&self.kind).ok_or_else(|| corrupt("kind"))?,
            id: uuid(&self.id, "id")?,
            entity: serde_json::from_str(&self.entity).map_err(|_| corrupt("entity"))?,
            secret: self
                .secret_id
                .as_deref()
                .map(|s| uuid(s, "secret id"))
                .transpose()?,
            state: State::parse(&self.state).ok_or_else(|| corrupt("state"))?,
            failure: self.failure,
            created_by: self.created_by,
            created_at: from_millis(self.created_at),
            updated_at: from_millis(self.updated_at),
        })
    }
}

fn entity_text(r: &ConfigResource) -> String {
    serde_json::Value::Object(r.entity.clone()).to_string()
}

impl ConfigStore for Store {
    async fn insert_resource(&self, r: &ConfigResource) -> Result<bool, ConfigError> {
        let result = change!(self, tx => sqlx::query(&format!(
            "INSERT INTO config_resources ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(r.instance.to_string())
        .bind(r.kind.as_str())
        .bind(r.id.to_string())
        .bind(entity_text(r))
        .bind(r.secret.map(|s| s.to_string()))
        .bind(r.state.as_str())
        .bind(&r.failure)
        .bind(&r.created_by)
        .bind(to_millis(r.created_at))
        .bind(to_millis(r.updated_at))
        .execute(&mut *tx)
        .await
        .map(|_| ())?);
        match result {
            Ok(()) => Ok(true),
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Ok(false)
            }
            Err(e) => Err(failure(e)),
        }
    }

    async fn get_resource(
        &self,
        instance: Uuid,
        kind: ResourceKind,
        id: Uuid,
    ) -> Result<Option<ConfigResource>, ConfigError> {
        let row: Option<ResourceRow> = with_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM config_resources WHERE instance_id = $1 AND kind = $2 AND id = $3"
        ))
        .bind(instance.to_string())
        .bind(kind.as_str())
        .bind(id.to_string())
        .fetch_optional(pool)
        .await)
        .map_err(failure)?;
        row.map(ResourceRow::into_resource).transpose()
    }

    async fn list_resources(
        &self,
        instance: Uuid,
        kind: ResourceKind,
    ) -> Result<Vec<ConfigResource>, ConfigError> {
        let rows: Vec<ResourceRow> = with_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM config_resources WHERE instance_id = $1 AND kind = $2 ORDER BY created_at, id"
        ))
        .bind(instance.to_string())
        .bind(kind.as_str())
        .fetch_all(pool)
        .await)
        .map_err(failure)?;
        rows.into_iter().map(ResourceRow::into_resource).collect()
    }

    async fn update_resource(
        &self,
        r: &ConfigResource,
        retired: Option<Uuid>,
    ) -> Result<(), ConfigError> {
        let result: Result<(), sqlx::Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let pending = record_provisional!(tx);
            sqlx::query(
                "UPDATE config_resources SET entity = $4, secret_id = $5, state = $6, failure = $7, updated_at = $8 \
                 WHERE instance_id = $1 AND kind = $2 AND id = $3",
            )
            .bind(r.instance.to_string())
            .bind(r.kind.as_str())
            .bind(r.id.to_string())
            .bind(entity_text(r))
            .bind(r.secret.map(|s| s.to_string()))
            .bind(r.state.as_str())
            .bind(&r.failure)
            .bind(to_millis(r.updated_at))
            .execute(&mut *tx)
            .await?;
            if let Some(old) = retired {
                sqlx::query(DELETE_SECRET)
                    .bind(r.instance.to_string())
                    .bind(old.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            crate::audit_pending::committed(pending);
            Ok(())
        }.await);
        result.map_err(failure)
    }

    async fn replace_resource(
        &self,
        old: &ConfigResource,
        new: &ConfigResource,
    ) -> Result<(), ConfigError> {
        let insert = format!(
            "INSERT INTO config_resources ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        let result: Result<(), sqlx::Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let pending = record_provisional!(tx);
            sqlx::query(
                "DELETE FROM config_resources WHERE instance_id = $1 AND kind = $2 AND id = $3",
            )
            .bind(old.instance.to_string())
            .bind(old.kind.as_str())
            .bind(old.id.to_string())
            .execute(&mut *tx)
            .await?;
            if let Some(secret) = old.secret {
                sqlx::query(DELETE_SECRET)
                    .bind(old.instance.to_string())
                    .bind(secret.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(&insert)
                .bind(new.instance.to_string())
                .bind(new.kind.as_str())
                .bind(new.id.to_string())
                .bind(entity_text(new))
                .bind(new.secret.map(|s| s.to_string()))
                .bind(new.state.as_str())
                .bind(&new.failure)
                .bind(&new.created_by)
                .bind(to_millis(new.created_at))
                .bind(to_millis(new.updated_at))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            crate::audit_pending::committed(pending);
            Ok(())
        }.await);
        result.map_err(failure)
    }

    async fn set_state(
        &self,
        instance: Uuid,
        kind: ResourceKind,
        id: Uuid,
        state: State,
        failure_text: Option<&str>,
    ) -> Result<(), ConfigError> {
        change!(self, tx => sqlx::query(
            "UPDATE config_resources SET state = $4, failure = $5 WHERE instance_id = $1 AND kind = $2 AND id = $3",
        )
        .bind(instance.to_string())
        .bind(kind.as_str())
        .bind(id.to_string())
        .bind(state.as_str())
        .bind(failure_text)
        .execute(&mut *tx)
        .await
        .map(|_| ())?)
        .map_err(failure)
    }

    async fn delete_resource(&self, r: &ConfigResource) -> Result<bool, ConfigError> {
        let result: Result<bool, sqlx::Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let pending = record_provisional!(tx);
            let n = sqlx::query(
                "DELETE FROM config_resources WHERE instance_id = $1 AND kind = $2 AND id = $3",
            )
            .bind(r.instance.to_string())
            .bind(r.kind.as_str())
            .bind(r.id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if let Some(secret) = r.secret {
                sqlx::query(DELETE_SECRET)
                    .bind(r.instance.to_string())
                    .bind(secret.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            crate::audit_pending::committed(pending);
            Ok(n == 1)
        }.await);
        result.map_err(failure)
    }
}
