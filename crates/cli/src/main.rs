//! `keyward`: the Keyward binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

mod audit;
mod audit_events;
mod bench;
mod bench_audit;
mod bench_master_key;
mod bench_reencrypt;
mod config_cmd;
mod config_file;
mod demo;
mod iam;
mod key_settings;
mod keys;
mod master_key;
mod master_key_args;
mod prefs;
mod registrations;
mod remote;
mod rings;
mod tls;
mod verify;

use clap::{Parser, Subcommand};
use keyward_kms::{CrnScheme, KmsConfig};
use keyward_server::ServeSettings;
use keyward_server::rate_limit::Rate;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Bring-your-own-key KMS, IAM and configuration service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text, or as one JSON object each (with the request's correlation id).
    /// Which lines: `KEYWARD_LOG` (e.g. `info`, `debug`; default `warn`).
    #[arg(long, global = true, env = "KEYWARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the KMS and IAM on one port.
    Serve(Box<ServeArgs>),
    /// Manage users, service ids, API keys and access policies.
    #[command(subcommand)]
    Iam(iam::IamCommand),
    /// Log in: check an API key (from KEYWARD_APIKEY, else standard input) and keep it, the URL
    /// and the KMS instance for the commands below (a 0600 file under the config directory).
    Login(remote::LoginArgs),
    /// Forget the saved login.
    Logout,
    /// Key commands over HTTP, like `ibmcloud kp` (create, import, list, show, wrap, unwrap,
    /// rewrap, rotate, disable, enable, delete, restore, purge, versions, alias, policies).
    Keys {
        /// Where and as whom.
        #[command(flatten)]
        connection: remote::Connection,
        /// The command.
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// The KMS instance's key rings (list, create, delete).
    Rings {
        /// Where and as whom.
        #[command(flatten)]
        connection: remote::Connection,
        /// The command.
        #[command(subcommand)]
        command: rings::RingsCommand,
    },
    /// Which resources use the instance's root keys.
    Registrations {
        /// Where and as whom.
        #[command(flatten)]
        connection: remote::Connection,
        /// The command.
        #[command(subcommand)]
        command: registrations::RegistrationsCommand,
    },
    /// The root key of a configuration-service instance (`--instance`): show, set, remove,
    /// following the re-encryption with a progress bar.
    Prefs {
        /// Where and as whom; `--instance` is the configuration-service instance here.
        #[command(flatten)]
        connection: remote::Connection,
        /// The command.
        #[command(subcommand)]
        command: prefs::PrefsCommand,
    },
    /// Print a shell completion script (`keyward completions bash > /etc/bash_completion.d/keyward`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Check a configuration file for `serve --config` (`keyward config check FILE`).
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Run Case 1 and Case 2 of the source document against a running server.
    Demo(demo::DemoArgs),
    /// Check that every expected instance secret decrypts (after waiting for re-encryptions).
    VerifySecrets(verify::VerifyArgs),
    /// Measure in-process paths (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Check or export the audit trail (offline), or read an account's events over HTTP.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Certificates for development (`keyward tls self-signed --out DIR`).
    #[command(subcommand)]
    Tls(tls::TlsCommand),
    /// Move a deployment's master key into a PKCS#11 token, or back to a file.
    #[command(subcommand)]
    MasterKey(master_key::MasterKeyCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Wrap + unwrap of a 32-byte DEK through the KMS service, and bare AES-GCM beside it.
    Envelope {
        /// Pairs per round.
        #[arg(long, default_value_t = 200_000)]
        iterations: u32,
        /// Rounds (the median is reported).
        #[arg(long, default_value_t = 5)]
        rounds: u32,
    },
    /// Switch one tenant with N secrets from the global key to a customer key.
    Reencrypt {
        /// Secrets (two fields each).
        #[arg(long, default_value_t = 100_000)]
        secrets: u32,
        /// PostgreSQL URL (an empty database); SQLite in a temporary directory otherwise.
        #[arg(long, env = "KEYWARD_BENCH_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// Fields per transaction.
        #[arg(long, default_value_t = 1000)]
        batch_size: u32,
    },
    /// Append audit events to the chain in batches (one statement and one commit per batch).
    AuditAppend {
        /// Events per round and batch size.
        #[arg(long, default_value_t = 20_000)]
        events: u32,
        /// Batch sizes, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,8,64,512")]
        batches: Vec<u32>,
        /// Rounds (the median is reported).
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// PostgreSQL URL (an empty database); SQLite in a temporary directory otherwise.
        #[arg(long, env = "KEYWARD_BENCH_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
    /// Seal and open a root key's material with the master key: software, and in a PKCS#11
    /// token when `--master-key pkcs11` names one.
    MasterKey {
        /// Pairs per round.
        #[arg(long, default_value_t = 20_000)]
        iterations: u32,
        /// Rounds (the median is reported).
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// The token to compare with.
        #[command(flatten)]
        token: master_key_args::MasterKeyArgs,
    },
    /// Decrypt a sealed field whose DEK is cached, on one thread.
    SecretsOpen {
        /// Decryptions per round.
        #[arg(long, default_value_t = 2_000_000)]
        iterations: u32,
        /// Rounds (the median is reported).
        #[arg(long, default_value_t = 5)]
        rounds: u32,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// A TOML file of these settings (keys: the flag names without `--`); the environment and
    /// the flags win over it. `keyward config check FILE` checks one.
    #[arg(long, env = "KEYWARD_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory: master key, SQLite file, admin.apikey, bootstrap.json.
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = "./keyward-data")]
    data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free port; bootstrap.json records it).
    #[arg(long, env = "KEYWARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// PostgreSQL URL instead of the embedded SQLite file. Prefer the environment variable
    /// when the URL holds a password.
    #[arg(long, env = "KEYWARD_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Expose POST /admin/test-clock so black-box tests can move time forward. Never in
    /// production.
    #[arg(long)]
    unsafe_test_clock: bool,
    /// CRN cname.
    #[arg(long, env = "KEYWARD_CRN_CNAME", default_value = "keyward")]
    crn_cname: String,
    /// CRN ctype.
    #[arg(long, env = "KEYWARD_CRN_CTYPE", default_value = "local")]
    crn_ctype: String,
    /// CRN region.
    #[arg(long, env = "KEYWARD_CRN_REGION", default_value = "local")]
    crn_region: String,
    /// Key Protect endpoint for customer keys of a CRN cname and region, called over HTTP by
    /// the configuration service: `cname:region=url` (`url` = `self` for this server).
    /// Repeatable; comma-separated in the environment variable.
    #[arg(
        long = "kms-endpoint",
        env = "KEYWARD_KMS_ENDPOINTS",
        value_delimiter = ','
    )]
    kms_endpoints: Vec<keyward_server::KmsEndpoint>,
    /// Secret fields re-encrypted per transaction.
    #[arg(long, env = "KEYWARD_REENCRYPT_BATCH_SIZE", default_value_t = 1000)]
    reencrypt_batch_size: u32,
    /// Seconds between two checks of the customer keys served by a `--kms-endpoint` (whose KMS
    /// sends this server no key events): a key found disabled, deleted or no longer authorized
    /// has its cached DEKs dropped.
    #[arg(long, env = "KEYWARD_KEY_POLL_INTERVAL_SECONDS", default_value_t = 10)]
    key_poll_interval_seconds: u64,
    /// PostgreSQL database where auto setup (`internal_database: true`) provisions data mart
    /// roles and schemas (never Keyward's own database). Prefer the environment variable when
    /// the URL holds a password. Without it, auto setup is refused.
    #[arg(
        long,
        env = "KEYWARD_PROVISIONING_DATABASE_URL",
        hide_env_values = true
    )]
    provisioning_database_url: Option<String>,
    /// Networks data mart connections may reach, comma-separated CIDRs (default: every address;
    /// link-local and cloud metadata addresses are never reachable). Narrow it in production.
    #[arg(long, env = "KEYWARD_DATA_MART_NETWORKS")]
    data_mart_networks: Option<keyward_store::NetworkPolicy>,
    /// Serve HTTPS with this PEM certificate chain (leaf first); reloaded with the key on
    /// SIGHUP without dropping connections.
    #[arg(long, env = "KEYWARD_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "KEYWARD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (only behind a TLS-terminating proxy).
    #[arg(long)]
    insecure_http: bool,
    /// Where the master key is.
    #[command(flatten)]
    master_key: master_key_args::MasterKeyArgs,
    /// PEM CA certificates trusted for --kms-endpoint URLs, besides the system's and the public
    /// roots (e.g. the ca.pem of `keyward tls self-signed`).
    #[arg(long, env = "KEYWARD_KMS_CA_FILE")]
    kms_ca_file: Option<PathBuf>,
    /// Seconds one attempt at a call to a --kms-endpoint may take (a timed-out attempt is not
    /// retried; refused connections, 429 and 5xx are, 4 attempts in all).
    #[arg(long, env = "KEYWARD_KMS_TIMEOUT_SECONDS", default_value_t = 10)]
    kms_timeout_seconds: u64,
    /// Calls in a row to a --kms-endpoint that find it unreachable before further calls are
    /// refused at once (the circuit opens; 0: never).
    #[arg(long, env = "KEYWARD_KMS_BREAKER_FAILURES", default_value_t = 3)]
    kms_breaker_failures: u32,
    /// Seconds calls are refused once the circuit is open; then one call probes.
    #[arg(
        long,
        env = "KEYWARD_KMS_BREAKER_COOLDOWN_SECONDS",
        default_value_t = 10
    )]
    kms_breaker_cooldown_seconds: u64,
    /// Seconds a client may take to send a request's headers before the connection is closed.
    #[arg(
        long,
        env = "KEYWARD_HEADER_READ_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    header_read_timeout_seconds: u64,
    /// Seconds a request (its body included) may take before it is answered 408.
    #[arg(long, env = "KEYWARD_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    request_timeout_seconds: u64,
    /// Requests per second each principal may make (bursts of twice that); 0 turns the limit
    /// off. Over it: 429 with Retry-After.
    #[arg(long, env = "KEYWARD_RATE_LIMIT_PER_PRINCIPAL", default_value_t = 2000)]
    rate_limit_per_principal: u32,
    /// Token requests per second from one client address (bursts of twice that); 0 turns the
    /// limit off.
    #[arg(
        long,
        env = "KEYWARD_RATE_LIMIT_TOKEN_PER_ADDRESS",
        default_value_t = 50
    )]
    rate_limit_token_per_address: u32,
    /// Serve `GET /metrics` (Prometheus text, plain HTTP) on this address, apart from the API:
    /// the figures are node-wide, across tenants, so keep it on an operators' network.
    #[arg(long, env = "KEYWARD_METRICS_LISTEN")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Serve the API on this address too, as the private endpoint: instances with an
    /// `allowedNetwork: private-only` policy are served there only (same TLS settings).
    #[arg(long, env = "KEYWARD_PRIVATE_LISTEN")]
    private_listen: Option<std::net::SocketAddr>,
}

