//! The audit trail's rows: events appended in batches to one hash chain (numbered without gaps
//! across every node and process), and signed checkpoints.

use std::sync::OnceLock;

use keyward_crypto::audit_chain::{ChainEntry, GENESIS, link};
use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Sqlite};

use crate::db::{Db, Store, StoreError, with_pool};
use crate::rows::is_unique_violation;

/// An event to append: the account it belongs to (whose administrators may read it), when it
/// happened, and its JSON text (hashed as stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuditEvent {
    /// The account whose resource the request named (or the caller's), if known.
    pub account: Option<String>,
    /// Event time, milliseconds since the epoch.
    pub at_millis: i64,
    /// The event, as JSON text.
    pub body: String,
}

/// What the chain hashes of an event, stored or not.
fn chain_entry<'a>(account: &'a Option<String>, at_millis: i64, body: &'a str) -> ChainEntry<'a> {
    ChainEntry {
        account: account.as_deref(),
        at_millis,
        body: body.as_bytes(),
    }
}

impl NewAuditEvent {
    /// What the chain hashes of it.
    pub fn entry(&self) -> ChainEntry<'_> {
        chain_entry(&self.account, self.at_millis, &self.body)
    }
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    /// Its number in the chain, from 1.
    pub seq: i64,
    /// See [`NewAuditEvent::account`].
    #[sqlx(rename = "account_id")]
    pub account: Option<String>,
    /// See [`NewAuditEvent::at_millis`].
    #[sqlx(rename = "at")]
    pub at_millis: i64,
    /// See [`NewAuditEvent::body`].
    pub body: String,
    /// The previous event's hash.
    pub prev_hash: Vec<u8>,
    /// This event's hash.
    pub hash: Vec<u8>,
}

impl AuditRow {
    /// What the chain hashes of it.
    pub fn entry(&self) -> ChainEntry<'_> {
        chain_entry(&self.account, self.at_millis, &self.body)
    }
}

/// A signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditCheckpoint {
    /// The last event it covers.
    pub seq: i64,
    /// That event's hash.
    pub hash: Vec<u8>,
    /// When it was made, milliseconds since the epoch.
    #[sqlx(rename = "at")]
    pub at_millis: i64,
    /// HMAC-SHA-256 over the above.
    pub signature: Vec<u8>,
}

const HEAD: &str = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";

/// The PostgreSQL advisory lock (two-key form) writers of the chain take turns on.
const AUDIT_LOCK: (i32, i32) = (0x6b77, 0x0a0d);

/// Most rows one statement inserts (a larger batch takes several, in order).
const MAX_ROWS: usize = 512;

/// The insert statements for 1, 2, 4, … [`MAX_ROWS`] rows, for one engine: SQLite's `?` is bound
/// by position (with `$n`, binding a large statement looks every name up among all of them).
fn insert_sql(sqlite: bool) -> &'static [String] {
    static SQLITE: OnceLock<Vec<String>> = OnceLock::new();
    static PG: OnceLock<Vec<String>> = OnceLock::new();
    let build = move || {
        (0..=MAX_ROWS.trailing_zeros())
            .map(|power| {
                let rows = (0..1usize << power)
                    .map(|row| {
                        let params: Vec<String> = (1..=6)
                            .map(|col| {
                                if sqlite {
                                    "?".to_owned()
                                } else {
                                    format!("${}", row * 6 + col)
                                }
                            })
                            .collect();
                        format!("({})", params.join(","))
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                let insert =
                    "INSERT INTO audit_events (seq, account_id, at, body, prev_hash, hash)";
                if sqlite {
                    format!(
                        "{insert} SELECT column1, column2, column3, column4, column5, column6 \
                         FROM (VALUES {rows}) WHERE column1 IS NOT NULL"
                    )
                } else {
                    // Writes nothing while another writer holds the chain's lock (a one-time
                    // condition: every row or none).
                    format!(
                        "{insert} SELECT * FROM (VALUES {rows}) \
                         AS v(seq, account_id, at, body, prev_hash, hash) WHERE v.seq IS NOT NULL \
                         AND (SELECT pg_try_advisory_xact_lock({}, {}))",
                        AUDIT_LOCK.0, AUDIT_LOCK.1
                    )
                }
            })
            .collect()
    };
    if sqlite {
        SQLITE.get_or_init(build)
    } else {
        PG.get_or_init(build)
    }
}

/// How often a batch is relinked after other writers appended first before the append fails.
const ATTEMPTS: usize = 64;

fn hash32(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Query(sqlx::Error::Decode("audit hash is not 32 bytes".into())))
}

