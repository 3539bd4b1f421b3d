//! `KeyStore` on SQLite and PostgreSQL.

use std::collections::HashMap;

use keyward_kms::{
    Alias, AliasLimits, ImportToken, InstanceId, InstancePolicies, InstancePolicy, Key, KeyEvent,
    KeyEventKind, KeyId, KeyQuery, KeyRef, KeyRing, KeyRingId, KeyState, KeyStore, KeyVersionId,
    KmsError, StoredVersion,
};
use time::{Duration, OffsetDateTime};

use crate::audit_pending::{change, record_provisional};
use crate::db::{Db, Store, with_pool};
use crate::key_events::{CHANNEL, payload};
use crate::rows::{
    AliasRow, KEY_COLUMNS, KeyRow, RingRow, VersionRow, corrupt, is_unique_violation, kms_failure,
};
use crate::timestamp::{from_millis, opt_to_millis, to_millis};

/// Writes a key event in the open transaction `$tx` (and, on PostgreSQL, its notification,
/// delivered at commit); evaluates to the event.
macro_rules! record_event {
    ($store:expr, $tx:expr, $key:expr, $kind:expr) => {{
        let at = OffsetDateTime::now_utc();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO key_events (key_id, instance_id, kind, at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind($key.id.to_string())
        .bind($key.instance.to_string())
        .bind($kind.as_str())
        .bind(to_millis(at))
        .fetch_one(&mut *$tx)
        .await?;
        let event = KeyEvent {
            id,
            key: $key.id,
            instance: $key.instance,
            kind: $kind,
            at,
        };
        if matches!($store.db, Db::Pg(_)) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload(&$store.namespace, &event))
                .execute(&mut *$tx)
                .await?;
        }
        event
    }};
}

/// Keys destroyed longer ago than this read as purged.
const AUTO_PURGE: Duration = Duration::days(90);

/// The SQL condition (on table `keys`) for one effective state; `$2` is now in milliseconds.
/// The lock that serialises alias additions of one instance.
const ALIAS_QUOTA: &str = "keyward.alias-quota";
/// The lock that serialises key-ring creations of one instance.
const RING_QUOTA: &str = "keyward.ring-quota";

impl Store {
    /// On PostgreSQL, the statement and its argument that take a transaction lock on `instance`
    /// for one quota: a count read after an insert in READ COMMITTED does not see a concurrent
    /// transaction's insert, so two nodes could each stay under a quota and pass it together.
    /// SQLite serialises writers already.
    fn instance_lock(&self, quota: &str, instance: InstanceId) -> Option<(&'static str, String)> {
        match self.db {
            Db::Pg(_) => Some((
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                format!("{quota}:{instance}"),
            )),
            Db::Sqlite(_) => None,
        }
    }
}

fn state_condition(state: KeyState) -> &'static str {
    match state {
        KeyState::PreActivation => "state = 0",
        KeyState::Active => "(state = 1 AND (expiration IS NULL OR expiration > $2))",
        KeyState::Deactivated => "(state = 1 AND expiration IS NOT NULL AND expiration <= $2)",
        KeyState::Suspended => "state = 2",
        KeyState::Destroyed => "(state = 5 AND deleted_at > $3)",
    }
}

/// WHERE clause for a list query. Binds: $1 instance, $2 now, $3 auto-purge horizon,
/// $4 extractable (if filtered), then the ring, then the readable rings.
fn where_clause(query: &KeyQuery) -> String {
    let states: Vec<&str> = query.states.iter().map(|s| state_condition(*s)).collect();
    let mut sql = format!(
        "instance_id = $1 AND $2 = $2 AND $3 = $3 AND ({})",
        if states.is_empty() {
            "1 = 0".to_owned()
        } else {
            states.join(" OR ")
        }
    );
    let mut next = 4;
    if query.extractable.is_some() {
        sql.push_str(&format!(" AND extractable = ${next}"));
        next += 1;
    }
    if query.key_ring.is_some() {
        sql.push_str(&format!(" AND key_ring = ${next}"));
        next += 1;
    }
    if let Some(rings) = &query.rings {
        let slots: Vec<String> = (next..next + rings.len())
            .map(|n| format!("${n}"))
            .collect();
        if slots.is_empty() {
            sql.push_str(" AND 1 = 0");
        } else {
            sql.push_str(&format!(" AND key_ring IN ({})", slots.join(", ")));
        }
    }
    sql
}

