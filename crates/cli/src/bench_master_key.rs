//! `keyward bench master-key`: sealing and opening a 32-byte root key material with the master
//! key, software and (with `--master-key pkcs11 …`) in a PKCS#11 token, side by side. The KMS
//! does this when a key is not in its cache (every 2 s per key at most), not on every request.

use std::time::Instant;

use keyward_crypto::SecretBytes;
use keyward_kms::MasterKey;
use keyward_server::bootstrap::MasterKeySource;

use crate::master_key_args::MasterKeyArgs;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn pairs_per_second(key: &dyn MasterKey, iterations: u32) -> Result<f64, String> {
    let material = SecretBytes::new(vec![7; 32]);
    let aad = b"keyward.bench.root-key";
    let started = Instant::now();
    for _ in 0..iterations {
        let sealed = key.wrap(aad, &material).map_err(|e| e.to_string())?;
        let opened = key.unwrap(aad, &sealed).map_err(|e| e.to_string())?;
        if opened.len() != 32 {
            return Err("the master key opened something else".into());
        }
    }
    Ok(f64::from(iterations) / started.elapsed().as_secs_f64())
}

/// Runs the benchmark and prints a markdown table.
pub fn master_key(iterations: u32, rounds: u32, token: &MasterKeyArgs) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("keyward-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut backends = vec![("software (file)", MasterKeySource::File)];
    let token = token.source()?;
    if matches!(token, MasterKeySource::Pkcs11(_)) {
        backends.push(("PKCS#11 token", token));
    }
    println!(
        "| master key | wrap + unwrap pairs/s (median of {rounds}) | µs per pair |\n|---|---:|---:|"
    );
    let result = backends.iter().try_for_each(|(name, source)| {
        let key = source.open(&dir).map_err(|e| e.to_string())?;
        let rate = median(
            (0..rounds)
                .map(|_| pairs_per_second(key.as_ref(), iterations))
                .collect::<Result<_, _>>()?,
        );
        println!("| {name} | {rate:.0} | {:.1} |", 1e6 / rate);
        Ok::<_, String>(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}
