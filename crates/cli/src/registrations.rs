//! `keyward registrations list`: which cloud resources use the instance's root keys (the
//! configuration service registers every instance it protects with a customer key).

use clap::Subcommand;
use keyward_client::Method;

use crate::remote::{Output, Remote, cell, table};

/// Registration commands.
#[derive(Subcommand)]
pub enum RegistrationsCommand {
    /// List registrations: of one key (`--key`), or of every key of the instance.
    List {
        /// Only this key's (id or alias).
        #[arg(long)]
        key: Option<String>,
        /// Only resources whose CRN matches this pattern (`*` matches any run of characters).
        #[arg(long)]
        crn: Option<String>,
    },
}

/// Runs a registrations command.
pub async fn run(remote: &Remote, command: RegistrationsCommand) -> Result<(), String> {
    let RegistrationsCommand::List { key, crn } = command;
    let mut path = match key {
        Some(key) => format!("/api/v2/keys/{key}/registrations?limit=5000"),
        None => "/api/v2/keys/registrations?limit=5000".to_owned(),
    };
    if let Some(pattern) = crn {
        path.push_str("&urlEncodedResourceCRNQuery=");
        path.push_str(&encode(&pattern));
    }
    let found = remote.call(Method::GET, &path, &[], None).await?;
    match remote.output {
        Output::Json => println!("{found}"),
        Output::Table => {
            let rows: Vec<Vec<String>> = found["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    vec![
                        cell(&r["keyId"]),
                        cell(&r["resourceCrn"]),
                        cell(&r["preventKeyDeletion"]),
                        cell(&r["creationDate"]),
                    ]
                })
                .collect();
            table(&["KEY", "RESOURCE", "PREVENTS DELETION", "CREATED"], &rows);
        }
    }
    Ok(())
}

/// Percent-encodes everything but unreserved characters and `*`.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'*' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
