//! `keyward rings ...`: the KMS instance's key rings.

use clap::Subcommand;
use keyward_client::Method;
use serde_json::json;

use crate::remote::{Output, Remote, cell, table};

/// Key ring commands.
#[derive(Subcommand)]
pub enum RingsCommand {
    /// List the instance's key rings.
    List,
    /// Create a key ring (2 to 100 of a-z, A-Z, 0-9 and -).
    Create {
        /// Its id.
        id: String,
    },
    /// Delete an empty key ring (`--force`: also when it holds only destroyed keys).
    Delete {
        /// Its id.
        id: String,
        /// Delete even if it holds destroyed keys.
        #[arg(long)]
        force: bool,
    },
}

/// Runs a rings command.
pub async fn run(remote: &Remote, command: RingsCommand) -> Result<(), String> {
    match command {
        RingsCommand::List => {
            let rings = remote
                .call(Method::GET, "/api/v2/key_rings?limit=5000", &[], None)
                .await?;
            match remote.output {
                Output::Json => println!("{rings}"),
                Output::Table => {
                    let rows: Vec<Vec<String>> = rings["resources"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|r| {
                            vec![
                                cell(&r["id"]),
                                cell(&r["creationDate"]),
                                cell(&r["createdBy"]),
                            ]
                        })
                        .collect();
                    table(&["RING", "CREATED", "BY"], &rows);
                }
            }
        }
        RingsCommand::Create { id } => {
            remote
                .call(Method::POST, &format!("/api/v2/key_rings/{id}"), &[], None)
                .await?;
            done(remote.output, &id, "created");
        }
        RingsCommand::Delete { id, force } => {
            let path = format!(
                "/api/v2/key_rings/{id}{}",
                if force { "?force=true" } else { "" }
            );
            remote.call(Method::DELETE, &path, &[], None).await?;
            done(remote.output, &id, "deleted");
        }
    }
    Ok(())
}

fn done(output: Output, id: &str, what: &str) {
    match output {
        Output::Json => println!("{}", json!({"id": id, what: true})),
        Output::Table => println!("key ring {id} {what}"),
    }
}
