//! The database's own speed at rewriting a tenant's fields, for `keyward bench reencrypt` to
//! show beside a switch: one statement that changes every field's generation and ciphertext
//! (the work a switch asks of the database, without Keyward's reads, crypto and batches),
//! rolled back.

use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::db::{Store, StoreError, with_pool};

impl Store {
    /// How long one `UPDATE` takes to rewrite every field of `tenant` (generation and
    /// ciphertext); nothing is kept.
    pub async fn time_one_statement_rewrite(&self, tenant: Uuid) -> Result<Duration, StoreError> {
        let scratch = Uuid::new_v4().to_string();
        let tenant = tenant.to_string();
        let timed: Result<Duration, sqlx::Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO secret_generations (id, tenant_id, root_key, wrapped_dek, status, created_at, tenant_bound) \
                 VALUES ($1, $2, 'global', $3, 'scratch', 0, TRUE)",
            )
            .bind(&scratch)
            .bind(&tenant)
            .bind(vec![0_u8; 16])
            .execute(&mut *tx)
            .await?;
            let start = Instant::now();
            // The same bytes: what matters is that every row and its index entries are written.
            sqlx::query(
                "UPDATE secret_fields SET generation_id = $1, ciphertext = ciphertext WHERE tenant_id = $2",
            )
            .bind(&scratch)
            .bind(&tenant)
            .execute(&mut *tx)
            .await?;
            let took = start.elapsed();
            tx.rollback().await?;
            Ok(took)
        }
        .await);
        timed.map_err(StoreError::from)
    }
}
