//! `keyward audit events`: an account administrator reads the account's audit events over
//! HTTP, oldest first from `--start`, page by page.

use keyward_client::Method;

use crate::remote::{Connection, Output, Remote, cell, table};

/// Where, as whom, and which events.
#[derive(clap::Args)]
pub struct EventsArgs {
    /// Where and as whom.
    #[command(flatten)]
    connection: Connection,
    /// The number of the last event already read (0: from the first).
    #[arg(long, default_value_t = 0)]
    start: i64,
    /// At most this many events (pages of up to 1000 are fetched until then).
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

/// Prints the events.
pub async fn run(args: EventsArgs) -> Result<(), String> {
    let remote = args.connection.connect().await?;
    let (events, next) = read(&remote, args.start, args.limit).await?;
    match remote.output {
        Output::Json => {
            for event in &events {
                println!("{event}");
            }
        }
        Output::Table => {
            let rows: Vec<Vec<String>> = events
                .iter()
                .map(|r| {
                    let e = &r["event"];
                    vec![
                        cell(&r["seq"]),
                        cell(&e["eventTime"]),
                        cell(&e["action"]),
                        format!(
                            "{} {}",
                            cell(&e["outcome"]),
                            cell(&e["reason"]["reasonCode"])
                        ),
                        cell(&e["initiator"]["id"]),
                        cell(&e["target"]["id"]),
                    ]
                })
                .collect();
            table(
                &["SEQ", "TIME", "ACTION", "OUTCOME", "INITIATOR", "TARGET"],
                &rows,
            );
            eprintln!("next: --start {next}");
        }
    }
    Ok(())
}

/// Up to `limit` events after `start`, and the `start` of the next read.
async fn read(
    remote: &Remote,
    mut start: i64,
    limit: u32,
) -> Result<(Vec<serde_json::Value>, i64), String> {
    let mut events = Vec::new();
    while events.len() < limit as usize {
        let page = (limit as usize - events.len()).min(1000);
        let body = remote
            .call(
                Method::GET,
                &format!("/api/v2/audit/events?start={start}&limit={page}"),
                &[],
                None,
            )
            .await?;
        let got = body["resources"].as_array().cloned().unwrap_or_default();
        let next = body["metadata"]["next"].as_i64().unwrap_or(start);
        let done = got.len() < page || next == start;
        events.extend(got);
        start = next;
        if done {
            break;
        }
    }
    Ok((events, start))
}