/// Appends to the chain, on a connection it keeps (no pool round trip per batch). Event numbers
/// are the table's primary key, so the chain never forks.
///
/// It remembers the head it last wrote, so a batch costs one statement (a multi-row INSERT, one
/// commit); if another writer appended since, the insert collides, nothing of it is written,
/// and the batch is linked again to the head read afresh (SQLite, one node per file).
///
/// On PostgreSQL several nodes append at once, and that optimism alone starves the slower one
/// (measured: "other writers appended first 64 times in a row" within seconds with two busy
/// nodes). There a collision makes the writer take its turn: one transaction that takes the
/// chain's advisory lock, reads the head and inserts; and the one-statement insert writes
/// nothing while another writer holds that lock (it tries the lock itself), so a fast writer
/// cannot slip in between a waiting writer's head and its insert. After any failure the head is
/// read afresh and the connection replaced.
#[derive(Debug)]
pub struct AuditAppender {
    store: Store,
    head: Option<(i64, [u8; 32])>,
    conn: Option<Held>,
}

/// The connection an appender keeps.
#[derive(Debug)]
enum Held {
    Sqlite(PoolConnection<Sqlite>),
    Pg(PoolConnection<Postgres>),
}

impl AuditAppender {
    /// An appender for `store`'s chain.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            head: None,
            conn: None,
        }
    }

    /// [`AuditAppender::append`] in one transaction that also deletes the pending rows
    /// `settled` (their final events are among `events`) and, with `adopt_before`, moves the
    /// pending rows written before that time into the chain first. It writes before it reads
    /// the head: on PostgreSQL it takes the chain's lock, on SQLite the first write takes the
    /// database's, so the head cannot move under it. Returns the chain's new head, if it moved,
    /// and how many pending rows were adopted.
    async fn append_in_tx(
        &mut self,
        events: &[NewAuditEvent],
        settled: &[i64],
        adopt_before: Option<i64>,
    ) -> Result<(Option<(i64, [u8; 32])>, usize), StoreError> {
        let result = async {
            // The chain's turn first: on SQLite a write (which takes the database's write
            // lock), on PostgreSQL the chain's advisory lock; then the head cannot move.
            let (head, adopted) = match self.connection().await? {
                Held::Sqlite(conn) => locked_append!(
                    conn,
                    sqlx::query("UPDATE audit_pending SET id = id WHERE id < 0"),
                    Writer::Sqlite,
                    settled,
                    adopt_before,
                    events
                ),
                Held::Pg(conn) => locked_append!(
                    conn,
                    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
                        .bind(AUDIT_LOCK.0)
                        .bind(AUDIT_LOCK.1),
                    Writer::Pg,
                    settled,
                    adopt_before,
                    events
                ),
            };
            Ok::<_, StoreError>((head, adopted))
        }
        .await;
        match result {
            Ok((head, adopted)) => {
                if head.is_some() {
                    self.head = head;
                }
                Ok((head, adopted))
            }
            Err(e) => {
                self.head = None;
                self.conn = None;
                Err(e)
            }
        }
    }

    /// [`AuditAppender::append`] on PostgreSQL: one transaction under the chain's lock.
    async fn append_locked(
        &mut self,
        events: &[NewAuditEvent],
        settled: &[i64],
    ) -> Result<(i64, [u8; 32]), StoreError> {
        let (head, _) = self.append_in_tx(events, settled, None).await?;
        head.ok_or(StoreError::Query(sqlx::Error::Protocol(
            "audit events: nothing was appended".into(),
        )))
    }

    /// Moves the pending rows written before `before_millis` (milliseconds since the epoch)
    /// into the chain as they are: their requests' changes committed, and their final events
    /// were never appended (the node stopped in between, or the trail could not take them).
    /// Returns how many, and the chain's head after them.
    pub async fn adopt_pending(
        &mut self,
        before_millis: i64,
    ) -> Result<(usize, Option<(i64, [u8; 32])>), StoreError> {
        let (head, adopted) = self.append_in_tx(&[], &[], Some(before_millis)).await?;
        Ok((adopted, head))
    }

    async fn connection(&mut self) -> Result<&mut Held, StoreError> {
        if self.conn.is_none() {
            self.conn = Some(match &self.store.db {
                Db::Sqlite(pool) => Held::Sqlite(pool.acquire().await?),
                Db::Pg(pool) => Held::Pg(pool.acquire().await?),
            });
        }
        Ok(self.conn.as_mut().expect("just set"))
    }

    /// Appends `events` in order and deletes the pending rows `settled` (the provisional
    /// events of changes whose final events these are), in one transaction; returns the number
    /// and hash of the last event of the chain.
    pub async fn append(
        &mut self,
        events: &[NewAuditEvent],
        settled: &[i64],
    ) -> Result<(i64, [u8; 32]), StoreError> {
        let pg = matches!(self.store.db, Db::Pg(_));
        if !settled.is_empty() || (pg && events.len() > MAX_ROWS) {
            // Several statements: one transaction, so that a batch lands whole or not at all.
            return self.append_locked(events, settled).await;
        }
        for _ in 0..ATTEMPTS {
            let head = match self.head {
                Some(head) => head,
                None => self.store.audit_head().await?.unwrap_or((0, GENESIS)),
            };
            let written = match self.connection().await {
                Ok(Held::Sqlite(conn)) => {
                    insert_linked(&mut Writer::Sqlite(conn), head, events).await
                }
                Ok(Held::Pg(conn)) => insert_linked(&mut Writer::Pg(conn), head, events).await,
                Err(e) => Err(e),
            };
            match written {
                Ok(Some(last)) => {
                    self.head = Some(last);
                    return Ok(last);
                }
                // Another writer holds the chain's lock (PostgreSQL): wait for a turn.
                Ok(None) => return self.append_locked(events, settled).await,
                // Another writer appended first: on PostgreSQL, take a turn under the lock,
                // so that a busy writer cannot starve this one; on SQLite, link again.
                Err(StoreError::Query(e)) if is_unique_violation(&e) => {
                    self.head = None;
                    if pg {
                        return self.append_locked(events, settled).await;
                    }
                }
                Err(e) => {
                    self.head = None;
                    self.conn = None;
                    return Err(e);
                }
            }
        }
        Err(StoreError::Query(sqlx::Error::Protocol(format!(
            "audit events: other writers appended first {ATTEMPTS} times in a row"
        ))))
    }
}

