//! What the unfinished re-encryption jobs add up to, for metrics.

use crate::db::{Store, StoreError, with_pool};

/// The unfinished re-encryption jobs of every tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReencryptionSummary {
    /// Jobs not finished (running or paused).
    pub jobs: u64,
    /// Of them, paused.
    pub paused: u64,
    /// Fields they have re-encrypted.
    pub fields_done: u64,
    /// Fields they had to re-encrypt when they began or turned back.
    pub fields_total: u64,
}

impl Store {
    /// One query over the jobs table.
    pub async fn reencryption_summary(&self) -> Result<ReencryptionSummary, StoreError> {
        let (jobs, paused, done, total): (i64, i64, i64, i64) = with_pool!(self, pool => sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'paused' THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(fields_done), 0), COALESCE(SUM(fields_total), 0) FROM reencryption_jobs",
        )
        .fetch_one(pool)
        .await)?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(ReencryptionSummary {
            jobs: count(jobs),
            paused: count(paused),
            fields_done: count(done),
            fields_total: count(total),
        })
    }
}