fn tags_json(key: &Key) -> String {
    serde_json::to_string(&key.tags).unwrap_or_else(|_| "[]".to_owned())
}

/// Builds a query for `where_clause` and binds its parameters.
macro_rules! bind_filter {
    ($q:expr, $instance:expr, $query:expr, $now:expr) => {{
        let mut q = $q
            .bind($instance.to_string())
            .bind(to_millis($now))
            .bind(to_millis($now - AUTO_PURGE));
        if let Some(e) = $query.extractable {
            q = q.bind(e);
        }
        if let Some(r) = &$query.key_ring {
            q = q.bind(r.as_str().to_owned());
        }
        for r in $query.rings.iter().flatten() {
            q = q.bind(r.as_str().to_owned());
        }
        q
    }};
}

impl Store {
    /// `FOR SHARE` on PostgreSQL: a ring being deleted blocks (then fails) a key moving in,
    /// and a key moving in blocks the ring's deletion until it commits. SQLite serialises
    /// writers, so a plain read inside the write transaction is enough.
    fn share_lock(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "",
            Db::Pg(_) => " FOR SHARE",
        }
    }

    async fn aliases_of(&self, key: KeyId) -> Result<Vec<Alias>, KmsError> {
        let rows: Vec<AliasRow> = with_pool!(self, pool => sqlx::query_as(
            "SELECT key_id, alias FROM key_aliases WHERE key_id = $1 ORDER BY created_at, alias",
        )
        .bind(key.to_string())
        .fetch_all(pool)
        .await)
        .map_err(kms_failure)?;
        rows.into_iter()
            .map(|r| r.alias.parse::<Alias>().map_err(|_| corrupt("alias")))
            .collect()
    }
}

impl KeyStore for Store {
    async fn create_key(&self, key: &Key, version: &StoredVersion) -> Result<(), KmsError> {
        let insert_key = format!(
            "INSERT INTO keys ({KEY_COLUMNS}, rotation_due_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25)"
        );
        let guard = format!(
            "SELECT id FROM key_rings WHERE instance_id = $1 AND id = $2{}",
            self.share_lock()
        );
        let result: Result<bool, sqlx::Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let pending = record_provisional!(tx);
            sqlx::query(&insert_key)
                .bind(key.id.to_string())
                .bind(key.instance.to_string())
                .bind(&key.name)
                .bind(&key.description)
                .bind(tags_json(key))
                .bind(key.extractable)
                .bind(key.imported)
                .bind(key.state.code())
                .bind(i64::from(key.bit_length))
                .bind(opt_to_millis(key.expiration))
                .bind(key.key_ring.as_str())
                .bind(to_millis(key.created_at))
                .bind(&key.created_by)
                .bind(to_millis(key.updated_at))
                .bind(opt_to_millis(key.last_rotated_at))
                .bind(to_millis(key.state_changed_at))
                .bind(opt_to_millis(key.deleted_at))
                .bind(&key.deleted_by)
                .bind(key.current_version.id.to_string())
                .bind(to_millis(key.current_version.created_at))
                .bind(key.revision)
                .bind(crate::key_policies::to_column(&key.policies))
                .bind(key.deletion_authorization.as_ref().map(|a| a.by.clone()))
                .bind(key.deletion_authorization.as_ref().map(|a| to_millis(a.at)))
                .bind(opt_to_millis(key.rotation_due_at()))
                .execute(&mut *tx)
                .await?;
            insert_version(version).execute(&mut *tx).await?;
            if !key.key_ring.is_default() {
                let ring: Option<String> = sqlx::query_scalar(&guard)
                    .bind(key.instance.to_string())
                    .bind(key.key_ring.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if ring.is_none() {
                    tx.rollback().await?;
                    return Ok(false);
                }
            }
            for alias in &key.aliases {
                sqlx::query("INSERT INTO key_aliases (instance_id, alias, key_id, created_at, created_by) VALUES ($1, $2, $3, $4, $5)")
                    .bind(key.instance.to_string())
                    .bind(alias.as_str())
                    .bind(key.id.to_string())
                    .bind(to_millis(key.created_at))
                    .bind(&key.created_by)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            crate::audit_pending::committed(pending);
            Ok(true)
        }.await);
        match result {
            Ok(true) => Ok(()),
            Ok(false) => Err(KmsError::KeyRingNotFound),
            Err(e) if is_unique_violation(&e) => Err(KmsError::AliasTaken),
            Err(e) => Err(kms_failure(e)),
        }
    }

