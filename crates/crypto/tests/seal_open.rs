//! Property tests for the sealed ciphertext format: round trips, tamper
//! detection, AAD binding, key and key-version binding, truncation.

use keyward_crypto::{AeadKey, CryptoError, OVERHEAD, encode_aad, open, peek_key_version, seal};
use proptest::prelude::*;
use uuid::Uuid;

fn key_material() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![Just(16usize), Just(24), Just(32)]
        .prop_flat_map(|len| proptest::collection::vec(any::<u8>(), len))
}

fn key_version() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn aead_key(material: &[u8]) -> AeadKey {
    AeadKey::new(material).expect("strategy only yields 16, 24 or 32 bytes")
}

fn is_decrypt_error<T>(result: Result<T, CryptoError>) -> bool {
    matches!(result, Err(CryptoError::Decrypt))
}

proptest! {
    #[test]
    fn round_trip(
        material in key_material(),
        kv in key_version(),
        aad in proptest::collection::vec(any::<u8>(), 0..512),
        plaintext in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let key = aead_key(&material);
        let ct = seal(&key, kv, &aad, &plaintext).expect("seal works");
        prop_assert_eq!(ct.len(), plaintext.len() + OVERHEAD);
        prop_assert_eq!(peek_key_version(&ct).expect("well formed"), kv);
        let opened = open(&key, kv, &aad, &ct).expect("round trip");
        prop_assert_eq!(opened.expose_secret(), plaintext.as_slice());
    }

    #[test]
    fn sealing_twice_differs(
        material in key_material(),
        kv in key_version(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let key = aead_key(&material);
        let a = seal(&key, kv, b"", &plaintext).expect("seal works");
        let b = seal(&key, kv, b"", &plaintext).expect("seal works");
        prop_assert_ne!(a, b, "random nonces must make ciphertexts differ");
    }
}

proptest! {
    // Each case opens (len * 8) ciphertexts; keep the case count modest.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn every_flipped_bit_is_rejected(
        material in key_material(),
        kv in key_version(),
        aad in proptest::collection::vec(any::<u8>(), 0..32),
        plaintext in proptest::collection::vec(any::<u8>(), 0..48),
    ) {
        let key = aead_key(&material);
        let ct = seal(&key, kv, &aad, &plaintext).expect("seal works");
        let mut tampered = ct.clone();
        for byte in 0..ct.len() {
            for bit in 0..8 {
                tampered[byte] ^= 1 << bit;
                prop_assert!(
                    is_decrypt_error(open(&key, kv, &aad, &tampered)),
                    "flipping bit {} of byte {} was not detected", bit, byte
                );
                tampered[byte] ^= 1 << bit;
            }
        }
        prop_assert_eq!(&tampered, &ct);
    }

    #[test]
    fn every_truncation_is_rejected(
        material in key_material(),
        kv in key_version(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let key = aead_key(&material);
        let ct = seal(&key, kv, b"aad", &plaintext).expect("seal works");
        for len in 0..ct.len() {
            prop_assert!(
                is_decrypt_error(open(&key, kv, b"aad", &ct[..len])),
                "truncation to {} bytes was not detected", len
            );
        }
    }
}

proptest! {
    #[test]
    fn wrong_aad_is_rejected(
        material in key_material(),
        kv in key_version(),
        aad in proptest::collection::vec(any::<u8>(), 0..64),
        other in proptest::collection::vec(any::<u8>(), 0..64),
        plaintext in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        prop_assume!(aad != other);
        let key = aead_key(&material);
        let ct = seal(&key, kv, &aad, &plaintext).expect("seal works");
        prop_assert!(is_decrypt_error(open(&key, kv, &other, &ct)));
    }

    #[test]
    fn reordered_aad_parts_are_rejected(
        material in key_material(),
        kv in key_version(),
        a in proptest::collection::vec(any::<u8>(), 0..16),
        b in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        prop_assume!(a != b);
        let key = aead_key(&material);
        let sealed_aad = encode_aad("keyward/test", &[&a, &b]);
        let swapped_aad = encode_aad("keyward/test", &[&b, &a]);
        let ct = seal(&key, kv, &sealed_aad, b"dek").expect("seal works");
        prop_assert!(is_decrypt_error(open(&key, kv, &swapped_aad, &ct)));
    }

    #[test]
    fn resplit_aad_parts_are_rejected(
        material in key_material(),
        kv in key_version(),
        joined in proptest::collection::vec(any::<u8>(), 1..32),
        split in any::<prop::sample::Index>(),
    ) {
        let key = aead_key(&material);
        let at = split.index(joined.len());
        let (left, right) = joined.split_at(at);
        let sealed_aad = encode_aad("keyward/test", &[left, right]);
        let ct = seal(&key, kv, &sealed_aad, b"dek").expect("seal works");
        let whole = encode_aad("keyward/test", &[&joined]);
        prop_assert!(is_decrypt_error(open(&key, kv, &whole, &ct)));
        if at > 0 {
            let (l2, r2) = joined.split_at(at - 1);
            let shifted = encode_aad("keyward/test", &[l2, r2]);
            prop_assert!(is_decrypt_error(open(&key, kv, &shifted, &ct)));
        }
    }

    #[test]
    fn aad_moved_to_another_domain_is_rejected(
        material in key_material(),
        kv in key_version(),
        parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..16), 0..4),
    ) {
        let key = aead_key(&material);
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let ct = seal(&key, kv, &encode_aad("keyward/kms", &parts), b"dek").expect("seal works");
        let moved = encode_aad("keyward/secrets", &parts);
        prop_assert!(is_decrypt_error(open(&key, kv, &moved, &ct)));
    }

    #[test]
    fn another_key_is_rejected(
        material in key_material(),
        other_material in key_material(),
        kv in key_version(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        prop_assume!(material != other_material);
        let key = aead_key(&material);
        let other = aead_key(&other_material);
        let ct = seal(&key, kv, b"aad", &plaintext).expect("seal works");
        prop_assert!(is_decrypt_error(open(&other, kv, b"aad", &ct)));
    }

    #[test]
    fn key_version_mismatch_is_rejected(
        material in key_material(),
        kv in key_version(),
        other_kv in key_version(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        prop_assume!(kv != other_kv);
        let key = aead_key(&material);
        let ct = seal(&key, kv, b"aad", &plaintext).expect("seal works");
        // Argument does not match the header.
        prop_assert!(is_decrypt_error(open(&key, other_kv, b"aad", &ct)));
        // Header rewritten to match the argument: the header is authenticated.
        let mut relabelled = ct.clone();
        relabelled[1..17].copy_from_slice(other_kv.as_bytes());
        prop_assert_eq!(peek_key_version(&relabelled).expect("still well formed"), other_kv);
        prop_assert!(is_decrypt_error(open(&key, other_kv, b"aad", &relabelled)));
    }

    #[test]
    fn unknown_format_version_is_rejected(
        material in key_material(),
        kv in key_version(),
        version in any::<u8>(),
    ) {
        prop_assume!(version != keyward_crypto::FORMAT_V1);
        let key = aead_key(&material);
        let mut ct = seal(&key, kv, b"", b"dek").expect("seal works");
        ct[0] = version;
        prop_assert!(matches!(peek_key_version(&ct), Err(CryptoError::Malformed)));
        prop_assert!(is_decrypt_error(open(&key, kv, b"", &ct)));
    }

    #[test]
    fn garbage_is_rejected(
        material in key_material(),
        kv in key_version(),
        garbage in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let key = aead_key(&material);
        prop_assert!(is_decrypt_error(open(&key, kv, b"", &garbage)));
    }
}
