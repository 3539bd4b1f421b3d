//! `DatabasePreparer`: the data mart's connection to a customer's PostgreSQL with decrypted
//! credentials, and auto setup in the provisioning database the operator configured.
//!
//! A data mart connection uses only what the data mart's credentials say: never a Unix socket,
//! never the server's `PGPASSWORD`, `.pgpass`, `PGUSER` or `PGSSLMODE` (every such setting is
//! given explicitly), and the server refuses to start when its environment holds a setting that
//! cannot be overridden per connection (`PGSSLCERT`, `PGSSLKEY`, `PGSSLROOTCERT`, `PGOPTIONS`).
//! The host is resolved here and checked against the [`NetworkPolicy`]; the connection goes to
//! the address that was checked (except with `sslmode=verify-full`, where the certificate check
//! needs the name). Failures are reported as `CODE: short reason`, never the raw OS error.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use keyward_configsvc::{Credentials, DatabasePreparer, DatabaseTarget};
use keyward_crypto::{random_bytes, scram_sha256_verifier};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection};

use crate::outbound::{NetworkPolicy, never_reachable};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Environment variables that sqlx would apply to every PostgreSQL connection and that a
/// connection cannot override: a data mart would present the server's client certificate,
/// trust its CA, or send its options to a customer's database.
pub const INHERITED_PG_SETTINGS: &[&str] = &["PGSSLCERT", "PGSSLKEY", "PGSSLROOTCERT", "PGOPTIONS"];

/// Prepares data mart databases.
#[derive(Clone, Debug, Default)]
pub struct PgPreparer {
    provisioning_url: Option<String>,
    networks: NetworkPolicy,
}

impl PgPreparer {
    /// With `provisioning_url`, auto setup provisions roles and schemas in that PostgreSQL
    /// database (not Keyward's own). Refused when the environment holds a setting every
    /// connection would inherit ([`INHERITED_PG_SETTINGS`]).
    pub fn new(provisioning_url: Option<String>, networks: NetworkPolicy) -> Result<Self, String> {
        if let Some(name) = INHERITED_PG_SETTINGS
            .iter()
            .find(|name| std::env::var_os(name).is_some())
        {
            return Err(format!(
                "{name} is set in the server's environment, and every data mart connection would \
                 use it with customers' databases: unset it (Keyward's own database takes its TLS \
                 settings in the URL, e.g. ?sslrootcert=...)"
            ));
        }
        Ok(Self {
            provisioning_url,
            networks,
        })
    }
}

/// A failure with its stable code.
fn fail(code: &str, reason: impl std::fmt::Display) -> String {
    format!("{code}: {reason}")
}

/// A schema name PostgreSQL accepts unquoted-style: letters, digits, `_`, at most 63.
fn valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && s.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A connection failure as a stable code and a short reason.
fn connect_failure(e: &sqlx::Error, target: &str) -> String {
    if let Some(db) = e.as_database_error() {
        return match db.code().as_deref() {
            Some("28P01" | "28000") => fail(
                "DATABASE_AUTH_FAILED",
                format!("{target}: authentication failed"),
            ),
            Some("3D000") => fail(
                "DATABASE_NOT_FOUND",
                format!("{target}: the database does not exist"),
            ),
            Some(code) => fail(
                "DATABASE_REFUSED",
                format!("{target}: the server refused the connection (SQLSTATE {code})"),
            ),
            None => fail(
                "DATABASE_REFUSED",
                format!("{target}: the server refused the connection"),
            ),
        };
    }
    match e {
        sqlx::Error::Io(io) => {
            let why = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused",
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                    "connection closed by the server"
                }
                std::io::ErrorKind::TimedOut => "timed out",
                std::io::ErrorKind::HostUnreachable | std::io::ErrorKind::NetworkUnreachable => {
                    "no route to the host"
                }
                _ => "network error",
            };
            fail("DATABASE_UNREACHABLE", format!("{target}: {why}"))
        }
        sqlx::Error::Tls(_) => fail(
            "DATABASE_TLS_FAILED",
            format!("{target}: the TLS handshake failed"),
        ),
        sqlx::Error::PoolTimedOut => fail("DATABASE_TIMEOUT", format!("{target}: timed out")),
        _ => fail("DATABASE_ERROR", format!("{target}: the connection failed")),
    }
}

async fn connect(options: PgConnectOptions, target: &str) -> Result<sqlx::PgConnection, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(connect_failure(&e, target)),
        Err(_) => Err(fail(
            "DATABASE_TIMEOUT",
            format!("{target}: no answer within 10 s"),
        )),
    }
}

