//! Connecting to an engine, migrating, and running the same SQL on either.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use thiserror::Error;

/// A failure to open or migrate a database. The message never contains a password: URLs are
/// not echoed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Could not connect.
    #[error("cannot open the {engine} database: {source}")]
    Connect {
        /// Which engine.
        engine: &'static str,
        /// Cause.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other query failure.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether the database could not be reached (see [`crate::is_unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Connect { source, .. } | Self::Query(source) => crate::is_unavailable(source),
            Self::Migrate(_) => false,
        }
    }
}

/// Which engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// The store: one handle implementing every port.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Db,
    pub(crate) events: std::sync::Arc<crate::key_events::KeyEventHub>,
    /// Which schema the tables live in: key event notifications of other schemas sharing the
    /// database are not ours.
    pub(crate) namespace: String,
}

/// Runs `$body` with `$pool` bound to the pool of whichever engine is in use; the SQL text is
/// the same for both (`$n` placeholders work on SQLite too).
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Pg($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Whether a pooled PostgreSQL connection is usable and not inside a transaction block: outside
/// one, a simple-protocol query is its own transaction, so its transaction time (`now()`) is
/// its own start time; inside one, `now()` is when the block began. (With the extended
/// protocol the two differ by the messages between Parse and Execute, so this is `raw_sql`.)
async fn outside_any_transaction(conn: &mut sqlx::PgConnection) -> Result<bool, sqlx::Error> {
    use sqlx::{Executor as _, Row as _};
    // A query text without arguments goes over the simple protocol.
    let outside: bool = conn
        .fetch_one("SELECT now() = statement_timestamp()")
        .await?
        .try_get(0)?;
    if !outside {
        tracing::warn!("a pooled PostgreSQL connection was left inside a transaction; closed");
    }
    Ok(outside)
}

/// Longest a request waits for a PostgreSQL connection (see `open_postgres`).
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl Store {
    /// Opens (creating if needed) an SQLite file in WAL mode and migrates it.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // A connection to a local file does not go stale; testing it would cost every
            // acquire a round trip to its worker thread.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Connect {
                engine: "SQLite",
                source,
            })?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self {
            db: Db::Sqlite(pool),
            events: Default::default(),
            namespace: "main".into(),
        })
    }

    /// Connects to PostgreSQL and migrates. With `schema`, everything lives in that schema
    /// (created if needed), which lets tests run side by side in one database.
    pub async fn open_postgres(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let connect = |source| StoreError::Connect {
            engine: "PostgreSQL",
            source,
        };
        let mut options = PgConnectOptions::from_str(url).map_err(connect)?;
        if let Some(schema) = schema {
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await
                .map_err(connect)?;
            sqlx::query(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                schema.replace('"', "")
            ))
            .execute(&admin)
            .await?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .min_connections(1)
            // While PostgreSQL is down or restarting, a request waits at most this long for a
            // connection and is then answered 503 with Retry-After, instead of hanging.
            .acquire_timeout(PG_ACQUIRE_TIMEOUT)
            // Instead of sqlx's ping: one round trip that also refuses a connection left inside
            // a transaction block (a `begin` cancelled during its round trip leaves one behind
            // in sqlx 0.8; the next borrower's writes would run inside it and vanish with it).
            .test_before_acquire(false)
            .before_acquire(|conn, _| Box::pin(outside_any_transaction(conn)))
            .connect_with(options)
            .await
            .map_err(connect)?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self {
            db: Db::Pg(pool),
            events: Default::default(),
            namespace: schema.unwrap_or("public").replace(' ', "_"),
        })
    }

    /// Which engine this is.
    pub fn engine(&self) -> Engine {
        match self.db {
            Db::Sqlite(_) => Engine::Sqlite,
            Db::Pg(_) => Engine::Postgres,
        }
    }

    /// Checks the connection.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes the pool (waits for connections to return).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }
}

#[cfg(test)]
mod tests {
    use super::{Db, Store};

    #[tokio::test]
    async fn a_connection_left_inside_a_transaction_never_serves_another_borrower() {
        let url = std::env::var("KEYWARD_TEST_DATABASE_URL")
            .expect("KEYWARD_TEST_DATABASE_URL must point at a PostgreSQL database");
        let schema = format!("keyward_pool_{}", uuid::Uuid::new_v4().simple());
        let store = Store::open_postgres(&url, Some(&schema))
            .await
            .expect("open");
        let Db::Pg(pool) = &store.db else {
            panic!("a PostgreSQL store")
        };
        {
            // A block opened behind sqlx's back, as a cancelled `begin` leaves one.
            let mut conn = pool.acquire().await.expect("a connection");
            sqlx::raw_sql("BEGIN")
                .execute(&mut *conn)
                .await
                .expect("BEGIN");
        }
        // Every connection the pool hands out (all of them, so the returned one too) runs each
        // statement in its own transaction.
        let mut held = Vec::new();
        for _ in 0..16 {
            let mut conn = pool.acquire().await.expect("a connection");
            let outside: bool = sqlx::Row::try_get(
                &sqlx::raw_sql("SELECT now() = statement_timestamp()")
                    .fetch_one(&mut *conn)
                    .await
                    .expect("query"),
                0,
            )
            .expect("a boolean");
            assert!(outside, "a borrower got a connection inside a transaction");
            held.push(conn);
        }
        drop(held);
        sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .execute(pool)
            .await
            .expect("drop the schema");
    }
}