impl ServeArgs {
    fn into_settings(self) -> Result<ServeSettings, String> {
        Ok(ServeSettings {
            master_key: self.master_key.source()?,
            data_dir: self.data_dir.clone(),
            listen: self.listen,
            database_url: self.database_url.filter(|u| !u.is_empty()),
            unsafe_test_clock: self.unsafe_test_clock,
            metrics_listen: self.metrics_listen,
            private_listen: self.private_listen,
            crn: CrnScheme {
                cname: self.crn_cname,
                ctype: self.crn_ctype,
                region: self.crn_region,
            },
            kms: KmsConfig::default(),
            secrets: keyward_secrets::SecretsConfig {
                batch_size: self.reencrypt_batch_size.max(1),
                key_poll_interval: Duration::from_secs(self.key_poll_interval_seconds.max(1)),
                ..Default::default()
            },
            kms_endpoints: self.kms_endpoints,
            provisioning_database_url: self.provisioning_database_url.filter(|u| !u.is_empty()),
            data_mart_networks: self.data_mart_networks.unwrap_or_default(),
            edge: keyward_server::EdgeSettings {
                header_read_timeout: Duration::from_secs(self.header_read_timeout_seconds.max(1)),
                request_timeout: Duration::from_secs(self.request_timeout_seconds.max(1)),
                principal_rate: Rate::per_second(self.rate_limit_per_principal),
                token_rate: Rate::per_second(self.rate_limit_token_per_address),
            },
            tls: match (self.tls_cert, self.tls_key) {
                (Some(cert), Some(key)) => Some(keyward_server::tls::TlsFiles { cert, key }),
                _ => None,
            },
            insecure_http: self.insecure_http,
            kms_ca_file: self.kms_ca_file,
            kms_timeout: Duration::from_secs(self.kms_timeout_seconds.max(1)),
            kms_breaker: keyward_client::BreakerPolicy {
                open_after: self.kms_breaker_failures,
                cooldown: Duration::from_secs(self.kms_breaker_cooldown_seconds.max(1)),
            },
            ..ServeSettings::new(self.data_dir.clone())
        })
    }
}

