//! The audit trail's hash chain and signed checkpoints. Event `n` is linked to everything before
//! it: `hash(n) = SHA-256(domain ‖ hash(n−1) ‖ n ‖ time(n) ‖ account(n) ‖ body(n))`, with 32
//! zero bytes before the first event, so none of what a row says (not even which account may read
//! it) can change unseen. A checkpoint is an HMAC-SHA-256, under a key held sealed by the master key, over the
//! number and hash of the last event it covers and the time it was made; it shows that the chain
//! up to there was written by a holder of that key.

use aws_lc_rs::{digest, hmac};

use crate::secret::SecretBytes;

/// The hash before the first event.
pub const GENESIS: [u8; 32] = [0; 32];

const CHAIN_DOMAIN: &[u8] = b"keyward.audit.chain.v1\0";
const CHECKPOINT_DOMAIN: &[u8] = b"keyward.audit.checkpoint.v1\0";

/// What one event of the chain says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainEntry<'a> {
    /// The account whose administrators may read it, if any.
    pub account: Option<&'a str>,
    /// When it happened, milliseconds since the epoch.
    pub at_millis: i64,
    /// Its text.
    pub body: &'a [u8],
}

/// The hash of event `seq` saying `entry`, after the event whose hash is `prev`.
pub fn link(prev: &[u8; 32], seq: i64, entry: &ChainEntry<'_>) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(CHAIN_DOMAIN);
    ctx.update(prev);
    ctx.update(&seq.to_be_bytes());
    ctx.update(&entry.at_millis.to_be_bytes());
    match entry.account {
        // Length-prefixed, so the account and the body cannot trade bytes.
        Some(account) => {
            ctx.update(&[1]);
            ctx.update(&(account.len() as u64).to_be_bytes());
            ctx.update(account.as_bytes());
        }
        None => ctx.update(&[0]),
    }
    ctx.update(entry.body);
    let mut out = [0; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn checkpoint_message(seq: i64, hash: &[u8; 32], at_millis: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_DOMAIN.len() + 48);
    m.extend_from_slice(CHECKPOINT_DOMAIN);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m.extend_from_slice(&at_millis.to_be_bytes());
    m
}

/// The signature of a checkpoint at event `seq` (chain hash `hash`) made at `at_millis`.
pub fn sign_checkpoint(key: &SecretBytes, seq: i64, hash: &[u8; 32], at_millis: i64) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.expose_secret());
    hmac::sign(&key, &checkpoint_message(seq, hash, at_millis))
        .as_ref()
        .to_vec()
}

/// Whether `signature` is the checkpoint's (compared in constant time).
pub fn verify_checkpoint(
    key: &SecretBytes,
    seq: i64,
    hash: &[u8; 32],
    at_millis: i64,
    signature: &[u8],
) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.expose_secret());
    hmac::verify(&key, &checkpoint_message(seq, hash, at_millis), signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: ChainEntry<'static> = ChainEntry {
        account: Some("a1"),
        at_millis: 1000,
        body: b"event",
    };

    #[test]
    fn every_input_of_a_link_changes_it() {
        let base = link(&GENESIS, 1, &ENTRY);
        assert_ne!(base, link(&[1; 32], 1, &ENTRY));
        assert_ne!(base, link(&GENESIS, 2, &ENTRY));
        for other in [
            ChainEntry {
                body: b"evenT",
                ..ENTRY
            },
            ChainEntry {
                at_millis: 1001,
                ..ENTRY
            },
            ChainEntry {
                account: Some("a2"),
                ..ENTRY
            },
            ChainEntry {
                account: None,
                ..ENTRY
            },
            ChainEntry {
                account: Some(""),
                ..ENTRY
            },
            ChainEntry {
                account: Some("a1e"),
                body: b"vent",
                ..ENTRY
            },
        ] {
            assert_ne!(base, link(&GENESIS, 1, &other), "{other:?}");
        }
        assert_eq!(base, link(&GENESIS, 1, &ENTRY));
    }

    #[test]
    fn a_checkpoint_verifies_only_as_signed() {
        let key = SecretBytes::new(vec![7; 32]);
        let hash = link(&GENESIS, 1, &ENTRY);
        let sig = sign_checkpoint(&key, 1, &hash, 1000);
        assert!(verify_checkpoint(&key, 1, &hash, 1000, &sig));
        assert!(!verify_checkpoint(&key, 2, &hash, 1000, &sig));
        assert!(!verify_checkpoint(&key, 1, &GENESIS, 1000, &sig));
        assert!(!verify_checkpoint(&key, 1, &hash, 1001, &sig));
        let other = SecretBytes::new(vec![8; 32]);
        assert!(!verify_checkpoint(&other, 1, &hash, 1000, &sig));
    }
}
