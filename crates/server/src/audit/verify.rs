//! Checking the audit trail offline: every event follows the one before it (numbers without
//! gaps, each hash the link of the previous hash, its number, time, account and text), and every checkpoint
//! names an event whose hash it carries and is signed by the checkpoint key.

use keyward_crypto::SecretBytes;
use keyward_crypto::audit_chain::{GENESIS, link, verify_checkpoint};
use keyward_store::Store;

/// What a whole check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Events checked.
    pub events: i64,
    /// Checkpoints checked.
    pub checkpoints: usize,
    /// Events after the last checkpoint (their removal from the end could not be detected).
    pub after_last_checkpoint: i64,
}

/// The first problem found.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    /// An event is missing, or the events are out of order.
    #[error("event {expected} is missing (the next event found is number {found})")]
    Missing {
        /// The number expected.
        expected: i64,
        /// The number found.
        found: i64,
    },
    /// An event's text, number or link was changed.
    #[error(
        "event {0} was altered: its hash does not follow from the event before it and its text"
    )]
    Altered(i64),
    /// A checkpoint names an event that does not exist or carries another hash.
    #[error("the checkpoint at event {0} does not match the events")]
    CheckpointMismatch(i64),
    /// A checkpoint's signature is not the checkpoint key's.
    #[error("the checkpoint at event {0} is not signed by this deployment's checkpoint key")]
    CheckpointForged(i64),
    /// The database could not be read.
    #[error("cannot read the audit trail: {0}")]
    Read(String),
}

/// Checks the whole trail in `store`.
pub async fn verify(store: &Store, key: &SecretBytes) -> Result<Verified, Broken> {
    let read = |e: keyward_store::StoreError| Broken::Read(e.to_string());
    let checkpoints = store.audit_checkpoints().await.map_err(read)?;
    let mut pending = checkpoints.iter().peekable();
    let (mut seq, mut prev) = (0i64, GENESIS);
    loop {
        let page = store.audit_events(None, seq, 1000).await.map_err(read)?;
        if page.is_empty() {
            break;
        }
        for row in page {
            if row.seq != seq + 1 {
                return Err(Broken::Missing {
                    expected: seq + 1,
                    found: row.seq,
                });
            }
            let hash = link(&prev, row.seq, &row.entry());
            if row.prev_hash != prev || row.hash != hash {
                return Err(Broken::Altered(row.seq));
            }
            while let Some(c) = pending.next_if(|c| c.seq <= row.seq) {
                if c.seq != row.seq || c.hash != hash {
                    return Err(Broken::CheckpointMismatch(c.seq));
                }
                if !verify_checkpoint(key, c.seq, &hash, c.at_millis, &c.signature) {
                    return Err(Broken::CheckpointForged(c.seq));
                }
            }
            (seq, prev) = (row.seq, hash);
        }
    }
    if let Some(c) = pending.next() {
        return Err(Broken::CheckpointMismatch(c.seq));
    }
    let last_checkpoint = checkpoints.last().map_or(0, |c| c.seq);
    Ok(Verified {
        events: seq,
        checkpoints: checkpoints.len(),
        after_last_checkpoint: seq - last_checkpoint,
    })
}
