//! `DatabasePreparer`: the data mart's connection to a customer PostgreSQL with decrypted
//! credentials, and auto setup in the service's own PostgreSQL.

use std::str::FromStr;
use std::time::Duration;

use keyward_configsvc::{Credentials, DatabasePreparer, DatabaseTarget};
use keyward_crypto::random_bytes;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepares data mart databases.
#[derive(Clone, Debug, Default)]
pub struct PgPreparer {
    internal_url: Option<String>,
}

impl PgPreparer {
    /// With `internal_url`, auto setup provisions in that PostgreSQL.
    pub fn new(internal_url: Option<String>) -> Self {
        Self { internal_url }
    }
}

/// A schema name PostgreSQL accepts unquoted-style: letters, digits, `_`, at most 63.
fn valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && s.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

async fn connect(options: PgConnectOptions, what: &str) -> Result<sqlx::PgConnection, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(format!("cannot connect to {what}: {e}")),
        Err(_) => Err(format!("cannot connect to {what}: timed out after 10 s")),
    }
}

async fn create_schema(
    conn: &mut sqlx::PgConnection,
    schema: &str,
    owner: Option<&str>,
) -> Result<(), String> {
    let owner = owner
        .map(|o| format!(" AUTHORIZATION \"{o}\""))
        .unwrap_or_default();
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"{owner}"))
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot create schema {schema}: {e}"))
}

impl DatabasePreparer for PgPreparer {
    async fn prepare(&self, target: DatabaseTarget<'_>) -> Result<(), String> {
        if target.database_type != "postgresql" {
            return Err(format!(
                "{} databases cannot be prepared by this server",
                target.database_type
            ));
        }
        let c = target.credentials;
        let host = c
            .reveal("hostname")
            .ok_or("the credentials have no hostname")?;
        let port = match c.reveal("port") {
            Some(p) => p.parse::<u16>().map_err(|_| "the port is not a number")?,
            None => 5432,
        };
        let user = c
            .reveal("username")
            .ok_or("the credentials have no username")?;
        let db = c.reveal("db").ok_or("the credentials have no db")?;
        let ssl = c.reveal("ssl").as_deref() == Some("true");
        let sslmode = match c.reveal("sslmode").as_deref() {
            Some("disable") => PgSslMode::Disable,
            Some("require") => PgSslMode::Require,
            Some("verify-ca") => PgSslMode::VerifyCa,
            Some("verify-full") => PgSslMode::VerifyFull,
            _ if ssl => PgSslMode::Require,
            _ => PgSslMode::Prefer,
        };
        let mut options = PgConnectOptions::new()
            .host(&host)
            .port(port)
            .username(&user)
            .database(&db)
            .ssl_mode(sslmode);
        if let Some(password) = c.reveal("password") {
            options = options.password(&password);
        }
        let mut conn = connect(options, &format!("postgresql at {host}:{port}/{db}")).await?;
        if let Some(schema) = target.schema {
            if !valid_identifier(schema) {
                return Err(
                    "location.schema_name must be letters, digits and '_' (at most 63)".into(),
                );
            }
            create_schema(&mut conn, schema, None).await?;
        }
        conn.close().await.map_err(|e| e.to_string())
    }

    async fn provision_internal(&self, schema: &str) -> Result<Credentials, String> {
        let url = self.internal_url.as_deref().ok_or(
            "auto setup (internal_database) needs the service's own PostgreSQL: start the server with --database-url",
        )?;
        if !valid_identifier(schema) {
            return Err("location.schema_name must be letters, digits and '_' (at most 63)".into());
        }
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| format!("bad internal database URL: {e}"))?;
        let (host, port, db) = (
            options.get_host().to_owned(),
            options.get_port(),
            options.get_database().unwrap_or("postgres").to_owned(),
        );
        let mut conn = connect(options, "the service's own PostgreSQL").await?;
        let role = format!("{schema}_owner");
        let bytes = random_bytes(24).map_err(|e| e.to_string())?;
        let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // DDL takes no bind parameters; the role name is a checked identifier and the password
        // is hex, so neither can break out of its quotes.
        sqlx::query(&format!(
            "CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'"
        ))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("cannot create role {role}: {e}"))?;
        create_schema(&mut conn, schema, Some(&role)).await?;
        conn.close().await.map_err(|e| e.to_string())?;
        let mut credentials = Credentials::default();
        credentials.insert("hostname", &Value::String(host));
        credentials.insert("port", &Value::from(port));
        credentials.insert("username", &Value::String(role));
        credentials.insert("password", &Value::String(password));
        credentials.insert("db", &Value::String(db));
        Ok(credentials)
    }
}
