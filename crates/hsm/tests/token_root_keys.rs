//! The strict mode's vault on a PKCS#11 token (SoftHSM2 in CI): each root key version is a key
//! object made in the token, generated keys never extractable, imported ones not extractable;
//! what a version seals is in the software format (a software key with the same material opens
//! it, and the other way round); any change is refused; a destroyed version is gone.

#![allow(clippy::unwrap_used)]

mod common;

use common::token_config;
use keyward_crypto::{AeadKey, SecretBytes, open, peek_key_version, random_secret, seal};
use keyward_hsm::TokenRootKeys;
use keyward_kms::{KeyId, KeyVersionId, KmsError, RootKeyVault};

fn vault() -> Option<TokenRootKeys> {
    token_config("unused").map(|c| TokenRootKeys::open(&c).unwrap())
}

#[test]
fn a_generated_version_is_made_in_the_token_and_never_leaves_it() {
    let Some(vault) = vault() else { return };
    let (key, version) = (KeyId::new_random(), KeyVersionId::new_random());
    let reference = vault.create(key, version, None).unwrap();
    assert_eq!(reference, version.as_uuid().as_bytes());
    let protection = vault.protection(&reference).unwrap().unwrap();
    assert!(protection.sensitive && !protection.extractable && protection.never_extractable);

    let cipher = vault.cipher(version, &reference).unwrap();
    let sealed = cipher.seal(b"aad", b"a data key").unwrap();
    assert_eq!(peek_key_version(&sealed).unwrap(), version.as_uuid());
    assert_eq!(sealed.len(), b"a data key".len() + keyward_crypto::OVERHEAD);
    assert_eq!(
        cipher.open(b"aad", &sealed).unwrap().expose_secret(),
        b"a data key"
    );
    assert_ne!(
        sealed,
        cipher.seal(b"aad", b"a data key").unwrap(),
        "a fresh nonce each time"
    );

    // Any change, another AAD, another version: refused as an invalid ciphertext.
    for at in [0, 1, 17, 20, sealed.len() - 1] {
        let mut changed = sealed.clone();
        changed[at] ^= 1;
        assert!(
            matches!(
                cipher.open(b"aad", &changed),
                Err(KmsError::CiphertextInvalid)
            ),
            "byte {at}"
        );
    }
    assert!(matches!(
        cipher.open(b"other", &sealed),
        Err(KmsError::CiphertextInvalid)
    ));
    let other = KeyVersionId::new_random();
    let other_ref = vault.create(key, other, None).unwrap();
    let other_cipher = vault.cipher(other, &other_ref).unwrap();
    assert!(other_cipher.open(b"aad", &sealed).is_err());
    // A reference is only valid for its own version.
    assert!(vault.cipher(other, &reference).is_err());
    vault.destroy(&other_ref).unwrap();
    vault.destroy(&reference).unwrap();
}

#[test]
fn an_imported_version_speaks_the_software_format() {
    let Some(vault) = vault() else { return };
    for len in [16, 24, 32] {
        let material = random_secret(len).unwrap();
        let version = KeyVersionId::new_random();
        let reference = vault
            .create(KeyId::new_random(), version, Some(&material))
            .unwrap();
        let protection = vault.protection(&reference).unwrap().unwrap();
        assert!(protection.sensitive && !protection.extractable, "{len}");

        let cipher = vault.cipher(version, &reference).unwrap();
        let software = AeadKey::new(material.expose_secret()).unwrap();
        let by_token = cipher.seal(b"aad", b"dek").unwrap();
        assert_eq!(
            open(&software, version.as_uuid(), b"aad", &by_token)
                .unwrap()
                .expose_secret(),
            b"dek"
        );
        let by_software = seal(&software, version.as_uuid(), b"aad", b"dek").unwrap();
        assert_eq!(
            cipher.open(b"aad", &by_software).unwrap().expose_secret(),
            b"dek"
        );
        vault.destroy(&reference).unwrap();
    }
    // Not AES material: refused, nothing is made.
    let version = KeyVersionId::new_random();
    let odd = SecretBytes::new(vec![1; 20]);
    assert!(
        vault
            .create(KeyId::new_random(), version, Some(&odd))
            .is_err()
    );
    assert!(
        vault
            .protection(version.as_uuid().as_bytes())
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_destroyed_version_is_gone() {
    let Some(vault) = vault() else { return };
    let version = KeyVersionId::new_random();
    let reference = vault.create(KeyId::new_random(), version, None).unwrap();
    let cipher = vault.cipher(version, &reference).unwrap();
    let sealed = cipher.seal(b"", b"x").unwrap();
    vault.destroy(&reference).unwrap();
    assert!(vault.protection(&reference).unwrap().is_none());
    assert!(vault.cipher(version, &reference).is_err());
    // What it sealed opens no more, even through a handle taken before.
    assert!(cipher.open(b"", &sealed).is_err());
    // Destroying again is harmless (a purge that is retried).
    vault.destroy(&reference).unwrap();
}

/// Keys made, used and destroyed from many threads at once (a server creating keys for several
/// requests): every operation succeeds.
#[test]
fn versions_are_made_and_destroyed_from_many_threads_at_once() {
    let Some(vault) = vault() else { return };
    let vault = std::sync::Arc::new(vault);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let vault = std::sync::Arc::clone(&vault);
            std::thread::spawn(move || {
                for i in 0..12 {
                    let version = KeyVersionId::new_random();
                    let material = (i % 2 == 0).then(|| random_secret(32).unwrap());
                    let reference = vault
                        .create(KeyId::new_random(), version, material.as_ref())
                        .unwrap_or_else(|e| panic!("thread {t}, key {i}: {e:?}"));
                    let cipher = vault.cipher(version, &reference).unwrap();
                    let sealed = cipher.seal(b"aad", b"dek").unwrap();
                    assert_eq!(
                        cipher.open(b"aad", &sealed).unwrap().expose_secret(),
                        b"dek"
                    );
                    vault.destroy(&reference).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
