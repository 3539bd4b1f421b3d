//! `keyward audit verify` checks a deployment's audit trail offline (the server may run); it
//! needs the data directory's master key, which holds the checkpoint key. `keyward audit export`
//! prints the events as JSON lines, each with its number and chain hash.

use std::path::PathBuf;

use keyward_server::audit::{AuditEvent, hex, load_checkpoint_key, verify};
use keyward_server::bootstrap;
use keyward_server::iam_admin::open_account;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `keyward audit ...`
#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Check the whole chain and every checkpoint; exit 1 naming the first broken event.
    Verify(Source),
    /// Print events as JSON lines (`{"seq","hash","account","event"}`), oldest first.
    Export {
        /// Where the trail is.
        #[command(flatten)]
        source: Source,
        /// Only events at or after this time (RFC 3339, e.g. 2026-11-30T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
    },
    /// Read the account's events over HTTP (an account Administrator's API key), oldest first.
    Events(crate::audit_events::EventsArgs),
}

/// Which deployment.
#[derive(clap::Args)]
pub struct Source {
    /// Data directory (its master key opens the checkpoint key).
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = "./keyward-data")]
    data_dir: PathBuf,
    /// PostgreSQL URL, when the deployment uses one.
    #[arg(long, env = "KEYWARD_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Where the master key is (as `serve` was told).
    #[command(flatten)]
    master_key: crate::master_key_args::MasterKeyArgs,
}

/// Runs a `keyward audit` command.
pub async fn run(command: AuditCommand) -> Result<(), String> {
    match command {
        AuditCommand::Verify(source) => check(&source).await,
        AuditCommand::Export { source, since } => export(&source, since.as_deref()).await,
        AuditCommand::Events(args) => crate::audit_events::run(args).await,
    }
}

async fn check(source: &Source) -> Result<(), String> {
    let url = source.database_url.as_deref().filter(|u| !u.is_empty());
    let (store, _) = open_account(&source.data_dir, url)
        .await
        .map_err(|e| e.to_string())?;
    let master =
        bootstrap::open_existing_master_key(&store, &source.master_key.source()?, &source.data_dir)
            .await
            .map_err(|e| e.to_string())?;
    let key = load_checkpoint_key(&store, master.as_ref())
        .await?
        .ok_or("this deployment has no audit checkpoint key yet: start the server once")?;
    let verified = verify(&store, &key)
        .await
        .map_err(|e| format!("audit trail broken: {e}"))?;
    println!(
        "audit trail intact: {} events, {} signed checkpoints ({} events after the last checkpoint)",
        verified.events, verified.checkpoints, verified.after_last_checkpoint
    );
    let pending = store.audit_pending().await.map_err(|e| e.to_string())?;
    if !pending.is_empty() {
        println!(
            "{} provisional events of committed changes are not yet in the chain (a running \
             node moves them in once their requests have had time to finish)",
            pending.len()
        );
    }
    Ok(())
}

async fn export(source: &Source, since: Option<&str>) -> Result<(), String> {
    let since = since
        .map(|s| {
            OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|e| format!("--since must be an RFC 3339 time: {e}"))
        })
        .transpose()?;
    let since_millis = since.map_or(i64::MIN, |t| {
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MIN)
    });
    let url = source.database_url.as_deref().filter(|u| !u.is_empty());
    let (store, _) = open_account(&source.data_dir, url)
        .await
        .map_err(|e| e.to_string())?;
    let mut after = 0;
    loop {
        let page = store
            .audit_events(None, after, 1000)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for row in page.iter().filter(|r| r.at_millis >= since_millis) {
            let event: AuditEvent = serde_json::from_str(&row.body)
                .map_err(|e| format!("event {} does not parse: {e}", row.seq))?;
            let hash = hex(&row.hash);
            println!(
                "{}",
                json!({"seq": row.seq, "hash": hash, "account": row.account, "event": event})
            );
        }
    }
    Ok(())
}
