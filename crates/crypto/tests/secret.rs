//! Tests for secret handling: redacting `Debug`, constant-time equality.

use keyward_crypto::{SecretBytes, ct_eq, random_secret};
use proptest::prelude::*;

proptest! {
    #[test]
    fn debug_never_contains_the_bytes(bytes in proptest::collection::vec(any::<u8>(), 1..64)) {
        let secret = SecretBytes::from_slice(&bytes);
        let shown = format!("{secret:?}");
        let pretty = format!("{secret:#?}");
        prop_assert_eq!(&shown, &format!("SecretBytes([REDACTED; {} bytes])", bytes.len()));
        prop_assert_eq!(&pretty, &shown);
        // Neither the decimal list nor the hex form of the bytes appears.
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let listed = format!("{bytes:?}");
        prop_assert!(!shown.contains(&listed));
        prop_assert!(bytes.len() < 4 || !shown.contains(&hex));
    }

    #[test]
    fn ct_eq_matches_slice_equality(
        a in proptest::collection::vec(0u8..4, 0..8),
        b in proptest::collection::vec(0u8..4, 0..8),
    ) {
        prop_assert_eq!(ct_eq(&a, &b), a == b);
        prop_assert!(ct_eq(&a, &a));
        prop_assert_eq!(SecretBytes::from_slice(&a).ct_eq(&b), a == b);
    }
}

#[test]
fn ct_eq_edge_cases() {
    assert!(ct_eq(b"", b""));
    assert!(!ct_eq(b"", b"\0"));
    assert!(!ct_eq(b"abc", b"abcd"), "prefix must not compare equal");
    assert!(!ct_eq(b"abcd", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(ct_eq(b"abc", b"abc"));
}

#[test]
fn random_secret_debug_is_redacted() {
    let secret = random_secret(32).expect("rng works in tests");
    assert_eq!(format!("{secret:?}"), "SecretBytes([REDACTED; 32 bytes])");
}
