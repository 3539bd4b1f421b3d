//! Reading the command line with `serve --config FILE`, and `keyward config check`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches, Subcommand};
use serde_json::json;

use crate::config_file;
use crate::{Cli, Command};

/// `keyward config ...`.
#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file for `serve --config`: unknown keys, bad values and settings
    /// `serve` would refuse are reported; otherwise the settings it makes (with the environment
    /// and any serve flags given after the file, which win over it) are printed as JSON.
    Check {
        /// The TOML file.
        file: PathBuf,
        /// `serve` flags, as `keyward serve` would get them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        serve_args: Vec<OsString>,
    },
}

/// The command line, with `serve --config FILE` (or `KEYWARD_CONFIG`) read in: the file's
/// settings become the defaults of `serve`'s flags. Exits with clap's message on a bad line.
pub fn parse_cli() -> Result<Cli, String> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let first = Cli::command().get_matches_from(args.clone());
    let file = first
        .subcommand_matches("serve")
        .and_then(|m| m.get_one::<PathBuf>("config"))
        .cloned();
    let matches = match file {
        None => first,
        Some(file) => with_file(&file)?
            .try_get_matches_from(args)
            .unwrap_or_else(|e| e.exit()),
    };
    Cli::from_arg_matches(&matches).map_err(|e| e.to_string())
}

/// The command line's definition with `file`'s settings as `serve`'s defaults.
fn with_file(file: &Path) -> Result<clap::Command, String> {
    let cli = Cli::command();
    let serve = cli
        .find_subcommand("serve")
        .ok_or("no serve command")?
        .clone();
    let settings = config_file::read(file, &serve)?;
    Ok(cli.mut_subcommand("serve", |serve| config_file::apply(serve, &settings)))
}

/// `keyward config check FILE [serve flags]`.
pub fn run(command: ConfigCommand) -> Result<(), String> {
    let ConfigCommand::Check { file, serve_args } = command;
    let mut argv: Vec<OsString> = vec!["keyward".into(), "serve".into()];
    argv.extend(serve_args);
    let matches = with_file(&file)?
        .try_get_matches_from(argv)
        .map_err(|e| e.to_string().trim_end().to_owned())?;
    let Cli {
        command: Command::Serve(args),
        ..
    } = Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?
    else {
        return Err("not a serve command line".into());
    };
    let s = args.into_settings()?;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "file": file,
            "data_dir": s.data_dir,
            "listen": s.listen.to_string(),
            "database": if s.database_url.is_some() { "postgresql" } else { "sqlite" },
            "tls": s.tls.as_ref().map(|t| json!({"cert": t.cert, "key": t.key})),
            "insecure_http": s.insecure_http,
            "metrics_listen": s.metrics_listen.map(|a| a.to_string()),
            "kms_endpoints": s.kms_endpoints.len(),
            "request_timeout_seconds": s.edge.request_timeout.as_secs(),
            "header_read_timeout_seconds": s.edge.header_read_timeout.as_secs(),
        }))
        .map_err(|e| e.to_string())?
    );
    Ok(())
}
