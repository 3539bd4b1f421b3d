//! `keyward bench reencrypt`: time the switch of one tenant with N secrets from the global key
//! to a customer key, on SQLite or PostgreSQL, with peak memory and, beside it, the time the
//! database itself takes to rewrite the same fields in one statement; and `keyward bench
//! secrets-open`: decrypting a sealed field whose DEK is cached, on one core.

use std::time::{Duration, Instant};

use keyward_crypto::SecretBytes;
use keyward_iam::{AccountId, Role, ServiceKind};
use keyward_kms::{InstanceId, NewKey};
use keyward_secrets::{RootKey, SecretId, SecretStore, SecretsConfig, TenantId};
use keyward_server::{App, ServeSettings, build};
use uuid::Uuid;

/// Peak resident set size of this process so far, in MiB (`VmHWM`).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn app(
    database_url: Option<String>,
    batch_size: u32,
) -> Result<(App, std::path::PathBuf), String> {
    let dir = std::env::temp_dir().join(format!("keyward-bench-{}", Uuid::new_v4().simple()));
    let settings = ServeSettings {
        database_url,
        secrets: SecretsConfig {
            batch_size,
            ..SecretsConfig::default()
        },
        ..ServeSettings::new(&dir)
    };
    let app = build(&settings).await.map_err(|e| e.to_string())?;
    Ok((app, dir))
}

/// Secrets stored per `put_many` while filling.
const FILL_CHUNK: u32 = 1000;

/// Fills a tenant with `n` secrets of two fields, then switches it to a customer key.
pub async fn reencrypt(
    n: u32,
    database_url: Option<String>,
    batch_size: u32,
) -> Result<(), String> {
    let engine = if database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let (app, dir) = app(database_url, batch_size).await?;
    let tenant = TenantId(
        app.create_tenant("bench")
            .await
            .map_err(|e| e.to_string())?,
    );
    let secrets = &app.state.secrets;
    let fill_start = Instant::now();
    let user = SecretBytes::new(b"datamart-user".to_vec());
    // Imported FILL_CHUNK secrets per transaction.
    let mut i = 0;
    while i < n {
        let count = FILL_CHUNK.min(n - i);
        let passwords: Vec<SecretBytes> = (i..i + count)
            .map(|k| SecretBytes::new(format!("password-{k:08}").into_bytes()))
            .collect();
        let fields: Vec<[(&str, &SecretBytes); 2]> = passwords
            .iter()
            .map(|p| [("username", &user), ("password", p)])
            .collect();
        let batch: Vec<(SecretId, &[(&str, &SecretBytes)])> = fields
            .iter()
            .map(|f| (SecretId(Uuid::new_v4()), &f[..]))
            .collect();
        secrets
            .put_many(tenant, &batch)
            .await
            .map_err(|e| e.to_string())?;
        i += count;
    }
    let fill = fill_start.elapsed();
    let rss_before = peak_rss_mib();

    let kms_instance: Uuid = app.info.kms_instance_id.parse().map_err(|_| "bootstrap")?;
    let access = app
        .admin_access(kms_instance)
        .await
        .map_err(|e| e.to_string())?;
    let key = app
        .state
        .kms
        .create_key(
            &access,
            InstanceId::from_uuid(kms_instance),
            NewKey::root("bench-customer"),
        )
        .await
        .map_err(|e| e.to_string())?;
    let account: AccountId = app.info.account_id.parse().map_err(|_| "bootstrap")?;
    keyward_server::iam_admin::authorize_service(
        &app.store,
        &account,
        ServiceKind::ConfigSvc,
        None,
        kms_instance,
        Role::Reader,
    )
    .await
    .map_err(|e| e.to_string())?;
    app.state.iam.invalidate();
    let crn = app.state.crn.key_crn(
        &app.info.account_id,
        InstanceId::from_uuid(kms_instance),
        key.key.id,
    );
    let target = RootKey::Customer(crn.parse().map_err(|_| "crn")?);

    let start = Instant::now();
    secrets
        .switch_root_key(tenant, target.clone())
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let p = secrets
            .protection(tenant)
            .await
            .map_err(|e| e.to_string())?;
        if p.switching_to.is_none() && p.current == target {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            return Err("the re-encryption did not finish within 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = start.elapsed();
    let (done, total) = {
        let gens = app
            .store
            .generations(tenant)
            .await
            .map_err(|e| e.to_string())?;
        let current = gens.first().ok_or("no generation")?;
        app.store
            .count_fields(tenant, current.id)
            .await
            .map_err(|e| e.to_string())?
    };
    if done != total || total != u64::from(n) * 2 {
        return Err(format!(
            "expected {} fields under the new key, found {done} of {total}",
            n * 2
        ));
    }
    let rss_after = peak_rss_mib();
    let floor = app
        .store
        .time_one_statement_rewrite(tenant.0)
        .await
        .map_err(|e| e.to_string())?;
    app.store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "| {engine} | {n} | {} | {:.2} | {:.0} | {:.2} | {:.1} | {:.1} | {:.1} |",
        total,
        took.as_secs_f64(),
        f64::from(n) / took.as_secs_f64(),
        floor.as_secs_f64(),
        fill.as_secs_f64(),
        rss_before,
        rss_after
    );
    Ok(())
}

/// Decrypts one sealed field with its DEK cached, `iterations` times on this thread.
pub async fn secrets_open(iterations: u32, rounds: u32) -> Result<(), String> {
    let (app, dir) = app(None, 1000).await?;
    let tenant = TenantId(Uuid::new_v4());
    let secret = SecretId(Uuid::new_v4());
    let password = SecretBytes::new(b"correct horse battery staple".to_vec());
    let secrets = &app.state.secrets;
    secrets
        .put(tenant, secret, &[("password", &password)])
        .await
        .map_err(|e| e.to_string())?;
    let sealed = app
        .store
        .get_field(tenant, secret, "password")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("field missing")?;
    let mut rates = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..iterations {
            let opened = secrets.open_cached(&sealed).map_err(|e| e.to_string())?;
            std::hint::black_box(opened);
        }
        rates.push(f64::from(iterations) / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "| decrypt a sealed field, DEK cached, one thread | {median:.0} /s | {:.3} µs |",
        1e6 / median
    );
    app.store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
