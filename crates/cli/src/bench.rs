//! `keyward bench envelope`: in-process wrap + unwrap of a 32-byte DEK through the KMS service
//! (cached key, SQLite store), next to the bare AES-GCM seal + open it is built on.

use std::sync::Arc;
use std::time::Instant;

use keyward_crypto::{AeadKey, SecretBytes, encode_aad, open, random_secret, seal};
use keyward_iam::{Action, Rings};
use keyward_kms::{
    Access, InstanceId, KeyRef, KeyRingId, Kms, KmsConfig, NewKey, SoftwareMasterKey, SystemClock,
};
use keyward_store::Store;

/// Allows everything: this benchmark measures the KMS domain's envelope path alone, without
/// IAM (the HTTP benchmark measures the whole request, decision included).
struct Everything;

impl Access for Everything {
    fn allows(&self, _: Action, _: Option<&KeyRingId>) -> bool {
        true
    }
    fn rings(&self, _: Action) -> Rings {
        Rings::All
    }
    fn principal(&self) -> &str {
        "bench"
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the benchmark and prints a markdown table.
pub async fn envelope(iterations: u32, rounds: u32) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("keyward-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let store = Store::open_sqlite(&dir.join("bench.db"))
        .await
        .map_err(|e| e.to_string())?;
    let master_material = random_secret(32).map_err(|e| e.to_string())?;
    let master = SoftwareMasterKey::new(&master_material).map_err(|e| e.to_string())?;
    let kms = Kms::new(
        store.clone(),
        master,
        Arc::new(SystemClock),
        KmsConfig::default(),
    );
    let instance = InstanceId::new_random();
    let created = kms
        .create_key(&Everything, instance, NewKey::root("bench"))
        .await
        .map_err(|e| e.to_string())?;
    let key = KeyRef::Id(created.key.id);
    let dek = random_secret(32).map_err(|e| e.to_string())?;

    let mut service_rates = Vec::new();
    let mut crypto_rates = Vec::new();
    let aead = AeadKey::new(
        random_secret(32)
            .map_err(|e| e.to_string())?
            .expose_secret(),
    )
    .map_err(|e| e.to_string())?;
    let aad = encode_aad("bench", &[b"key-id"]);
    let version = uuid::Uuid::new_v4();
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..iterations {
            let w = kms
                .wrap(
                    &Everything,
                    instance,
                    &key,
                    Some(SecretBytes::from_slice(dek.expose_secret())),
                    &[],
                )
                .await
                .map_err(|e| e.to_string())?;
            let u = kms
                .unwrap(&Everything, instance, &key, &w.ciphertext, &[])
                .await
                .map_err(|e| e.to_string())?;
            if !u.plaintext.ct_eq(dek.expose_secret()) {
                return Err("unwrap returned a different DEK".into());
            }
        }
        service_rates.push(f64::from(iterations) / start.elapsed().as_secs_f64());

        let start = Instant::now();
        for _ in 0..iterations {
            let ct = seal(&aead, version, &aad, dek.expose_secret()).map_err(|e| e.to_string())?;
            let pt = open(&aead, version, &aad, &ct).map_err(|e| e.to_string())?;
            std::hint::black_box(pt);
        }
        crypto_rates.push(f64::from(iterations) / start.elapsed().as_secs_f64());
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    let service = median(service_rates);
    let crypto = median(crypto_rates);
    println!(
        "| path (32-byte DEK, {iterations} iterations × {rounds} rounds, median) | wrap+unwrap pairs/s | µs per pair |"
    );
    println!("| --- | ---: | ---: |");
    println!(
        "| KMS service (cache hit, budget lease, AAD, seal + open) | {service:.0} | {:.2} |",
        1e6 / service
    );
    println!(
        "| bare AES-256-GCM seal + open (keyward-crypto) | {crypto:.0} | {:.2} |",
        1e6 / crypto
    );
    println!("| ratio service / bare | {:.2} | |", service / crypto);
    Ok(())
}
