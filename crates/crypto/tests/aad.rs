//! Property tests for the canonical AAD encoding.

use keyward_crypto::encode_aad;
use proptest::prelude::*;

fn parts() -> impl Strategy<Value = Vec<Vec<u8>>> {
    // Small alphabet and lengths so that near-collisions (re-splits) are common.
    proptest::collection::vec(proptest::collection::vec(0u8..3, 0..4), 0..4)
}

fn domain() -> impl Strategy<Value = String> {
    "[ab]{0,3}"
}

fn encode(domain: &str, parts: &[Vec<u8>]) -> Vec<u8> {
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    encode_aad(domain, &parts)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn injective(d1 in domain(), p1 in parts(), d2 in domain(), p2 in parts()) {
        let same_input = d1 == d2 && p1 == p2;
        prop_assert_eq!(same_input, encode(&d1, &p1) == encode(&d2, &p2));
    }

    #[test]
    fn resplitting_changes_encoding(joined in proptest::collection::vec(any::<u8>(), 0..16), at in any::<prop::sample::Index>()) {
        let at = at.index(joined.len() + 1);
        let (left, right) = joined.split_at(at);
        prop_assert_ne!(encode_aad("d", &[left, right]), encode_aad("d", &[&joined]));
    }

    #[test]
    fn decodes_back(d in domain(), p in parts()) {
        // The encoding is self-delimiting: parse it back and get the input.
        let bytes = encode(&d, &p);
        let mut rest = bytes.as_slice();
        let mut take = |n: usize| { let (head, tail) = rest.split_at(n); rest = tail; head.to_vec() };
        let read_len = |b: Vec<u8>| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize;
        let dlen = read_len(take(4));
        prop_assert_eq!(take(dlen), d.as_bytes().to_vec());
        let count = read_len(take(4));
        let mut decoded = Vec::new();
        for _ in 0..count {
            let len = read_len(take(4));
            decoded.push(take(len));
        }
        prop_assert!(rest.is_empty());
        prop_assert_eq!(decoded, p);
    }
}
