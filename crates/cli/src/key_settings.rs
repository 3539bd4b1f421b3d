//! `keyward keys alias ...` and `keyward keys policies ...`: a key's aliases and its rotation
//! and dual-authorization policies.

use clap::Subcommand;
use keyward_client::Method;
use serde_json::{Value, json};

use crate::remote::{Output, Remote, cell, table};

const POLICY_TYPE: &str = "application/vnd.ibm.kms.policy+json";

/// Alias commands.
#[derive(Subcommand)]
pub enum AliasCommand {
    /// Give key ID the alias ALIAS (2 to 90 characters, unique in the instance).
    Add {
        /// The key.
        id: String,
        /// The alias.
        alias: String,
    },
    /// Take the alias ALIAS from key ID.
    Remove {
        /// The key.
        id: String,
        /// The alias.
        alias: String,
    },
}

/// Key policy commands.
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Show a key's rotation and dual-authorization policies.
    Show {
        /// The key.
        id: String,
    },
    /// Rotate the key on schedule every N months (1 to 12), or stop with `--disable`.
    SetRotation {
        /// The key.
        id: String,
        /// Months between rotations.
        #[arg(long, required_unless_present = "disable")]
        interval_month: Option<u8>,
        /// Stop rotating on schedule.
        #[arg(long, conflicts_with = "interval_month")]
        disable: bool,
    },
    /// Require two users to delete the key (cannot be turned off again).
    EnableDualAuth {
        /// The key.
        id: String,
    },
}

/// Runs an alias command.
pub async fn run_alias(remote: &Remote, command: AliasCommand) -> Result<(), String> {
    match command {
        AliasCommand::Add { id, alias } => {
            let made = remote
                .call(Method::POST, &alias_path(&id, &alias), &[], None)
                .await?;
            match remote.output {
                Output::Json => println!("{made}"),
                Output::Table => {
                    let rows: Vec<Vec<String>> = resources(&made)
                        .iter()
                        .map(|a| vec![cell(&a["keyId"]), cell(&a["alias"])])
                        .collect();
                    table(&["KEY", "ALIAS"], &rows);
                }
            }
        }
        AliasCommand::Remove { id, alias } => {
            remote
                .call(Method::DELETE, &alias_path(&id, &alias), &[], None)
                .await?;
            match remote.output {
                Output::Json => {
                    println!("{}", json!({"keyId": id, "alias": alias, "removed": true}))
                }
                Output::Table => println!("alias {alias} removed from {id}"),
            }
        }
    }
    Ok(())
}

/// Runs a key policy command.
pub async fn run_policy(remote: &Remote, command: PolicyCommand) -> Result<(), String> {
    let (id, body) = match command {
        PolicyCommand::Show { id } => {
            let policies = remote
                .call(Method::GET, &policies_path(&id), &[], None)
                .await?;
            print_policies(remote.output, &policies);
            return Ok(());
        }
        PolicyCommand::SetRotation {
            id,
            interval_month,
            disable,
        } => {
            let rotation = match interval_month {
                Some(months) if !disable => json!({"enabled": true, "interval_month": months}),
                _ => json!({"enabled": false}),
            };
            (
                id,
                policy_body(json!({"type": POLICY_TYPE, "rotation": rotation})),
            )
        }
        PolicyCommand::EnableDualAuth { id } => (
            id,
            policy_body(json!({"type": POLICY_TYPE, "dualAuthDelete": {"enabled": true}})),
        ),
    };
    let set = remote
        .call(Method::PUT, &policies_path(&id), &[], Some(&body))
        .await?;
    print_policies(remote.output, &set);
    Ok(())
}

fn alias_path(id: &str, alias: &str) -> String {
    format!("/api/v2/keys/{id}/aliases/{alias}")
}

fn policies_path(id: &str) -> String {
    format!("/api/v2/keys/{id}/policies")
}

fn policy_body(resource: Value) -> Value {
    json!({"metadata": {"collectionType": POLICY_TYPE, "collectionTotal": 1}, "resources": [resource]})
}

fn resources(body: &Value) -> Vec<Value> {
    body["resources"].as_array().cloned().unwrap_or_default()
}

fn print_policies(output: Output, body: &Value) {
    match output {
        Output::Json => println!("{body}"),
        Output::Table => {
            let rows: Vec<Vec<String>> = resources(body)
                .iter()
                .map(|p| {
                    let (kind, setting) = if let Some(r) = p.get("rotation") {
                        let setting = if r["enabled"] == true {
                            format!("every {} months", cell(&r["interval_month"]))
                        } else {
                            "off".to_owned()
                        };
                        ("rotation", setting)
                    } else {
                        let on = p["dualAuthDelete"]["enabled"] == true;
                        ("dualAuthDelete", if on { "on" } else { "off" }.to_owned())
                    };
                    vec![kind.to_owned(), setting, cell(&p["updatedBy"])]
                })
                .collect();
            table(&["POLICY", "SETTING", "SET BY"], &rows);
        }
    }
}
