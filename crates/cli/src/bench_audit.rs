//! `keyward bench audit-append`: appending audit events to the chain, in batches of several sizes
//! (one batch = one statement and one commit, as the server's writer does), on SQLite in a
//! temporary directory or on an empty PostgreSQL database.

use std::time::Instant;

use keyward_store::{AuditAppender, NewAuditEvent, Store};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// An event body the size of a real one (an unwrap with its CRN and correlation id).
fn body(n: u64) -> String {
    serde_json::json!({
        "eventTime": "2026-11-30T07:00:00.000Z",
        "action": "kms.secrets.unwrap",
        "outcome": "success",
        "reason": {"reasonCode": 200, "reasonType": "OK"},
        "initiator": {"id": "IBMid-0123456789abcdef0123", "host": {"address": "127.0.0.1"}},
        "target": {"id": format!("crn:v1:keyward:local:kms:local:a/0123456789abcdef:{n:032x}:key:{n:036x}")},
        "correlationId": format!("{n:036x}"),
    })
    .to_string()
}

/// Runs the benchmark and prints a markdown table.
pub async fn audit_append(
    events: u32,
    batches: &[u32],
    rounds: u32,
    database_url: Option<String>,
) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("keyward-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = run(events, batches, rounds, database_url, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(
    events: u32,
    batches: &[u32],
    rounds: u32,
    database_url: Option<String>,
    dir: &std::path::Path,
) -> Result<(), String> {
    let store = match &database_url {
        Some(url) => Store::open_postgres(url, None).await,
        None => Store::open_sqlite(&dir.join("bench.db")).await,
    }
    .map_err(|e| e.to_string())?;
    let mut chain = AuditAppender::new(store);
    let mut n = 0u64;
    println!(
        "| batch | events/s (median of {rounds}) | µs per batch | µs per event |\n|---:|---:|---:|---:|"
    );
    for &batch in batches {
        let batch = batch.max(1);
        let mut rates = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let mut written = 0u32;
            while written < events {
                let size = batch.min(events - written);
                let group: Vec<_> = (0..size)
                    .map(|_| {
                        n += 1;
                        NewAuditEvent {
                            account: Some("0123456789abcdef".into()),
                            at_millis: 1_796_000_000_000,
                            body: body(n),
                        }
                    })
                    .collect();
                chain.append(&group, &[]).await.map_err(|e| e.to_string())?;
                written += size;
            }
            rates.push(f64::from(events) / started.elapsed().as_secs_f64());
        }
        let rate = median(rates);
        println!(
            "| {batch} | {rate:.0} | {:.1} | {:.1} |",
            1e6 * f64::from(batch) / rate,
            1e6 / rate
        );
    }
    Ok(())
}