impl PgPreparer {
    /// Resolves `host` and picks the address to connect to: refused when any address it names
    /// is never reachable, or none is in the allowed networks.
    async fn address(&self, host: &str, port: u16) -> Result<IpAddr, String> {
        if host.is_empty()
            || host.len() > 253
            || host.starts_with('/')
            || host.contains(['/', '\\', '@', ' ', '\0'])
        {
            return Err(fail(
                "DATABASE_ADDRESS_INVALID",
                "the hostname must be a DNS name or an IP address (never a socket path)",
            ));
        }
        let addresses: Vec<SocketAddr> = match tokio::time::timeout(
            RESOLVE_TIMEOUT,
            tokio::net::lookup_host((host, port)),
        )
        .await
        {
            Ok(Ok(found)) => found.collect(),
            Ok(Err(_)) => Vec::new(),
            Err(_) => {
                return Err(fail(
                    "DATABASE_HOST_UNKNOWN",
                    format!("{host}: name resolution timed out"),
                ));
            }
        };
        if addresses.is_empty() {
            return Err(fail(
                "DATABASE_HOST_UNKNOWN",
                format!("{host}: the name does not resolve"),
            ));
        }
        if addresses.iter().any(|a| never_reachable(a.ip())) {
            return Err(fail(
                "DATABASE_ADDRESS_REFUSED",
                format!("{host}: link-local and metadata addresses are never reachable"),
            ));
        }
        addresses
            .iter()
            .map(SocketAddr::ip)
            .find(|ip| self.networks.allows(*ip))
            .ok_or_else(|| {
                fail(
                    "DATABASE_ADDRESS_REFUSED",
                    format!("{host}: not in the networks data marts may reach"),
                )
            })
    }

    fn provisioning_options(&self) -> Result<PgConnectOptions, String> {
        let url = self.provisioning_url.as_deref().ok_or_else(|| {
            fail(
                "AUTO_SETUP_UNAVAILABLE",
                "auto setup (internal_database) needs a provisioning database: the operator sets --provisioning-database-url",
            )
        })?;
        PgConnectOptions::from_str(url).map_err(|_| {
            fail(
                "AUTO_SETUP_UNAVAILABLE",
                "the provisioning database URL is not valid",
            )
        })
    }
}

