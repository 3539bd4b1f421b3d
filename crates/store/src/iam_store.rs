//! `IamStore` on SQLite and PostgreSQL.

use keyward_iam::{
    AccountId, ApiKeyHash, ApiKeyRecord, IamError, IamStore, Instance, Policy, Principal,
    SigningKeyRecord, Subject,
};
use uuid::Uuid;

use crate::audit_pending::{change, record_provisional};
use crate::db::{Store, with_pool};
use crate::rows::{ApiKeyRow, InstanceRow, PolicyRow, PrincipalRow, iam_failure};
use crate::timestamp::{from_millis, to_millis};

const PRINCIPAL_COLUMNS: &str = "iam_id, account_id, kind, name, service_name, created_at";
const POLICY_COLUMNS: &str = "id, account_id, subject_kind, subject_id, subject_instance, roles, resource_service, resource_instance, resource_key_ring, created_at";
const INSTANCE_COLUMNS: &str = "id, account_id, service, name, created_at";
const API_KEY_COLUMNS: &str = "id, iam_id, name, hash, created_at, locked";

impl IamStore for Store {
    async fn create_account(&self, id: &AccountId, name: &str) -> Result<(), IamError> {
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(name)
        .bind(to_millis(time::OffsetDateTime::now_utc()))
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(iam_failure)
    }

