//! `keyward master-key migrate --to pkcs11|file`: moves a stopped deployment from the master key
//! it uses now (`--master-key`, as `serve` is told) to the other kind, sealing every value again
//! under the new key. Interrupted, the same command finishes the work.

use std::path::PathBuf;

use keyward_server::bootstrap::{self, MasterKeySource};
use keyward_server::iam_admin::open_account;
use keyward_server::master_key_migration::migrate;

use crate::master_key_args::{MasterKeyArgs, MasterKeyKind};

/// `keyward master-key ...`
#[derive(clap::Subcommand)]
pub enum MasterKeyCommand {
    /// Move the deployment to a master key of the other kind (every node stopped).
    Migrate(MigrateArgs),
}

/// Which deployment, its current key, and where to move.
#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The kind of master key to move to: `pkcs11` (the token the --pkcs11-* options name; the
    /// key is made there if missing) or `file` (`<data-dir>/master.key`, made if missing).
    #[arg(long, value_enum)]
    to: MasterKeyKind,
    /// Data directory.
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = "./keyward-data")]
    data_dir: PathBuf,
    /// PostgreSQL URL, when the deployment uses one.
    #[arg(long, env = "KEYWARD_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The current master key (`--master-key file|pkcs11`) and the token's options.
    #[command(flatten)]
    master_key: MasterKeyArgs,
}

/// Runs a `keyward master-key` command.
pub async fn run(command: MasterKeyCommand) -> Result<(), String> {
    let MasterKeyCommand::Migrate(args) = command;
    let from_source = args.master_key.source()?;
    let to_source = match args.to {
        MasterKeyKind::Pkcs11 => args.master_key.pkcs11()?,
        MasterKeyKind::File => MasterKeySource::File,
    };
    if std::mem::discriminant(&from_source) == std::mem::discriminant(&to_source) {
        return Err(format!(
            "the deployment already uses a master key of kind {:?} (--master-key); --to names the other kind",
            args.to
        ));
    }
    let dir = &args.data_dir;
    let file = dir.join("master.key");
    if matches!(from_source, MasterKeySource::File) && !file.exists() {
        return Err(format!("no master key at {}", file.display()));
    }
    let url = args.database_url.as_deref().filter(|u| !u.is_empty());
    let (store, _) = open_account(dir, url).await.map_err(|e| e.to_string())?;
    let from = from_source.open(dir).map_err(|e| e.to_string())?;
    let to = to_source.open(dir).map_err(|e| e.to_string())?;
    let mut last_shown = 0;
    let done = migrate(&store, from.as_ref(), to.as_ref(), |done, total| {
        if done == total || done >= last_shown + 1000 {
            last_shown = done;
            eprintln!("  {done} of {total} sealed values");
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    println!(
        "the deployment now uses the master key {} ({} values sealed again, {} already were)",
        to_source.describe(dir),
        done.resealed,
        done.already
    );
    match to_source {
        MasterKeySource::Pkcs11(_) => println!(
            "start every node with --master-key pkcs11 and the same --pkcs11-* options; {} is no longer used: delete it, or keep it offline only as long as you keep backups made before this migration",
            file.display()
        ),
        MasterKeySource::File => println!(
            "start every node with --master-key file (the default) and a copy of {} (0600); the key in the token is no longer used",
            file.display()
        ),
    }
    bootstrap::check_master_key(&store, to.as_ref(), &to_source, dir)
        .await
        .map_err(|e| e.to_string())
}
