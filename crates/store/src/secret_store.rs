//! `SecretStore` on SQLite and PostgreSQL.

use keyward_secrets::{
    FieldAt, Generation, GenerationId, GenerationStatus, JobLease, JobRecord, Reencrypted, RootKey,
    SealedField, SecretId, SecretStore, SecretsError, TenantId, WrappedBy,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit_pending::change;
use crate::db::{Db, Store, with_pool};
use crate::timestamp::{from_millis, to_millis};

fn failure(e: sqlx::Error) -> SecretsError {
    if crate::is_unavailable(&e) {
        SecretsError::StoreUnavailable(e.to_string())
    } else {
        SecretsError::Store(e.to_string())
    }
}

fn corrupt(what: &str) -> SecretsError {
    SecretsError::Store(format!("corrupt row: {what}"))
}

fn uuid(s: &str, what: &str) -> Result<Uuid, SecretsError> {
    Uuid::parse_str(s).map_err(|_| corrupt(what))
}

#[derive(sqlx::FromRow)]
struct GenerationRow {
    id: String,
    tenant_id: String,
    root_key: String,
    wrapped_dek: Vec<u8>,
    status: String,
    created_at: i64,
    tenant_bound: bool,
}

impl GenerationRow {
    fn into_generation(self) -> Result<Generation, SecretsError> {
        Ok(Generation {
            id: GenerationId(uuid(&self.id, "generation id")?),
            tenant: TenantId(uuid(&self.tenant_id, "tenant id")?),
            root: RootKey::from_stored(&self.root_key).ok_or_else(|| corrupt("root key"))?,
            wrapped_dek: self.wrapped_dek,
            status: GenerationStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            created_at: from_millis(self.created_at),
            tenant_bound: self.tenant_bound,
        })
    }
}

#[derive(sqlx::FromRow)]
struct FieldRow {
    tenant_id: String,
    secret_id: String,
    field: String,
    generation_id: String,
    ciphertext: Vec<u8>,
}

impl FieldRow {
    fn into_field(self) -> Result<SealedField, SecretsError> {
        Ok(SealedField {
            tenant: TenantId(uuid(&self.tenant_id, "tenant id")?),
            secret: SecretId(uuid(&self.secret_id, "secret id")?),
            field: self.field,
            generation: GenerationId(uuid(&self.generation_id, "generation id")?),
            ciphertext: self.ciphertext,
        })
    }
}

#[derive(sqlx::FromRow)]
struct JobRow {
    owner: String,
    lease_until: i64,
    state: String,
    reason: Option<String>,
    fields_done: i64,
    fields_total: Option<i64>,
}

/// What a job that starts (or turns back) has to move: the tenant's fields not under its
/// pending generation (`$1` the tenant, `$2` that generation).
const FIELDS_TO_MOVE: &str =
    "(SELECT COUNT(*) FROM secret_fields WHERE tenant_id = $1 AND generation_id <> $2)";

/// Rows per INSERT of `put_fields` (5 parameters each, well under either engine's limit).
const PUT_CHUNK: usize = 500;

const FIELD_COLUMNS: &str = "tenant_id, secret_id, field, generation_id, ciphertext";

/// Renews the owner's lease on the tenant's job in the open transaction `$tx`; evaluates to the
/// rows changed (1 when the owner holds the job).
macro_rules! renew {
    ($tx:expr, $tenant:expr, $lease:expr) => {
        sqlx::query(
            "UPDATE reencryption_jobs SET lease_until = $3, state = 'running', reason = NULL \
             WHERE tenant_id = $1 AND owner = $2",
        )
        .bind($tenant.to_string())
        .bind($lease.owner.as_str())
        .bind(to_millis($lease.until))
        .execute(&mut *$tx)
        .await?
        .rows_affected()
    };
}

/// Inserts generation `$g` in the open transaction `$tx`.
macro_rules! insert_generation_row {
    ($tx:expr, $g:expr) => {
        sqlx::query(
            "INSERT INTO secret_generations (id, tenant_id, root_key, wrapped_dek, status, created_at, tenant_bound) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($g.id.to_string())
        .bind($g.tenant.to_string())
        .bind($g.root.stored())
        .bind(&$g.wrapped_dek)
        .bind($g.status.as_str())
        .bind(to_millis($g.created_at))
        .bind($g.tenant_bound)
        .execute(&mut *$tx)
        .await?
        .rows_affected()
    };
}

/// The SQL that moves `rows` fields on SQLite: `$1` the new generation, `$2` the old one, `$3`
/// the tenant, then per field its rowid, new ciphertext, secret id and name. Statements of
/// [`SQLITE_ROWS_PER_UPDATE`] rows each: each finds its rows by rowid (no walk of the primary
/// key's index) and checks that each is still the same field under the old generation; a
/// statement of several rows costs SQLite's driver one result instead of one per row.
fn sqlite_batch_update(rows: usize) -> String {
    let mut sql = String::new();
    for start in (0..rows).step_by(SQLITE_ROWS_PER_UPDATE) {
        let group: Vec<usize> = (start..rows.min(start + SQLITE_ROWS_PER_UPDATE))
            .map(|i| 3 + i * 4)
            .collect();
        let case = |offset: usize| -> String {
            group
                .iter()
                .map(|b| format!("WHEN ${} THEN ${}", b + 1, b + offset))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let rowids: Vec<String> = group.iter().map(|b| format!("${}", b + 1)).collect();
        sql.push_str(&format!(
            "UPDATE secret_fields SET generation_id = $1, ciphertext = CASE rowid {} END \
             WHERE rowid IN ({}) AND tenant_id = $3 AND generation_id = $2 \
             AND secret_id = CASE rowid {} END AND field = CASE rowid {} END;",
            case(2),
            rowids.join(", "),
            case(3),
            case(4),
        ));
    }
    sql
}

/// Fields per UPDATE statement on SQLite (each `CASE` is a linear search of its rows).
const SQLITE_ROWS_PER_UPDATE: usize = 25;

/// Adds `$n` fields to the progress of the tenant's job in the open transaction `$tx`.
macro_rules! count_done {
    ($tx:expr, $tenant:expr, $n:expr) => {
        sqlx::query(
            "UPDATE reencryption_jobs SET fields_done = fields_done + $2 WHERE tenant_id = $1",
        )
        .bind($tenant.to_string())
        .bind(i64::try_from($n).unwrap_or(i64::MAX))
        .execute(&mut *$tx)
        .await?
        .rows_affected()
    };
}

fn is_unique(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

fn is_foreign_key(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
}

impl Store {
    async fn insert_generation(&self, g: &Generation) -> Result<bool, SecretsError> {
        let result = change!(self, tx => insert_generation_row!(tx, g));
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_unique(&e) => Ok(false),
            Err(e) => Err(failure(e)),
        }
    }
}

impl SecretStore for Store {
    async fn generations(&self, tenant: TenantId) -> Result<Vec<Generation>, SecretsError> {
        let rows: Vec<GenerationRow> = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, tenant_id, root_key, wrapped_dek, status, created_at, tenant_bound FROM secret_generations WHERE tenant_id = $1",
        )
        .bind(tenant.to_string())
        .fetch_all(pool)
        .await)
        .map_err(failure)?;
        rows.into_iter()
            .map(GenerationRow::into_generation)
            .collect()
    }

    async fn insert_first_generation(&self, g: &Generation) -> Result<bool, SecretsError> {
        self.insert_generation(g).await
    }

    async fn insert_pending_generation(&self, g: &Generation) -> Result<bool, SecretsError> {
        let result = change!(self, tx => {
            insert_generation_row!(tx, g);
            // The job, free for any node to take, with the fields it has to move.
            sqlx::query(&format!(
                "INSERT INTO reencryption_jobs (tenant_id, owner, lease_until, state, reason, fields_done, fields_total) \
                 VALUES ($1, '', 0, 'running', NULL, 0, {FIELDS_TO_MOVE}) \
                 ON CONFLICT (tenant_id) DO UPDATE SET state = 'running', reason = NULL, \
                     fields_done = 0, fields_total = excluded.fields_total",
            ))
            .bind(g.tenant.to_string())
            .bind(g.id.to_string())
            .execute(&mut *tx)
            .await?;
        });
        match result {
            Ok(()) => Ok(true),
            Err(e) if is_unique(&e) => Ok(false),
            Err(e) => Err(failure(e)),
        }
    }

    async fn update_wrapped_dek(
        &self,
        id: GenerationId,
        wrapped: &[u8],
    ) -> Result<(), SecretsError> {
        with_pool!(self, pool => sqlx::query("UPDATE secret_generations SET wrapped_dek = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(wrapped)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(failure)
    }

    async fn put_fields(&self, fields: &[SealedField]) -> Result<(), SecretsError> {
        if fields.is_empty() {
            return Ok(());
        }
        let result = change!(self, tx => {
            // One multi-row INSERT per chunk: a round trip carries many rows.
            for chunk in fields.chunks(PUT_CHUNK) {
                let rows: Vec<String> = (0..chunk.len())
                    .map(|i| {
                        let b = i * 5;
                        format!("(${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5)
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO secret_fields ({FIELD_COLUMNS}) VALUES {} \
                     ON CONFLICT (tenant_id, secret_id, field) DO UPDATE \
                     SET generation_id = excluded.generation_id, ciphertext = excluded.ciphertext",
                    rows.join(", ")
                );
                let mut q = sqlx::query(&sql);
                for f in chunk {
                    q = q
                        .bind(f.tenant.to_string())
                        .bind(f.secret.to_string())
                        .bind(&f.field)
                        .bind(f.generation.to_string())
                        .bind(&f.ciphertext);
                }
                q.execute(&mut *tx).await?;
            }
        });
        match result {
            Ok(()) => Ok(()),
            Err(e) if is_foreign_key(&e) => Err(SecretsError::StaleGeneration),
            Err(e) => Err(failure(e)),
        }
    }

    async fn get_field(
        &self,
        tenant: TenantId,
        secret: SecretId,
        field: &str,
    ) -> Result<Option<SealedField>, SecretsError> {
        let row: Option<FieldRow> = with_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {FIELD_COLUMNS} FROM secret_fields WHERE tenant_id = $1 AND secret_id = $2 AND field = $3"
        ))
        .bind(tenant.to_string())
        .bind(secret.to_string())
        .bind(field)
        .fetch_optional(pool)
        .await)
        .map_err(failure)?;
        row.map(FieldRow::into_field).transpose()
    }

    async fn get_fields(
        &self,
        tenant: TenantId,
        secret: SecretId,
    ) -> Result<Vec<SealedField>, SecretsError> {
        let rows: Vec<FieldRow> = with_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {FIELD_COLUMNS} FROM secret_fields WHERE tenant_id = $1 AND secret_id = $2 ORDER BY field"
        ))
        .bind(tenant.to_string())
        .bind(secret.to_string())
        .fetch_all(pool)
        .await)
        .map_err(failure)?;
        rows.into_iter().map(FieldRow::into_field).collect()
    }

    async fn delete_secret(&self, tenant: TenantId, secret: SecretId) -> Result<u64, SecretsError> {
        change!(self, tx => sqlx::query("DELETE FROM secret_fields WHERE tenant_id = $1 AND secret_id = $2")
            .bind(tenant.to_string())
            .bind(secret.to_string())
            .execute(&mut *tx)
            .await
            .map(|r| r.rows_affected())?)
        .map_err(failure)
    }

    async fn reverse_switch(
        &self,
        tenant: TenantId,
        current: GenerationId,
        pending: GenerationId,
    ) -> Result<bool, SecretsError> {
        let (tenant, current, pending) =
            (tenant.to_string(), current.to_string(), pending.to_string());
        // At most one generation per status at any moment (a unique index): the pending one
        // steps aside first. Each step checks the status it expects; the first that finds
        // something else returns before the commit, and the transaction rolls back.
        let swapped = change!(self, tx => {
            for (id, from, to) in [
                (&pending, "pending", "reversing"),
                (&current, "current", "pending"),
                (&pending, "reversing", "current"),
            ] {
                let n = sqlx::query(
                    "UPDATE secret_generations SET status = $3 WHERE id = $1 AND tenant_id = $2 AND status = $4",
                )
                .bind(id)
                .bind(&tenant)
                .bind(to)
                .bind(from)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n != 1 {
                    return Ok(false);
                }
            }
            // The job now moves back what went under the abandoned generation.
            sqlx::query(&format!(
                "INSERT INTO reencryption_jobs (tenant_id, owner, lease_until, state, reason, fields_done, fields_total) \
                 VALUES ($1, '', 0, 'running', NULL, 0, {FIELDS_TO_MOVE}) \
                 ON CONFLICT (tenant_id) DO UPDATE SET fields_done = 0, fields_total = excluded.fields_total",
            ))
            .bind(&tenant)
            .bind(&current)
            .execute(&mut *tx)
            .await?;
            true
        });
        swapped.map_err(failure)
    }

    async fn fields_under(
        &self,
        tenant: TenantId,
        generation: GenerationId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<FieldAt>, SecretsError> {
        // SQLite's rowid, PostgreSQL's row_id: the generation index orders each tenant's
        // generation by it.
        let position = match &self.db {
            Db::Sqlite(_) => "rowid",
            Db::Pg(_) => "row_id",
        };
        // The tenant and generation are the caller's: only what differs per row is read.
        let rows: Vec<(i64, String, String, Vec<u8>)> =
            with_pool!(self, pool => sqlx::query_as(&format!(
            "SELECT {position}, secret_id, field, ciphertext FROM secret_fields \
             WHERE tenant_id = $1 AND generation_id = $2 AND {position} > $3 \
             ORDER BY {position} LIMIT {limit}"
        ))
        .bind(tenant.to_string())
        .bind(generation.to_string())
        .bind(after)
        .fetch_all(pool)
        .await)
            .map_err(failure)?;
        rows.into_iter()
            .map(|(position, secret, field, ciphertext)| {
                Ok(FieldAt {
                    position,
                    sealed: SealedField {
                        tenant,
                        secret: SecretId(uuid(&secret, "secret id")?),
                        field,
                        generation,
                        ciphertext,
                    },
                })
            })
            .collect()
    }

    async fn apply_batch(
        &self,
        tenant: TenantId,
        lease: &JobLease,
        batch: &[Reencrypted],
    ) -> Result<u64, SecretsError> {
        let applied: Result<Option<u64>, sqlx::Error> = match &self.db {
            // SQLite: every query is a round trip to sqlx's SQLite worker thread, so each
            // round trip carries a chunk of primary-key UPDATEs (numbered parameters bind each
            // statement to its own values).
            Db::Sqlite(pool) => async {
                // A job's batch moves its tenant's fields from one generation to another: those
                // three are bound once per statement group.
                let first = batch.first();
                let ours = |r: &Reencrypted| {
                    r.sealed.tenant == tenant
                        && first.is_some_and(|f| {
                            r.sealed.generation == f.sealed.generation
                                && r.old_generation == f.old_generation
                        })
                };
                if !batch.iter().all(ours) {
                    return Err(sqlx::Error::Protocol(
                        "a re-encryption batch must move one tenant's fields between two generations".into(),
                    ));
                }
                let mut tx = pool.begin().await?;
                if renew!(tx, tenant, lease) != 1 {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let mut n = 0;
                for chunk in batch.chunks(500) {
                    let sql = sqlite_batch_update(chunk.len());
                    let mut q = sqlx::query(&sql)
                        .bind(chunk[0].sealed.generation.to_string())
                        .bind(chunk[0].old_generation.to_string())
                        .bind(tenant.to_string());
                    for r in chunk {
                        q = q
                            .bind(r.position)
                            .bind(&r.sealed.ciphertext)
                            .bind(r.sealed.secret.to_string())
                            .bind(&r.sealed.field);
                    }
                    n += q.execute(&mut *tx).await?.rows_affected();
                }
                count_done!(tx, tenant, n);
                tx.commit().await?;
                Ok(Some(n))
            }
            .await,
            // PostgreSQL: one statement for the whole batch (arrays), so a batch is one round trip.
            Db::Pg(pool) => async {
                let mut tx = pool.begin().await?;
                if renew!(tx, tenant, lease) != 1 {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let new_gen: Vec<String> = batch.iter().map(|r| r.sealed.generation.to_string()).collect();
                let ciphertexts: Vec<Vec<u8>> = batch.iter().map(|r| r.sealed.ciphertext.clone()).collect();
                let tenants: Vec<String> = batch.iter().map(|r| r.sealed.tenant.to_string()).collect();
                let secrets: Vec<String> = batch.iter().map(|r| r.sealed.secret.to_string()).collect();
                let fields: Vec<String> = batch.iter().map(|r| r.sealed.field.clone()).collect();
                let old_gen: Vec<String> = batch.iter().map(|r| r.old_generation.to_string()).collect();
                let positions: Vec<i64> = batch.iter().map(|r| r.position).collect();
                let n = sqlx::query(
                    "UPDATE secret_fields AS f SET generation_id = v.new_gen, ciphertext = v.ct \
                     FROM UNNEST($1::text[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) \
                          AS v(new_gen, ct, tenant_id, secret_id, field, old_gen, row_id) \
                     WHERE f.tenant_id = v.tenant_id AND f.secret_id = v.secret_id AND f.field = v.field \
                       AND f.generation_id = v.old_gen AND f.row_id = v.row_id",
                )
                .bind(new_gen)
                .bind(ciphertexts)
                .bind(tenants)
                .bind(secrets)
                .bind(fields)
                .bind(old_gen)
                .bind(positions)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                count_done!(tx, tenant, n);
                tx.commit().await?;
                Ok(Some(n))
            }
            .await,
        };
        applied.map_err(failure)?.ok_or(SecretsError::LeaseLost)
    }

    async fn take_job(
        &self,
        tenant: TenantId,
        lease: &JobLease,
        now: OffsetDateTime,
    ) -> Result<bool, SecretsError> {
        let n = with_pool!(self, pool => sqlx::query(
            "INSERT INTO reencryption_jobs (tenant_id, owner, lease_until, state, reason) \
             VALUES ($1, $2, $3, 'running', NULL) \
             ON CONFLICT (tenant_id) DO UPDATE SET owner = excluded.owner, \
                 lease_until = excluded.lease_until, state = 'running', reason = NULL \
             WHERE reencryption_jobs.lease_until < $4 OR reencryption_jobs.owner = excluded.owner",
        )
        .bind(tenant.to_string())
        .bind(&lease.owner)
        .bind(to_millis(lease.until))
        .bind(to_millis(now))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(failure)?;
        Ok(n == 1)
    }

    async fn pause_job(
        &self,
        tenant: TenantId,
        lease: &JobLease,
        reason: &str,
    ) -> Result<bool, SecretsError> {
        let n = with_pool!(self, pool => sqlx::query(
            "UPDATE reencryption_jobs SET lease_until = $3, state = 'paused', reason = $4 \
             WHERE tenant_id = $1 AND owner = $2",
        )
        .bind(tenant.to_string())
        .bind(&lease.owner)
        .bind(to_millis(lease.until))
        .bind(reason)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(failure)?;
        Ok(n == 1)
    }

    async fn job(&self, tenant: TenantId) -> Result<Option<JobRecord>, SecretsError> {
        let row: Option<JobRow> = with_pool!(self, pool => sqlx::query_as(
            "SELECT owner, lease_until, state, reason, fields_done, fields_total FROM reencryption_jobs WHERE tenant_id = $1",
        )
        .bind(tenant.to_string())
        .fetch_optional(pool)
        .await)
        .map_err(failure)?;
        Ok(row.map(|r| JobRecord {
            lease: JobLease {
                owner: r.owner,
                until: from_millis(r.lease_until),
            },
            paused: (r.state == "paused").then(|| r.reason.unwrap_or_default()),
            done: u64::try_from(r.fields_done).unwrap_or(0),
            total: r.fields_total.and_then(|t| u64::try_from(t).ok()),
        }))
    }

    async fn count_fields(
        &self,
        tenant: TenantId,
        generation: GenerationId,
    ) -> Result<(u64, u64), SecretsError> {
        let (done, total): (i64, i64) = with_pool!(self, pool => sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN generation_id = $2 THEN 1 ELSE 0 END), 0), COUNT(*) \
             FROM secret_fields WHERE tenant_id = $1",
        )
        .bind(tenant.to_string())
        .bind(generation.to_string())
        .fetch_one(pool)
        .await)
        .map_err(failure)?;
        Ok((
            u64::try_from(done).unwrap_or(0),
            u64::try_from(total).unwrap_or(0),
        ))
    }

    async fn promote(
        &self,
        tenant: TenantId,
        pending: GenerationId,
        lease: &JobLease,
    ) -> Result<bool, SecretsError> {
        let outcome: Result<Option<bool>, sqlx::Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            if renew!(tx, tenant, lease) != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            // Fails on the foreign key while any field still needs an old generation.
            let dropped = sqlx::query("DELETE FROM secret_generations WHERE tenant_id = $1 AND id <> $2")
                .bind(tenant.to_string())
                .bind(pending.to_string())
                .execute(&mut *tx)
                .await;
            match dropped {
                Ok(_) => {}
                Err(e) if is_foreign_key(&e) => {
                    tx.rollback().await?;
                    return Ok(Some(false));
                }
                Err(e) => return Err(e),
            }
            let promoted = sqlx::query("UPDATE secret_generations SET status = 'current' WHERE id = $1 AND status = 'pending'")
                .bind(pending.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if promoted != 1 {
                tx.rollback().await?;
                return Ok(Some(false));
            }
            sqlx::query("DELETE FROM reencryption_jobs WHERE tenant_id = $1")
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(true))
        }.await);
        outcome.map_err(failure)?.ok_or(SecretsError::LeaseLost)
    }

    async fn generations_under(&self, root: WrappedBy) -> Result<Vec<Generation>, SecretsError> {
        // A customer key is named by a CRN ending in `:<instance>:key:<key>` (ids have no LIKE
        // wildcards).
        let pattern = match root {
            WrappedBy::Global => "global".to_owned(),
            WrappedBy::CustomerKey { instance, key } => format!("%:{instance}:key:{key}"),
        };
        let rows: Vec<GenerationRow> = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, tenant_id, root_key, wrapped_dek, status, created_at, tenant_bound FROM secret_generations WHERE root_key LIKE $1",
        )
        .bind(pattern)
        .fetch_all(pool)
        .await)
        .map_err(failure)?;
        rows.into_iter()
            .map(GenerationRow::into_generation)
            .collect()
    }

    async fn customer_roots(&self) -> Result<Vec<(TenantId, RootKey)>, SecretsError> {
        let rows: Vec<(String, String)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT tenant_id, root_key FROM secret_generations WHERE root_key <> 'global'",
        )
        .fetch_all(pool)
        .await)
        .map_err(failure)?;
        rows.iter()
            .map(|(t, root)| {
                Ok((
                    TenantId(uuid(t, "tenant id")?),
                    RootKey::from_stored(root).ok_or_else(|| corrupt("root key"))?,
                ))
            })
            .collect()
    }

    async fn tenants_with_pending(&self) -> Result<Vec<TenantId>, SecretsError> {
        let rows: Vec<String> = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT DISTINCT tenant_id FROM secret_generations WHERE status = 'pending'",
        )
        .fetch_all(pool)
        .await)
        .map_err(failure)?;
        rows.iter()
            .map(|t| uuid(t, "tenant id").map(TenantId))
            .collect()
    }
}
