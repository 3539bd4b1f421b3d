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
            .acquire_timeout(Duration::from_secs(10))
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
