//! One conformance suite for every master key backend: the software key and a PKCS#11 token
//! (SoftHSM2 in CI). Both must seal and open what they sealed, refuse any change to the sealed
//! bytes or the AAD, refuse another master key's data, and name themselves in what they seal.
//!
//! The token comes from `KEYWARD_TEST_PKCS11_MODULE`, `KEYWARD_TEST_PKCS11_TOKEN` and
//! `KEYWARD_TEST_PKCS11_PIN` (`scripts/test` makes a SoftHSM2 token in a temporary directory).
//! When they are unset the PKCS#11 tests fail with an explanation, unless
//! `KEYWARD_TEST_SKIP_PKCS11=1` says to skip them on purpose.

#![allow(clippy::unwrap_used)]

mod common;

use common::token_config;
use keyward_crypto::{SecretBytes, peek_key_version, random_secret};
use keyward_hsm::Pkcs11MasterKey;
use keyward_kms::{MasterKey, SoftwareMasterKey};

fn software() -> SoftwareMasterKey {
    SoftwareMasterKey::new(&random_secret(32).unwrap()).unwrap()
}

/// A key of its own in the test token (labels are unique per test).
fn token(name: &str) -> Option<Pkcs11MasterKey> {
    let label = format!("{name}-{}", uuid::Uuid::new_v4().simple());
    token_config(&label).map(|c| Pkcs11MasterKey::open(&c).unwrap())
}

fn seals_and_opens_what_it_sealed(key: &dyn MasterKey) {
    for len in [0usize, 1, 32, 4096] {
        let material = SecretBytes::new((0..len).map(|i| i as u8).collect());
        let sealed = key.wrap(b"aad", &material).unwrap();
        assert_eq!(sealed.len(), len + keyward_crypto::OVERHEAD);
        assert_eq!(peek_key_version(&sealed).ok(), Some(key.id()));
        let opened = key.unwrap(b"aad", &sealed).unwrap();
        assert_eq!(opened.expose_secret(), material.expose_secret());
        // A fresh nonce each time.
        assert_ne!(sealed, key.wrap(b"aad", &material).unwrap());
    }
}

fn refuses_any_change(key: &dyn MasterKey) {
    let material = SecretBytes::new(vec![7; 32]);
    let sealed = key.wrap(b"tenant-a", &material).unwrap();
    assert!(key.unwrap(b"tenant-b", &sealed).is_err());
    assert!(key.unwrap(b"", &sealed).is_err());
    for at in [0, 1, 17, 20, sealed.len() - 1] {
        let mut changed = sealed.clone();
        changed[at] ^= 1;
        assert!(key.unwrap(b"tenant-a", &changed).is_err(), "byte {at}");
    }
    assert!(
        key.unwrap(b"tenant-a", &sealed[..sealed.len() - 1])
            .is_err()
    );
    assert!(key.unwrap(b"tenant-a", &[]).is_err());
}

fn refuses_another_master_keys_data(key: &dyn MasterKey, other: &dyn MasterKey) {
    assert_ne!(key.id(), other.id());
    let sealed = other.wrap(b"aad", &SecretBytes::new(vec![1; 32])).unwrap();
    assert!(key.unwrap(b"aad", &sealed).is_err());
}

mod software {
    use super::*;

    #[test]
    fn seals_and_opens_what_it_sealed() {
        super::seals_and_opens_what_it_sealed(&software());
    }
    #[test]
    fn refuses_any_change() {
        super::refuses_any_change(&software());
    }
    #[test]
    fn refuses_another_master_keys_data() {
        super::refuses_another_master_keys_data(&software(), &software());
    }
}

mod pkcs11 {
    use super::*;

    #[test]
    fn seals_and_opens_what_it_sealed() {
        if let Some(key) = token("seal") {
            super::seals_and_opens_what_it_sealed(&key);
        }
    }
    #[test]
    fn refuses_any_change() {
        if let Some(key) = token("change") {
            super::refuses_any_change(&key);
        }
    }
    #[test]
    fn refuses_another_master_keys_data() {
        if let (Some(key), Some(other)) = (token("mine"), token("other")) {
            super::refuses_another_master_keys_data(&key, &other);
            super::refuses_another_master_keys_data(&key, &software());
        }
    }

    /// The key is made in the token on first use, can never leave it, and is the same key when
    /// opened again (what it sealed before still opens).
    #[test]
    fn the_key_is_made_once_in_the_token_and_never_leaves_it() {
        let label = format!("kept-{}", uuid::Uuid::new_v4().simple());
        let Some(config) = token_config(&label) else {
            return;
        };
        let first = Pkcs11MasterKey::open(&config).unwrap();
        let protection = first.protection().unwrap();
        assert!(protection.sensitive && !protection.extractable && protection.never_extractable);
        let sealed = first.wrap(b"aad", &SecretBytes::new(vec![9; 32])).unwrap();

        let again = Pkcs11MasterKey::open(&config).unwrap();
        assert_eq!(again.id(), first.id());
        assert_eq!(
            again.unwrap(b"aad", &sealed).unwrap().expose_secret(),
            &[9; 32]
        );
        assert!(
            !format!("{config:?}").contains(&std::env::var("KEYWARD_TEST_PKCS11_PIN").unwrap())
        );
    }

    #[test]
    fn an_unknown_token_is_refused_by_name() {
        let Some(mut config) = token_config("never-made") else {
            return;
        };
        config.token_label = "no-such-token".into();
        let e = Pkcs11MasterKey::open(&config).unwrap_err().to_string();
        assert!(e.contains("no-such-token"), "{e}");
    }
}