fn main() -> ExitCode {
    let cli = match config_cmd::parse_cli() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logs(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(async {
            keyward_server::serve(args.into_settings()?)
                .await
                .map_err(|e| e.to_string())
        }),
        Command::Iam(command) => runtime.block_on(iam::run(command)),
        Command::Tls(command) => tls::run(command),
        Command::Audit(command) => runtime.block_on(audit::run(command)),
        Command::MasterKey(command) => runtime.block_on(master_key::run(command)),
        Command::VerifySecrets(args) => runtime.block_on(verify::run(args)),
        Command::Demo(args) => runtime.block_on(demo::run(args)),
        Command::Login(args) => runtime.block_on(remote::login(args)),
        Command::Logout => remote::logout(),
        Command::Keys {
            connection,
            command,
        } => runtime.block_on(async { keys::run(&connection.connect().await?, command).await }),
        Command::Rings {
            connection,
            command,
        } => runtime.block_on(async { rings::run(&connection.connect().await?, command).await }),
        Command::Registrations {
            connection,
            command,
        } => runtime
            .block_on(async { registrations::run(&connection.connect().await?, command).await }),
        Command::Prefs {
            connection,
            command,
        } => runtime.block_on(async { prefs::run(&connection.connect().await?, command).await }),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "keyward",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Config(command) => config_cmd::run(command),
        Command::Bench(BenchCommand::Envelope { iterations, rounds }) => {
            runtime.block_on(bench::envelope(iterations.max(1), rounds.max(1)))
        }
        Command::Bench(BenchCommand::Reencrypt {
            secrets,
            database_url,
            batch_size,
        }) => runtime.block_on(bench_reencrypt::reencrypt(
            secrets,
            database_url.filter(|u| !u.is_empty()),
            batch_size.max(1),
        )),
        Command::Bench(BenchCommand::AuditAppend {
            events,
            batches,
            rounds,
            database_url,
        }) => runtime.block_on(bench_audit::audit_append(
            events.max(1),
            &batches,
            rounds.max(1),
            database_url.filter(|u| !u.is_empty()),
        )),
        Command::Bench(BenchCommand::MasterKey {
            iterations,
            rounds,
            token,
        }) => bench_master_key::master_key(iterations.max(1), rounds.max(1), &token),
        Command::Bench(BenchCommand::SecretsOpen { iterations, rounds }) => runtime.block_on(
            bench_reencrypt::secrets_open(iterations.max(1), rounds.max(1)),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