    async fn find_key(&self, instance: InstanceId, key: &KeyRef) -> Result<Option<Key>, KmsError> {
        let row: Option<KeyRow> = match key {
            KeyRef::Id(id) => with_pool!(self, pool => sqlx::query_as(&format!(
                "SELECT {KEY_COLUMNS} FROM keys WHERE id = $1 AND instance_id = $2"
            ))
            .bind(id.to_string())
            .bind(instance.to_string())
            .fetch_optional(pool)
            .await),
            KeyRef::Alias(alias) => with_pool!(self, pool => sqlx::query_as(&format!(
                "SELECT {KEY_COLUMNS} FROM keys WHERE instance_id = $1 AND id = \
                 (SELECT key_id FROM key_aliases WHERE instance_id = $1 AND alias = $2)"
            ))
            .bind(instance.to_string())
            .bind(alias.as_str())
            .fetch_optional(pool)
            .await),
        }
        .map_err(kms_failure)?;
        match row {
            None => Ok(None),
            Some(row) => {
                let id = row.id.parse::<KeyId>().map_err(|_| corrupt("key id"))?;
                let aliases = self.aliases_of(id).await?;
                row.into_key(aliases).map(Some)
            }
        }
    }

    async fn list_keys(
        &self,
        instance: InstanceId,
        query: &KeyQuery,
        now: OffsetDateTime,
    ) -> Result<Vec<Key>, KmsError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM keys WHERE {} ORDER BY created_at, id LIMIT {} OFFSET {}",
            where_clause(query),
            query.limit,
            query.offset
        );
        let rows: Vec<KeyRow> =
            with_pool!(self, pool => bind_filter!(sqlx::query_as(&sql), instance, query, now)
            .fetch_all(pool)
            .await)
            .map_err(kms_failure)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let alias_rows: Vec<AliasRow> = with_pool!(self, pool => sqlx::query_as(
            "SELECT key_id, alias FROM key_aliases WHERE instance_id = $1 ORDER BY created_at, alias",
        )
        .bind(instance.to_string())
        .fetch_all(pool)
        .await)
        .map_err(kms_failure)?;
        let mut aliases: HashMap<String, Vec<Alias>> = HashMap::new();
        for r in alias_rows {
            let alias = r.alias.parse::<Alias>().map_err(|_| corrupt("alias"))?;
            aliases.entry(r.key_id).or_default().push(alias);
        }
        rows.into_iter()
            .map(|row| {
                let a = aliases.remove(&row.id).unwrap_or_default();
                row.into_key(a)
            })
            .collect()
    }

    async fn count_keys(
        &self,
        instance: InstanceId,
        query: &KeyQuery,
        now: OffsetDateTime,
    ) -> Result<u64, KmsError> {
        let sql = format!("SELECT COUNT(*) FROM keys WHERE {}", where_clause(query));
        let count: i64 =
            with_pool!(self, pool => bind_filter!(sqlx::query_scalar(&sql), instance, query, now)
            .fetch_one(pool)
            .await)
            .map_err(kms_failure)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn save_key(
        &self,
        key: &Key,
        expected_revision: i64,
        event: KeyEventKind,
    ) -> Result<bool, KmsError> {
        let guard = format!(
            "SELECT id FROM key_rings WHERE instance_id = $1 AND id = $2{}",
            self.share_lock()
        );
        let outcome: Result<Result<KeyEvent, bool>, sqlx::Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let pending = record_provisional!(tx);
            let updated = update_key(key, expected_revision).execute(&mut *tx).await?.rows_affected();
            if updated != 1 {
                tx.rollback().await?;
                return Ok(Err(false));
            }
            if !key.key_ring.is_default() {
                let ring: Option<String> = sqlx::query_scalar(&guard)
                    .bind(key.instance.to_string())
                    .bind(key.key_ring.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if ring.is_none() {
                    tx.rollback().await?;
                    return Ok(Err(true));
                }
            }
            let recorded = record_event!(self, tx, key, event);
            tx.commit().await?;
            crate::audit_pending::committed(pending);
            Ok(Ok(recorded))
        }.await);
        match outcome.map_err(kms_failure)? {
            Ok(recorded) => {
                self.events.publish(&recorded);
                Ok(true)
            }
            Err(false) => Ok(false),
            Err(true) => Err(KmsError::KeyRingNotFound),
        }
    }

    async fn add_version(
        &self,
        key: &Key,
        expected_revision: i64,
        version: &StoredVersion,
    ) -> Result<bool, KmsError> {
        let saved: Result<Option<KeyEvent>, sqlx::Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let pending = record_provisional!(tx);
            let updated = update_key(key, expected_revision).execute(&mut *tx).await?;
            if updated.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            insert_version(version).execute(&mut *tx).await?;
            let recorded = record_event!(self, tx, key, KeyEventKind::Rotated);
            tx.commit().await?;
            crate::audit_pending::committed(pending);
            Ok(Some(recorded))
        }.await);
        match saved.map_err(kms_failure)? {
            Some(recorded) => {
                self.events.publish(&recorded);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn versions(&self, key: KeyId) -> Result<Vec<StoredVersion>, KmsError> {
        let rows: Vec<VersionRow> = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, key_id, created_at, wrapped_material FROM key_versions WHERE key_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(key.to_string())
        .fetch_all(pool)
        .await)
        .map_err(kms_failure)?;
        rows.into_iter().map(VersionRow::into_version).collect()
    }

    async fn purge_key(&self, key: &Key, expected_revision: i64) -> Result<bool, KmsError> {
        // Versions and aliases go with the key (ON DELETE CASCADE).
        let purged: Result<Option<KeyEvent>, sqlx::Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let pending = record_provisional!(tx);
            let n = sqlx::query("DELETE FROM keys WHERE id = $1 AND revision = $2 AND state = 5")
                .bind(key.id.to_string())
                .bind(expected_revision)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            let recorded = record_event!(self, tx, key, KeyEventKind::Purged);
            tx.commit().await?;
            crate::audit_pending::committed(pending);
            Ok(Some(recorded))
        }.await);
        match purged.map_err(kms_failure)? {
            Some(recorded) => {
                self.events.publish(&recorded);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn key_events_after(&self, after: i64, limit: u32) -> Result<Vec<KeyEvent>, KmsError> {
        let rows: Vec<(i64, String, String, String, i64)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, key_id, instance_id, kind, at FROM key_events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)
        .map_err(kms_failure)?;
        rows.into_iter()
            .map(|(id, key, instance, kind, at)| {
                Ok(KeyEvent {
                    id,
                    key: key.parse().map_err(|_| corrupt("event key id"))?,
                    instance: instance.parse().map_err(|_| corrupt("event instance id"))?,
                    kind: KeyEventKind::parse(&kind).ok_or_else(|| corrupt("event kind"))?,
                    at: from_millis(at),
                })
            })
            .collect()
    }

    async fn add_alias(
        &self,
        instance: InstanceId,
        key: KeyId,
        alias: &Alias,
        now: OffsetDateTime,
        by: &str,
        limits: AliasLimits,
    ) -> Result<(), KmsError> {
        const INSERT: &str = "INSERT INTO key_aliases (instance_id, alias, key_id, created_at, created_by) VALUES ($1, $2, $3, $4, $5)";
        const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM key_aliases WHERE key_id = $1), \
                              (SELECT COUNT(*) FROM key_aliases WHERE instance_id = $2)";
        // Additions to one instance count one after another (both quotas are read after the
        // insert, in the same transaction).
        let lock = self.instance_lock(ALIAS_QUOTA, instance);
        let outcome: Result<bool, sqlx::Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let pending = record_provisional!(tx);
            if let Some((sql, name)) = &lock {
                sqlx::query(sql).bind(name).execute(&mut *tx).await?;
            }
            sqlx::query(INSERT)
                .bind(instance.to_string())
                .bind(alias.as_str())
                .bind(key.to_string())
                .bind(to_millis(now))
                .bind(by)
                .execute(&mut *tx)
                .await?;
            let (per_key, per_instance): (i64, i64) = sqlx::query_as(COUNTS)
                .bind(key.to_string())
                .bind(instance.to_string())
                .fetch_one(&mut *tx)
                .await?;
            if per_key > i64::from(limits.per_key) || per_instance > i64::from(limits.per_instance) {
                tx.rollback().await?;
                return Ok(false);
            }
            tx.commit().await?;
            crate::audit_pending::committed(pending);
            Ok(true)
        }.await);
        match outcome {
            Ok(true) => Ok(()),
            Ok(false) => Err(KmsError::AliasQuota),
            Err(e) if is_unique_violation(&e) => Err(KmsError::AliasTaken),
            Err(e) => Err(kms_failure(e)),
        }
    }

    async fn remove_alias(
        &self,
        instance: InstanceId,
        key: KeyId,
        alias: &Alias,
    ) -> Result<bool, KmsError> {
        let done = change!(self, tx => sqlx::query(
            "DELETE FROM key_aliases WHERE instance_id = $1 AND alias = $2 AND key_id = $3",
        )
        .bind(instance.to_string())
        .bind(alias.as_str())
        .bind(key.to_string())
        .execute(&mut *tx)
        .await
        .map(|r| r.rows_affected())?)
        .map_err(kms_failure)?;
        Ok(done == 1)
    }

    async fn create_key_ring(
        &self,
        instance: InstanceId,
        ring: &KeyRing,
        max_rings: usize,
    ) -> Result<(), KmsError> {
        let max = i64::try_from(max_rings).unwrap_or(i64::MAX);
        // Insert only while under the quota, creations in one instance one after another.
        let lock = self.instance_lock(RING_QUOTA, instance);
        let result = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let pending = record_provisional!(tx);
            if let Some((sql, name)) = &lock {
                sqlx::query(sql).bind(name).execute(&mut *tx).await?;
            }
            let inserted = sqlx::query(
                "INSERT INTO key_rings (instance_id, id, created_at, created_by) \
                 SELECT $1, $2, $3, $4 WHERE (SELECT COUNT(*) FROM key_rings WHERE instance_id = $1) < $5",
            )
            .bind(instance.to_string())
            .bind(ring.id.as_str())
            .bind(to_millis(ring.created_at))
            .bind(&ring.created_by)
            .bind(max)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            crate::audit_pending::committed(pending);
            Ok::<_, sqlx::Error>(inserted)
        }.await);
        match result {
            Ok(1) => Ok(()),
            Ok(_) => Err(KmsError::KeyRingQuota),
            Err(e) if is_unique_violation(&e) => Err(KmsError::KeyRingExists),
            Err(e) => Err(kms_failure(e)),
        }
    }

    async fn list_key_rings(&self, instance: InstanceId) -> Result<Vec<KeyRing>, KmsError> {
        let rows: Vec<RingRow> = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, created_at, created_by FROM key_rings WHERE instance_id = $1 ORDER BY created_at, id",
        )
        .bind(instance.to_string())
        .fetch_all(pool)
        .await)
        .map_err(kms_failure)?;
        rows.into_iter().map(RingRow::into_ring).collect()
    }

    async fn key_ring_exists(
        &self,
        instance: InstanceId,
        ring: &KeyRingId,
    ) -> Result<bool, KmsError> {
        let n: i64 = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM key_rings WHERE instance_id = $1 AND id = $2",
        )
        .bind(instance.to_string())
        .bind(ring.as_str())
        .fetch_one(pool)
        .await)
        .map_err(kms_failure)?;
        Ok(n > 0)
    }

    async fn delete_key_ring(
        &self,
        instance: InstanceId,
        ring: &KeyRingId,
        force: bool,
    ) -> Result<(), KmsError> {
        let outcome: Result<Result<(), KmsError>, sqlx::Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let pending = record_provisional!(tx);
            // Write first, so that SQLite takes its write lock at the start of the transaction.
            let deleted = sqlx::query("DELETE FROM key_rings WHERE instance_id = $1 AND id = $2")
                .bind(instance.to_string())
                .bind(ring.as_str())
                .execute(&mut *tx)
                .await?;
            if deleted.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(Err(KmsError::KeyRingNotFound));
            }
            let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM keys WHERE instance_id = $1 AND key_ring = $2 AND state <> 5")
                .bind(instance.to_string())
                .bind(ring.as_str())
                .fetch_one(&mut *tx)
                .await?;
            let destroyed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM keys WHERE instance_id = $1 AND key_ring = $2 AND state = 5")
                .bind(instance.to_string())
                .bind(ring.as_str())
                .fetch_one(&mut *tx)
                .await?;
            if live > 0 || (destroyed > 0 && !force) {
                tx.rollback().await?;
                return Ok(Err(KmsError::KeyRingNotEmpty));
            }
            sqlx::query("UPDATE keys SET key_ring = 'default' WHERE instance_id = $1 AND key_ring = $2")
                .bind(instance.to_string())
                .bind(ring.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            crate::audit_pending::committed(pending);
            Ok(Ok(()))
        }.await);
        outcome.map_err(kms_failure)?
    }

    async fn put_registration(&self, r: &keyward_kms::Registration) -> Result<(), KmsError> {
        self.upsert_registration(r).await
    }

    async fn remove_registration(&self, key: KeyId, resource_crn: &str) -> Result<bool, KmsError> {
        let n = change!(self, tx => sqlx::query("DELETE FROM key_registrations WHERE key_id = $1 AND resource_crn = $2")
            .bind(key.to_string())
            .bind(resource_crn)
            .execute(&mut *tx)
            .await
            .map(|r| r.rows_affected())?)
        .map_err(kms_failure)?;
        Ok(n == 1)
    }

    async fn registrations(
        &self,
        instance: InstanceId,
        key: Option<KeyId>,
    ) -> Result<Vec<keyward_kms::Registration>, KmsError> {
        self.select_registrations(instance, key).await
    }

    async fn remove_registrations(&self, key: KeyId) -> Result<(), KmsError> {
        change!(self, tx => sqlx::query("DELETE FROM key_registrations WHERE key_id = $1")
            .bind(key.to_string())
            .execute(&mut *tx)
            .await
            .map(|_| ())?)
        .map_err(kms_failure)
    }

    async fn instance_policies(&self, instance: InstanceId) -> Result<InstancePolicies, KmsError> {
        self.read_instance_policies(instance).await
    }

    async fn put_instance_policies(
        &self,
        instance: InstanceId,
        policies: &[InstancePolicy],
    ) -> Result<(), KmsError> {
        self.write_instance_policies(instance, policies).await
    }

    async fn put_import_token(&self, token: &ImportToken) -> Result<(), KmsError> {
        self.write_import_token(token).await
    }

    async fn import_token(&self, instance: InstanceId) -> Result<Option<ImportToken>, KmsError> {
        self.read_import_token(instance).await
    }

    async fn retrieve_import_token(
        &self,
        instance: InstanceId,
        now: OffsetDateTime,
    ) -> Result<Option<ImportToken>, KmsError> {
        self.count_import_token_retrieval(instance, now).await
    }

    async fn delete_import_token(
        &self,
        instance: InstanceId,
        created_at: OffsetDateTime,
    ) -> Result<bool, KmsError> {
        self.remove_import_token(instance, created_at).await
    }

    async fn record_key_event(&self, key: &Key, event: KeyEventKind) -> Result<(), KmsError> {
        let recorded: Result<KeyEvent, sqlx::Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let pending = record_provisional!(tx);
            let recorded = record_event!(self, tx, key, event);
            tx.commit().await?;
            crate::audit_pending::committed(pending);
            Ok(recorded)
        }.await);
        self.events.publish(&recorded.map_err(kms_failure)?);
        Ok(())
    }

    async fn keys_due_for_rotation(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<(InstanceId, KeyId)>, KmsError> {
        self.due_for_rotation(now, limit).await
    }

    async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, KmsError> {
        self.take_lease(name, owner, now, until).await
    }

    async fn reserve_encryptions(
        &self,
        version: KeyVersionId,
        count: u64,
    ) -> Result<u64, KmsError> {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let total: Option<i64> = with_pool!(self, pool => sqlx::query_scalar(
            "UPDATE key_versions SET encryptions = encryptions + $2 WHERE id = $1 RETURNING encryptions",
        )
        .bind(version.to_string())
        .bind(count)
        .fetch_optional(pool)
        .await)
        .map_err(kms_failure)?;
        let total = total.ok_or_else(|| corrupt("missing key version"))?;
        Ok(u64::try_from(total).unwrap_or(0))
    }
}

