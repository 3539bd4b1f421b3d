//! `keyward prefs`: which root key protects a configuration-service instance's secrets, and
//! switching it, following the re-encryption with a progress bar until it completes.

use std::time::{Duration, Instant};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use keyward_client::Method;
use serde_json::{Value, json};

use crate::remote::{Output, Remote};

/// Preference commands; `--instance` names the configuration-service instance.
#[derive(Subcommand)]
pub enum PrefsCommand {
    /// Which root key protects the instance's secrets now, and any switch under way.
    Show,
    /// Protect the instance's secrets with the customer root key CRN: every secret is
    /// re-encrypted; the command follows it until it completes.
    SetRootKey {
        /// The root key's CRN.
        crn: String,
        /// Return at once instead of following the re-encryption.
        #[arg(long)]
        no_wait: bool,
        /// Give up following after this many seconds (the switch goes on).
        #[arg(long, default_value_t = 3600)]
        timeout_seconds: u64,
    },
    /// Go back to the service's global key; the command follows the re-encryption.
    RemoveRootKey {
        /// Return at once instead of following the re-encryption.
        #[arg(long)]
        no_wait: bool,
        /// Give up following after this many seconds (the switch goes on).
        #[arg(long, default_value_t = 3600)]
        timeout_seconds: u64,
    },
}

const PREF: &str = "user_root_key_crn";

/// Runs a prefs command.
pub async fn run(remote: &Remote, command: PrefsCommand) -> Result<(), String> {
    let instance = remote.instance()?.to_owned();
    let base = format!("/openscale/{instance}/v2/user_preferences");
    match command {
        PrefsCommand::Show => show(remote, &base).await,
        PrefsCommand::SetRootKey {
            crn,
            no_wait,
            timeout_seconds,
        } => {
            let body = json!({ PREF: crn });
            remote
                .call(Method::PUT, &format!("{base}/{PREF}"), &[], Some(&body))
                .await?;
            if no_wait {
                return show(remote, &base).await;
            }
            follow(remote, &base, &crn, Duration::from_secs(timeout_seconds)).await
        }
        PrefsCommand::RemoveRootKey {
            no_wait,
            timeout_seconds,
        } => {
            remote
                .call(Method::DELETE, &format!("{base}/{PREF}"), &[], None)
                .await?;
            if no_wait {
                return show(remote, &base).await;
            }
            follow(
                remote,
                &base,
                "global",
                Duration::from_secs(timeout_seconds),
            )
            .await
        }
    }
}

async fn protection(remote: &Remote, base: &str) -> Result<Value, String> {
    Ok(remote.call(Method::GET, base, &[], None).await?["key_protection"].clone())
}

async fn show(remote: &Remote, base: &str) -> Result<(), String> {
    let p = protection(remote, base).await?;
    match remote.output {
        Output::Json => println!("{p}"),
        Output::Table => {
            println!("root key: {}", p["root_key"].as_str().unwrap_or("?"));
            if let Some(target) = p["switching_to"].as_str() {
                println!(
                    "switching to: {target} ({}: {} of {} fields)",
                    p["state"].as_str().unwrap_or("running"),
                    p["progress"]["done"],
                    p["progress"]["total"]
                );
                if let Some(reason) = p["reason"].as_str() {
                    println!("paused because: {reason}");
                }
            }
        }
    }
    Ok(())
}

/// Polls until the instance is protected by `target` with no switch under way, showing the
/// fields re-encrypted (on stderr, so a script's stdout gets only the final state).
async fn follow(
    remote: &Remote,
    base: &str,
    target: &str,
    timeout: Duration,
) -> Result<(), String> {
    let started = Instant::now();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} fields ({elapsed})")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    bar.set_message("re-encrypting");
    loop {
        let p = protection(remote, base).await?;
        if p["switching_to"].is_null() && p["root_key"] == target {
            bar.finish_with_message("done");
            break;
        }
        if let (Some(done), Some(total)) = (
            p["progress"]["done"].as_u64(),
            p["progress"]["total"].as_u64(),
        ) {
            bar.set_length(total);
            bar.set_position(done);
        }
        match p["reason"].as_str() {
            Some(reason) => bar.set_message(format!("paused ({reason})")),
            None => bar.set_message("re-encrypting"),
        }
        if started.elapsed() > timeout {
            bar.abandon_with_message("still running");
            return Err(format!(
                "the switch to {target} has not completed after {} s; it goes on: keyward prefs show",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    show(remote, base).await
}
