//! Import tokens as stored: one row per instance.

use keyward_kms::{ImportToken, InstanceId, KmsError};
use time::OffsetDateTime;

use crate::Store;
use crate::audit_pending::change;
use crate::db::with_pool;
use crate::rows::{corrupt, kms_failure};
use crate::timestamp::{from_millis, to_millis};

const COLUMNS: &str = "instance_id, created_at, expires_at, max_retrievals, remaining, public_key, nonce, sealed_private_key, created_by";

#[derive(sqlx::FromRow)]
struct Row {
    instance_id: String,
    created_at: i64,
    expires_at: i64,
    max_retrievals: i64,
    remaining: i64,
    public_key: Vec<u8>,
    nonce: Vec<u8>,
    sealed_private_key: Vec<u8>,
    created_by: String,
}

impl Row {
    fn into_token(self) -> Result<ImportToken, KmsError> {
        let count = |n: i64| u32::try_from(n).map_err(|_| corrupt("import token count"));
        Ok(ImportToken {
            instance: self
                .instance_id
                .parse()
                .map_err(|_| corrupt("instance id"))?,
            created_at: from_millis(self.created_at),
            expires_at: from_millis(self.expires_at),
            max_retrievals: count(self.max_retrievals)?,
            remaining: count(self.remaining)?,
            public_key: self.public_key,
            nonce: self.nonce,
            sealed_private_key: self.sealed_private_key,
            created_by: self.created_by,
        })
    }
}

impl Store {
    pub(crate) async fn write_import_token(&self, t: &ImportToken) -> Result<(), KmsError> {
        let insert = format!(
            "INSERT INTO import_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        change!(self, tx => {
            sqlx::query("DELETE FROM import_tokens WHERE instance_id = $1")
                .bind(t.instance.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query(&insert)
                .bind(t.instance.to_string())
                .bind(to_millis(t.created_at))
                .bind(to_millis(t.expires_at))
                .bind(i64::from(t.max_retrievals))
                .bind(i64::from(t.remaining))
                .bind(&t.public_key)
                .bind(&t.nonce)
                .bind(&t.sealed_private_key)
                .bind(&t.created_by)
                .execute(&mut *tx)
                .await?;
        })
        .map_err(kms_failure)
    }

    pub(crate) async fn read_import_token(
        &self,
        instance: InstanceId,
    ) -> Result<Option<ImportToken>, KmsError> {
        let sql = format!("SELECT {COLUMNS} FROM import_tokens WHERE instance_id = $1");
        let row: Option<Row> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(instance.to_string())
            .fetch_optional(pool)
            .await)
        .map_err(kms_failure)?;
        row.map(Row::into_token).transpose()
    }

    pub(crate) async fn count_import_token_retrieval(
        &self,
        instance: InstanceId,
        now: OffsetDateTime,
    ) -> Result<Option<ImportToken>, KmsError> {
        let sql = format!(
            "UPDATE import_tokens SET remaining = remaining - 1 \
             WHERE instance_id = $1 AND remaining > 0 AND expires_at > $2 RETURNING {COLUMNS}"
        );
        let row: Option<Row> = change!(self, tx => sqlx::query_as(&sql)
            .bind(instance.to_string())
            .bind(to_millis(now))
            .fetch_optional(&mut *tx)
            .await?)
        .map_err(kms_failure)?;
        row.map(Row::into_token).transpose()
    }

    pub(crate) async fn remove_import_token(
        &self,
        instance: InstanceId,
        created_at: OffsetDateTime,
    ) -> Result<bool, KmsError> {
        let deleted = change!(self, tx => sqlx::query(
            "DELETE FROM import_tokens WHERE instance_id = $1 AND created_at = $2",
        )
        .bind(instance.to_string())
        .bind(to_millis(created_at))
        .execute(&mut *tx)
        .await?
        .rows_affected())
        .map_err(kms_failure)?;
        Ok(deleted == 1)
    }
}