/// Inserts a version with a zero encryption counter.
fn insert_version<'q, DB: sqlx::Database>(
    version: &'q StoredVersion,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO key_versions (id, key_id, created_at, wrapped_material, encryptions) VALUES ($1, $2, $3, $4, 0)",
    )
    .bind(version.id.to_string())
    .bind(version.key_id.to_string())
    .bind(to_millis(version.created_at))
    .bind(&version.wrapped_material)
}

/// The compare-and-set update of a key's mutable columns.
fn update_key<'q, DB: sqlx::Database>(
    key: &'q Key,
    expected_revision: i64,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "UPDATE keys SET name = $1, description = $2, tags = $3, state = $4, bit_length = $5, expiration = $6, \
         key_ring = $7, updated_at = $8, last_rotated_at = $9, state_changed_at = $10, deleted_at = $11, \
         deleted_by = $12, current_version_id = $13, current_version_created_at = $14, revision = $15, \
         policies = $16, deletion_authorized_by = $17, deletion_authorized_at = $18, rotation_due_at = $19 \
         WHERE id = $20 AND revision = $21",
    )
    .bind(key.name.as_str())
    .bind(&key.description)
    .bind(tags_json(key))
    .bind(key.state.code())
    .bind(i64::from(key.bit_length))
    .bind(opt_to_millis(key.expiration))
    .bind(key.key_ring.as_str())
    .bind(to_millis(key.updated_at))
    .bind(opt_to_millis(key.last_rotated_at))
    .bind(to_millis(key.state_changed_at))
    .bind(opt_to_millis(key.deleted_at))
    .bind(&key.deleted_by)
    .bind(key.current_version.id.to_string())
    .bind(to_millis(key.current_version.created_at))
    .bind(key.revision)
    .bind(crate::key_policies::to_column(&key.policies))
    .bind(key.deletion_authorization.as_ref().map(|a| a.by.clone()))
    .bind(key.deletion_authorization.as_ref().map(|a| to_millis(a.at)))
    .bind(opt_to_millis(key.rotation_due_at()))
    .bind(key.id.to_string())
    .bind(expected_revision)
}

