//! `keyward verify-secrets`: opens a data directory the way the server does, waits for any
//! interrupted re-encryption to finish, then checks that every expected secret field decrypts
//! to its expected value and that each tenant has exactly one generation left.
//!
//! Expected values come from a file of JSON lines
//! `{"instance": "<uuid>", "secret": "<uuid>", "field": "<name>", "value": <json>}`
//! (never from flags); only counts are printed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use keyward_secrets::{GenerationStatus, SecretId, SecretStore, TenantId};
use keyward_server::{ServeSettings, build};
use serde_json::Value;
use uuid::Uuid;

/// Arguments.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Data directory of the server (it must not be running).
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = "./keyward-data")]
    data_dir: PathBuf,
    /// PostgreSQL URL, when the server uses one.
    #[arg(long, env = "KEYWARD_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// File of expected values (JSON lines).
    #[arg(long)]
    expect: PathBuf,
    /// Longest wait for interrupted re-encryptions, in seconds.
    #[arg(long, default_value_t = 120)]
    wait_seconds: u64,
}

struct Expected {
    tenant: TenantId,
    secret: SecretId,
    field: String,
    value: Vec<u8>,
}

fn parse(line: &str) -> Result<Expected, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("bad expectation line: {e}"))?;
    let uuid = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| format!("expectation without a valid {k}"))
    };
    Ok(Expected {
        tenant: TenantId(uuid("instance")?),
        secret: SecretId(uuid("secret")?),
        field: v
            .get("field")
            .and_then(Value::as_str)
            .ok_or("expectation without field")?
            .to_owned(),
        value: serde_json::to_vec(v.get("value").ok_or("expectation without value")?)
            .map_err(|e| e.to_string())?,
    })
}

/// Runs the check; `Err` when anything is wrong.
pub async fn run(args: VerifyArgs) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.expect)
        .map_err(|e| format!("cannot read {}: {e}", args.expect.display()))?;
    let expected = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse)
        .collect::<Result<Vec<_>, _>>()?;
    let settings = ServeSettings {
        database_url: args.database_url.filter(|u| !u.is_empty()),
        ..ServeSettings::new(args.data_dir)
    };
    let app = build(&settings).await.map_err(|e| e.to_string())?;
    let tenants: BTreeSet<TenantId> = expected.iter().map(|e| e.tenant).collect();
    let deadline = Instant::now() + Duration::from_secs(args.wait_seconds);
    for tenant in &tenants {
        loop {
            let p = app
                .state
                .secrets
                .protection(*tenant)
                .await
                .map_err(|e| e.to_string())?;
            if p.switching_to.is_none() {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("tenant {tenant}: the re-encryption did not finish"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let gens = app
            .store
            .generations(*tenant)
            .await
            .map_err(|e| e.to_string())?;
        if gens.len() != 1 || gens[0].status != GenerationStatus::Current {
            return Err(format!(
                "tenant {tenant}: {} generations remain (an old wrapped DEK was not dropped)",
                gens.len()
            ));
        }
        let (sealed_by_current, total) = app
            .store
            .count_fields(*tenant, gens[0].id)
            .await
            .map_err(|e| e.to_string())?;
        if sealed_by_current != total {
            return Err(format!(
                "tenant {tenant}: {} of {total} fields are not under the current generation",
                total - sealed_by_current
            ));
        }
    }
    let mut mismatches = 0usize;
    for e in &expected {
        match app.state.secrets.get(e.tenant, e.secret, &e.field).await {
            Ok(value) if value.ct_eq(&e.value) => {}
            Ok(_) => mismatches += 1,
            Err(err) => return Err(format!("secret {} field {}: {err}", e.secret.0, e.field)),
        }
    }
    app.store.close().await;
    if mismatches > 0 {
        return Err(format!(
            "{mismatches} of {} fields decrypt to a different value",
            expected.len()
        ));
    }
    println!(
        "verified {} fields of {} tenants: all decrypt to their values, one generation each",
        expected.len(),
        tenants.len()
    );
    Ok(())
}