    async fn create_principal(&self, p: &Principal) -> Result<(), IamError> {
        change!(self, tx => sqlx::query(&format!(
            "INSERT INTO principals ({PRINCIPAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(&p.iam_id)
        .bind(p.account.as_str())
        .bind(p.kind.as_str())
        .bind(&p.name)
        .bind(&p.service_name)
        .bind(to_millis(p.created_at))
        .execute(&mut *tx)
        .await
        .map(|_| ())?)
        .map_err(iam_failure)
    }

    async fn find_principal(&self, iam_id: &str) -> Result<Option<Principal>, IamError> {
        let row: Option<PrincipalRow> = with_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE iam_id = $1"
        ))
        .bind(iam_id)
        .fetch_optional(pool)
        .await)
        .map_err(iam_failure)?;
        row.map(PrincipalRow::into_principal).transpose()
    }

    async fn list_principals(&self, account: &AccountId) -> Result<Vec<Principal>, IamError> {
        let rows: Vec<PrincipalRow> = with_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE account_id = $1 ORDER BY created_at, iam_id"
        ))
        .bind(account.as_str())
        .fetch_all(pool)
        .await)
        .map_err(iam_failure)?;
        rows.into_iter().map(PrincipalRow::into_principal).collect()
    }

    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), IamError> {
        change!(self, tx => sqlx::query(&format!(
            "INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(key.id.to_string())
        .bind(&key.iam_id)
        .bind(&key.name)
        .bind(key.hash.0.to_vec())
        .bind(to_millis(key.created_at))
        .bind(key.locked)
        .execute(&mut *tx)
        .await
        .map(|_| ())?)
        .map_err(iam_failure)
    }

    async fn api_key_by_hash(
        &self,
        hash: &ApiKeyHash,
    ) -> Result<Option<(ApiKeyRecord, Principal)>, IamError> {
        let key: Option<ApiKeyRow> = with_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE hash = $1"
        ))
        .bind(hash.0.to_vec())
        .fetch_optional(pool)
        .await)
        .map_err(iam_failure)?;
        let Some(key) = key.map(ApiKeyRow::into_record).transpose()? else {
            return Ok(None);
        };
        Ok(self
            .find_principal(&key.iam_id)
            .await?
            .map(|owner| (key, owner)))
    }

    async fn find_api_key(&self, id: Uuid) -> Result<Option<ApiKeyRecord>, IamError> {
        let row: Option<ApiKeyRow> = with_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await)
        .map_err(iam_failure)?;
        row.map(ApiKeyRow::into_record).transpose()
    }

    async fn list_api_keys(&self, iam_id: &str) -> Result<Vec<ApiKeyRecord>, IamError> {
        let rows: Vec<ApiKeyRow> = with_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE iam_id = $1 ORDER BY created_at, id"
        ))
        .bind(iam_id)
        .fetch_all(pool)
        .await)
        .map_err(iam_failure)?;
        rows.into_iter().map(ApiKeyRow::into_record).collect()
    }

    async fn delete_api_key(&self, id: Uuid) -> Result<bool, IamError> {
        let n = change!(self, tx => sqlx::query("DELETE FROM api_keys WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map(|r| r.rows_affected())?)
        .map_err(iam_failure)?;
        Ok(n == 1)
    }

    async fn set_api_key_locked(&self, id: Uuid, locked: bool) -> Result<bool, IamError> {
        let n = change!(self, tx => sqlx::query("UPDATE api_keys SET locked = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(locked)
            .execute(&mut *tx)
            .await
            .map(|r| r.rows_affected())?)
        .map_err(iam_failure)?;
        Ok(n == 1)
    }

    async fn delete_principal(&self, iam_id: &str) -> Result<bool, IamError> {
        let deleted: Result<bool, sqlx::Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let pending = record_provisional!(tx);
            sqlx::query("DELETE FROM policies WHERE subject_kind = 'principal' AND subject_id = $1")
                .bind(iam_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM api_keys WHERE iam_id = $1")
                .bind(iam_id)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM principals WHERE iam_id = $1")
                .bind(iam_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            crate::audit_pending::committed(pending);
            Ok(n == 1)
        }.await);
        deleted.map_err(iam_failure)
    }

    async fn create_policy(&self, p: &Policy) -> Result<(), IamError> {
        let (kind, subject_id, subject_instance) = match &p.subject {
            Subject::Principal(iam_id) => ("principal", iam_id.clone(), None),
            Subject::Service { service, instance } => (
                "service",
                service.as_str().to_owned(),
                instance.map(|i| i.to_string()),
            ),
        };
        let roles = p
            .roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",");
        change!(self, tx => sqlx::query(&format!(
            "INSERT INTO policies ({POLICY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(p.id.to_string())
        .bind(p.account.as_str())
        .bind(kind)
        .bind(&subject_id)
        .bind(&subject_instance)
        .bind(&roles)
        .bind(p.resource.service.as_str())
        .bind(p.resource.instance.map(|i| i.to_string()))
        .bind(&p.resource.key_ring)
        .bind(to_millis(p.created_at))
        .execute(&mut *tx)
        .await
        .map(|_| ())?)
        .map_err(iam_failure)
    }

    async fn list_policies(&self, account: &AccountId) -> Result<Vec<Policy>, IamError> {
        let rows: Vec<PolicyRow> = with_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {POLICY_COLUMNS} FROM policies WHERE account_id = $1 ORDER BY created_at, id"
        ))
        .bind(account.as_str())
        .fetch_all(pool)
        .await)
        .map_err(iam_failure)?;
        rows.into_iter().map(PolicyRow::into_policy).collect()
    }

    async fn delete_policy(&self, account: &AccountId, id: Uuid) -> Result<bool, IamError> {
        let n = change!(self, tx => sqlx::query("DELETE FROM policies WHERE account_id = $1 AND id = $2")
            .bind(account.as_str())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map(|r| r.rows_affected())?)
        .map_err(iam_failure)?;
        Ok(n == 1)
    }

    async fn create_instance(&self, i: &Instance) -> Result<(), IamError> {
        change!(self, tx => sqlx::query(&format!(
            "INSERT INTO instances ({INSTANCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
        ))
        .bind(i.id.to_string())
        .bind(i.account.as_str())
        .bind(i.service.as_str())
        .bind(&i.name)
        .bind(to_millis(i.created_at))
        .execute(&mut *tx)
        .await
        .map(|_| ())?)
        .map_err(iam_failure)
    }

    async fn find_instance(&self, id: Uuid) -> Result<Option<Instance>, IamError> {
        let row: Option<InstanceRow> = with_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await)
        .map_err(iam_failure)?;
        row.map(InstanceRow::into_instance).transpose()
    }

    async fn list_instances(&self, account: &AccountId) -> Result<Vec<Instance>, IamError> {
        let rows: Vec<InstanceRow> = with_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances WHERE account_id = $1 ORDER BY created_at, id"
        ))
        .bind(account.as_str())
        .fetch_all(pool)
        .await)
        .map_err(iam_failure)?;
        rows.into_iter().map(InstanceRow::into_instance).collect()
    }

    async fn delete_instance(&self, id: Uuid) -> Result<bool, IamError> {
        let n = change!(self, tx => sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map(|r| r.rows_affected())?)
        .map_err(iam_failure)?;
        Ok(n == 1)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, IamError> {
        let rows: Vec<(String, Vec<u8>, i64)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT kid, sealed, created_at FROM token_signing_keys ORDER BY created_at DESC, kid"
        )
        .fetch_all(pool)
        .await)
        .map_err(iam_failure)?;
        Ok(rows
            .into_iter()
            .map(|(kid, sealed, created_at)| SigningKeyRecord {
                kid,
                sealed,
                created_at: from_millis(created_at),
            })
            .collect())
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), IamError> {
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO token_signing_keys (kid, sealed, created_at) VALUES ($1, $2, $3)",
        )
        .bind(&key.kid)
        .bind(&key.sealed)
        .bind(to_millis(key.created_at))
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(iam_failure)
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<bool, IamError> {
        let n =
            with_pool!(self, pool => sqlx::query("DELETE FROM token_signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
            .map_err(iam_failure)?;
        Ok(n == 1)
    }

    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, IamError> {
        with_pool!(self, pool => sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await)
        .map_err(iam_failure)
    }

    async fn setting_insert_if_absent(
        &self,
        name: &str,
        value: &[u8],
    ) -> Result<Vec<u8>, IamError> {
        with_pool!(self, pool => sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value.to_vec())
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(iam_failure)?;
        self.setting(name)
            .await?
            .ok_or_else(|| IamError::Store("setting vanished".into()))
    }
}