impl DatabasePreparer for PgPreparer {
    async fn prepare(&self, target: DatabaseTarget<'_>) -> Result<(), String> {
        if target.database_type != "postgresql" {
            return Err(fail(
                "DATABASE_UNSUPPORTED",
                format!(
                    "{} databases cannot be prepared by this server",
                    target.database_type
                ),
            ));
        }
        let c = target.credentials;
        let missing = |what: &str| {
            fail(
                "CREDENTIALS_INCOMPLETE",
                format!("the credentials have no {what}"),
            )
        };
        let host = c
            .reveal("hostname")
            .or_else(|| c.reveal("host"))
            .ok_or_else(|| missing("hostname"))?;
        let port = match c.reveal("port") {
            Some(p) => p.parse::<u16>().map_err(|_| {
                fail(
                    "CREDENTIALS_INVALID",
                    "the port is not a number from 1 to 65535",
                )
            })?,
            None => 5432,
        };
        let user = c
            .reveal("username")
            .or_else(|| c.reveal("user"))
            .ok_or_else(|| missing("username"))?;
        let db = c
            .reveal("db")
            .or_else(|| c.reveal("database"))
            .ok_or_else(|| missing("db"))?;
        let ssl = c.reveal("ssl").as_deref() == Some("true");
        let sslmode = match c.reveal("sslmode").as_deref() {
            Some("disable") => PgSslMode::Disable,
            Some("require") => PgSslMode::Require,
            Some("verify-ca") => PgSslMode::VerifyCa,
            Some("verify-full") => PgSslMode::VerifyFull,
            _ if ssl => PgSslMode::Require,
            _ => PgSslMode::Prefer,
        };
        let ip = self.address(&host, port).await?;
        // The certificate check of verify-full needs the name; every other mode connects to the
        // address that was checked, so that the name cannot resolve elsewhere in between.
        let connect_host = if matches!(sslmode, PgSslMode::VerifyFull) {
            host.clone()
        } else {
            ip.to_string()
        };
        // Every setting is explicit, so nothing comes from the server's environment; a data
        // mart without a password sends an empty one rather than the server's PGPASSWORD.
        let password = c.reveal("password").unwrap_or_default();
        let options = PgConnectOptions::new_without_pgpass()
            .host(&connect_host)
            .port(port)
            .username(&user)
            .password(&password)
            .database(&db)
            .ssl_mode(sslmode)
            .application_name("keyward-data-mart");
        let where_ = format!("postgresql at {host}:{port}/{db}");
        let mut conn = connect(options, &where_).await?;
        if let Some(schema) = target.schema {
            if !valid_identifier(schema) {
                return Err(fail(
                    "SCHEMA_INVALID",
                    "location.schema_name must be letters, digits and '_' (at most 63)",
                ));
            }
            // CREATE SCHEMA needs the CREATE privilege on the database even when the schema
            // exists (an auto-setup role owns its schema but may not create others).
            let exists = sqlx::query("SELECT 1 FROM pg_namespace WHERE nspname = $1")
                .bind(schema)
                .fetch_optional(&mut conn)
                .await
                .map_err(|_| fail("DATABASE_ERROR", "cannot read the database's schemas"))?
                .is_some();
            if !exists {
                sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| match e.as_database_error().and_then(|d| d.code()) {
                        Some(code) if code == "42501" => fail(
                            "SCHEMA_NOT_CREATED",
                            format!("the user may not create schema {schema}"),
                        ),
                        _ => fail(
                            "SCHEMA_NOT_CREATED",
                            format!("cannot create schema {schema}"),
                        ),
                    })?;
            }
        }
        conn.close()
            .await
            .map_err(|_| fail("DATABASE_ERROR", "the connection did not close cleanly"))
    }

    async fn provision_internal(&self, schema: &str) -> Result<Credentials, String> {
        if !valid_identifier(schema) {
            return Err(fail(
                "SCHEMA_INVALID",
                "location.schema_name must be letters, digits and '_' (at most 63)",
            ));
        }
        let options = self.provisioning_options()?;
        let (host, port, db) = (
            options.get_host().to_owned(),
            options.get_port(),
            options.get_database().unwrap_or("postgres").to_owned(),
        );
        let mut conn = connect(options, "the provisioning database").await?;
        let role = format!("{schema}_owner");
        let bytes = random_bytes(24).map_err(|_| fail("AUTO_SETUP_FAILED", "no randomness"))?;
        let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // The server receives the SCRAM verifier, never the password: statement logging
        // cannot record it. DDL takes no bind parameters; the role name is a checked
        // identifier and the verifier is base64 and '$', ':' only.
        let verifier = scram_sha256_verifier(&password)
            .map_err(|_| fail("AUTO_SETUP_FAILED", "cannot derive the password verifier"))?;
        let statements = [
            format!("CREATE ROLE \"{role}\" LOGIN PASSWORD '{verifier}'"),
            format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\" AUTHORIZATION \"{role}\""),
        ];
        for statement in &statements {
            sqlx::query(statement)
                .execute(&mut conn)
                .await
                .map_err(|_| {
                    fail(
                        "AUTO_SETUP_FAILED",
                        format!("cannot create role and schema {schema}"),
                    )
                })?;
        }
        let _ = conn.close().await;
        let mut credentials = Credentials::default();
        let set = |c: &mut Credentials, k: &str, v: Value| {
            c.set(k, &v)
                .map_err(|_| fail("AUTO_SETUP_FAILED", "cannot record the credentials"))
        };
        set(&mut credentials, "hostname", Value::String(host))?;
        set(&mut credentials, "port", Value::from(port))?;
        set(&mut credentials, "username", Value::String(role))?;
        set(&mut credentials, "password", Value::String(password))?;
        set(&mut credentials, "db", Value::String(db))?;
        Ok(credentials)
    }

    async fn deprovision_internal(&self, schema: &str) -> Result<(), String> {
        if !valid_identifier(schema) {
            return Err(fail("SCHEMA_INVALID", "not a provisioned schema name"));
        }
        let options = self.provisioning_options()?;
        let mut conn = connect(options, "the provisioning database").await?;
        let role = format!("{schema}_owner");
        for statement in [
            format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
            format!("DROP ROLE IF EXISTS \"{role}\""),
        ] {
            sqlx::query(&statement)
                .execute(&mut conn)
                .await
                .map_err(|_| {
                    fail(
                        "AUTO_SETUP_FAILED",
                        format!("cannot drop {schema} and its role"),
                    )
                })?;
        }
        let _ = conn.close().await;
        Ok(())
    }
}