#[derive(sqlx::FromRow)]
struct RegistrationRow {
    key_id: String,
    instance_id: String,
    resource_crn: String,
    description: Option<String>,
    prevent_key_deletion: bool,
    key_version_id: String,
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

impl RegistrationRow {
    fn into_registration(self) -> Result<keyward_kms::Registration, KmsError> {
        Ok(keyward_kms::Registration {
            key_id: self.key_id.parse().map_err(|_| corrupt("key id"))?,
            instance: self
                .instance_id
                .parse()
                .map_err(|_| corrupt("instance id"))?,
            resource_crn: self.resource_crn,
            description: self.description,
            prevent_key_deletion: self.prevent_key_deletion,
            key_version: self
                .key_version_id
                .parse()
                .map_err(|_| corrupt("version id"))?,
            created_by: self.created_by,
            created_at: crate::timestamp::from_millis(self.created_at),
            updated_at: crate::timestamp::from_millis(self.updated_at),
        })
    }
}

const REGISTRATION_COLUMNS: &str = "key_id, instance_id, resource_crn, description, prevent_key_deletion, key_version_id, created_by, created_at, updated_at";

impl Store {
    /// See [`KeyStore::put_registration`].
    pub(crate) async fn upsert_registration(
        &self,
        r: &keyward_kms::Registration,
    ) -> Result<(), KmsError> {
        change!(self, tx => sqlx::query(&format!(
            "INSERT INTO key_registrations ({REGISTRATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (key_id, resource_crn) DO UPDATE SET description = $4, prevent_key_deletion = $5, \
             key_version_id = $6, updated_at = $9"
        ))
        .bind(r.key_id.to_string())
        .bind(r.instance.to_string())
        .bind(&r.resource_crn)
        .bind(&r.description)
        .bind(r.prevent_key_deletion)
        .bind(r.key_version.to_string())
        .bind(&r.created_by)
        .bind(to_millis(r.created_at))
        .bind(to_millis(r.updated_at))
        .execute(&mut *tx)
        .await
        .map(|_| ())?)
        .map_err(kms_failure)
    }

    /// See [`KeyStore::registrations`].
    pub(crate) async fn select_registrations(
        &self,
        instance: InstanceId,
        key: Option<KeyId>,
    ) -> Result<Vec<keyward_kms::Registration>, KmsError> {
        let rows: Vec<RegistrationRow> = match key {
            Some(key) => with_pool!(self, pool => sqlx::query_as(&format!(
                "SELECT {REGISTRATION_COLUMNS} FROM key_registrations WHERE instance_id = $1 AND key_id = $2 ORDER BY created_at, resource_crn"
            ))
            .bind(instance.to_string())
            .bind(key.to_string())
            .fetch_all(pool)
            .await),
            None => with_pool!(self, pool => sqlx::query_as(&format!(
                "SELECT {REGISTRATION_COLUMNS} FROM key_registrations WHERE instance_id = $1 ORDER BY created_at, resource_crn"
            ))
            .bind(instance.to_string())
            .fetch_all(pool)
            .await),
        }
        .map_err(kms_failure)?;
        rows.into_iter()
            .map(RegistrationRow::into_registration)
            .collect()
    }
}
