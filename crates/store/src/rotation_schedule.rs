//! What the rotation scheduler asks of the store: the keys due, and a lease so that one node at
//! a time rotates them.

use keyward_kms::{InstanceId, KeyId, KmsError};
use time::OffsetDateTime;

use crate::Store;
use crate::db::with_pool;
use crate::rows::{corrupt, kms_failure};
use crate::timestamp::to_millis;

impl Store {
    pub(crate) async fn due_for_rotation(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<(InstanceId, KeyId)>, KmsError> {
        let rows: Vec<(String, String)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT instance_id, id FROM keys WHERE rotation_due_at <= $1 AND state = 1 \
             AND (expiration IS NULL OR expiration > $1) ORDER BY rotation_due_at LIMIT $2",
        )
        .bind(to_millis(now))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)
        .map_err(kms_failure)?;
        rows.into_iter()
            .map(|(instance, id)| {
                Ok((
                    instance.parse().map_err(|_| corrupt("instance id"))?,
                    id.parse().map_err(|_| corrupt("key id"))?,
                ))
            })
            .collect()
    }

    pub(crate) async fn take_lease(
        &self,
        name: &str,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, KmsError> {
        let taken = with_pool!(self, pool => sqlx::query(
            "INSERT INTO scheduler_leases (name, owner, lease_until) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until \
             WHERE scheduler_leases.owner = excluded.owner OR scheduler_leases.lease_until <= $4",
        )
        .bind(name)
        .bind(owner)
        .bind(to_millis(until))
        .bind(to_millis(now))
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
        .map_err(kms_failure)?;
        Ok(taken == 1)
    }
}