/// The connection a batch is inserted on.
enum Writer<'c> {
    Sqlite(&'c mut sqlx::SqliteConnection),
    Pg(&'c mut sqlx::PgConnection),
}

/// One transaction on `$conn`: `$turn` (the statement that makes this writer's turn), then the
/// pending rows (see [`pending_rows`]), the head, the inserts; evaluates to the new head and the
/// number of pending rows adopted.
macro_rules! locked_append {
    ($conn:ident, $turn:expr, $writer:path, $settled:expr, $adopt_before:expr, $events:expr) => {{
        let mut tx = sqlx::Connection::begin(&mut **$conn).await?;
        $turn.execute(&mut *tx).await?;
        let adopted = pending_rows!(tx, $settled, $adopt_before);
        let last: Option<(i64, Vec<u8>)> = sqlx::query_as(HEAD).fetch_optional(&mut *tx).await?;
        let head = linked_after(last, &adopted, $events, &mut $writer(&mut tx)).await?;
        tx.commit().await?;
        (head, adopted.len())
    }};
}
use locked_append;

/// In transaction `$tx`: deletes the pending rows `$settled`, then, with `$adopt_before`,
/// deletes and returns (oldest first) those written before that time.
macro_rules! pending_rows {
    ($tx:ident, $settled:expr, $adopt_before:expr) => {{
        for id in $settled {
            let gone = sqlx::query("DELETE FROM audit_pending WHERE id = $1")
                .bind(*id)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
            if gone == 0 {
                // Adopted already (its request outlived the grace time, or a node's clock ran
                // ahead): the chain holds the provisional event and now the final one too.
                tracing::warn!(pending = *id, "audit: a change's provisional event was adopted before its final event; both are in the chain");
            }
        }
        let mut adopted: Vec<(i64, Option<String>, i64, String)> =
            match $adopt_before {
                Some(before) => sqlx::query_as(
                    "DELETE FROM audit_pending WHERE at < $1 RETURNING id, account_id, at, body",
                )
                .bind(before)
                .fetch_all(&mut *$tx)
                .await?,
                None => Vec::new(),
            };
        adopted.sort_by_key(|row| row.0);
        adopted
            .into_iter()
            .map(|(_, account, at_millis, body)| NewAuditEvent {
                account,
                at_millis,
                body,
            })
            .collect::<Vec<_>>()
    }};
}
use pending_rows;

/// Inserts `adopted` then `events` after the head `last` (none: the genesis); the new head,
/// `None` when there was nothing to insert.
async fn linked_after(
    last: Option<(i64, Vec<u8>)>,
    adopted: &[NewAuditEvent],
    events: &[NewAuditEvent],
    conn: &mut Writer<'_>,
) -> Result<Option<(i64, [u8; 32])>, StoreError> {
    let all: Vec<NewAuditEvent>;
    let rows = if adopted.is_empty() {
        events
    } else {
        all = adopted.iter().chain(events).cloned().collect();
        &all
    };
    if rows.is_empty() {
        return Ok(None);
    }
    let head = match last {
        Some((seq, hash)) => (seq, hash32(&hash)?),
        None => (0, GENESIS),
    };
    // Holding the chain's lock, the insert's own try-lock succeeds (PostgreSQL).
    insert_linked(conn, head, rows)
        .await?
        .map(Some)
        .ok_or(StoreError::Query(sqlx::Error::Protocol(
            "audit events: the chain's lock was lost".into(),
        )))
}

/// Inserts `events` linked after `head` on `conn`, in one statement per [`MAX_ROWS`]; `None`
/// when another writer holds the chain's lock (PostgreSQL), and nothing was written.
async fn insert_linked(
    conn: &mut Writer<'_>,
    head: (i64, [u8; 32]),
    events: &[NewAuditEvent],
) -> Result<Option<(i64, [u8; 32])>, StoreError> {
    let (mut seq, mut prev) = head;
    let mut links = Vec::with_capacity(events.len());
    for e in events {
        seq += 1;
        let hash = link(&prev, seq, &e.entry());
        links.push((seq, prev, hash));
        prev = hash;
    }
    let mut rest = &links[..];
    let mut events = events;
    while !rest.is_empty() {
        let rows = rest.len().min(MAX_ROWS);
        if insert_rows(conn, &events[..rows], &rest[..rows]).await? < rows as u64 {
            return Ok(None);
        }
        (events, rest) = (&events[rows..], &rest[rows..]);
    }
    Ok(Some((seq, prev)))
}

/// Binds one statement for up to [`MAX_ROWS`] rows, padded with NULL rows it skips: a handful
/// of statement texts, each prepared once and cached, serve every batch size.
macro_rules! padded_insert {
    ($sql:expr, $events:expr, $links:expr, $padding:expr) => {{
        let mut query = sqlx::query($sql);
        for (e, (seq, prev, hash)) in $events.iter().zip($links) {
            query = query
                .bind(Some(*seq))
                .bind(e.account.as_deref())
                .bind(Some(e.at_millis))
                .bind(Some(e.body.as_str()))
                .bind(Some(prev.as_slice()))
                .bind(Some(hash.as_slice()));
        }
        for _ in 0..$padding {
            query = query
                .bind(None::<i64>)
                .bind(None::<&str>)
                .bind(None::<i64>)
                .bind(None::<&str>)
                .bind(None::<&[u8]>)
                .bind(None::<&[u8]>);
        }
        query
    }};
}

/// One statement (one commit) for up to [`MAX_ROWS`] rows; the rows it wrote.
async fn insert_rows(
    conn: &mut Writer<'_>,
    events: &[NewAuditEvent],
    links: &[(i64, [u8; 32], [u8; 32])],
) -> Result<u64, StoreError> {
    let shape = events.len().next_power_of_two();
    let padding = shape - events.len();
    let statement = shape.trailing_zeros() as usize;
    Ok(match conn {
        Writer::Sqlite(conn) => {
            padded_insert!(&insert_sql(true)[statement], events, links, padding)
                .execute(&mut **conn)
                .await?
                .rows_affected()
        }
        Writer::Pg(conn) => padded_insert!(&insert_sql(false)[statement], events, links, padding)
            .execute(&mut **conn)
            .await?
            .rows_affected(),
    })
}

impl Store {
    /// Events after number `after`, oldest first, at most `limit`; only `account`'s when given.
    pub async fn audit_events(
        &self,
        account: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        const ALL: &str = "SELECT seq, account_id, at, body, prev_hash, hash FROM audit_events \
                           WHERE seq > $1 ORDER BY seq LIMIT $2";
        const ONE: &str = "SELECT seq, account_id, at, body, prev_hash, hash FROM audit_events \
                           WHERE seq > $1 AND account_id = $3 ORDER BY seq LIMIT $2";
        let rows = with_pool!(self, pool => sqlx::query_as(if account.is_some() { ONE } else { ALL })
            .bind(after)
            .bind(i64::from(limit))
            .bind(account)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    /// The provisional events not yet settled or adopted (see `audit_pending`), oldest first,
    /// with their row ids.
    pub async fn audit_pending(&self) -> Result<Vec<(i64, NewAuditEvent)>, StoreError> {
        let rows: Vec<(i64, Option<String>, i64, String)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, account_id, at, body FROM audit_pending ORDER BY id",
        )
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(id, account, at_millis, body)| {
                (
                    id,
                    NewAuditEvent {
                        account,
                        at_millis,
                        body,
                    },
                )
            })
            .collect())
    }

    /// The number and hash of the last event, if any.
    pub async fn audit_head(&self) -> Result<Option<(i64, [u8; 32])>, StoreError> {
        let last: Option<(i64, Vec<u8>)> =
            with_pool!(self, pool => sqlx::query_as(HEAD).fetch_optional(pool).await)?;
        last.map(|(seq, hash)| Ok((seq, hash32(&hash)?)))
            .transpose()
    }

    /// Stores a checkpoint.
    pub async fn insert_audit_checkpoint(&self, c: &AuditCheckpoint) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, at, signature) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (seq) DO NOTHING",
        )
        .bind(c.seq)
        .bind(&c.hash)
        .bind(c.at_millis)
        .bind(&c.signature)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Every checkpoint, oldest first.
    pub async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError> {
        let rows = with_pool!(self, pool => sqlx::query_as(
            "SELECT seq, hash, at, signature FROM audit_checkpoints ORDER BY seq",
        )
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }
}
