//! The audit log's writer: requests hand their events to one task per node, which appends
//! whatever has queued in one transaction (group commit) and then answers every request of the
//! batch. A request's answer waits for its event: if the event cannot be written, the request is
//! answered 503 and nothing it produced (a plaintext, a token, an acknowledgement) leaves.
//! After a batch, a checkpoint is signed when 1000 events or 60 s have passed since the last; a
//! quiet writer signs one over its last events once 60 s have passed, so no event stays
//! unsigned at the end of the chain for much longer than that.
//!
//! A request that changed something already wrote its provisional event in its change's own
//! transaction (`keyward_store::with_provisional`); its final event replaces that row in the
//! batch's transaction. Rows whose requests never got that far (the node stopped) are moved
//! into the chain as they are once they are older than the grace time, by whichever node looks
//! first (at start, then every quarter of the grace time).

use std::time::{Duration, Instant};

use keyward_crypto::SecretBytes;
use keyward_crypto::audit_chain::sign_checkpoint;
use keyward_store::{AuditAppender, AuditCheckpoint, NewAuditEvent, Store};
use tokio::sync::{mpsc, oneshot};

use super::event::AuditEvent;

/// Most events appended in one transaction.
const MAX_BATCH: usize = 512;
/// At most this many yields while a batch keeps growing.
const GATHER_ROUNDS: usize = 16;
/// Events waiting for the writer before requests wait to hand theirs over.
const QUEUE: usize = 16_384;

/// When a checkpoint is signed.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointPolicy {
    /// After this many events since the last checkpoint...
    pub every_events: u64,
    /// ...or this long.
    pub every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            every_events: 1000,
            every: Duration::from_secs(60),
        }
    }
}

struct Pending {
    event: NewAuditEvent,
    /// The pending rows of the request's changes, settled by this event.
    settled: Vec<i64>,
    done: oneshot::Sender<bool>,
}

/// The handle requests record through.
#[derive(Clone, Debug)]
pub struct AuditLog {
    queue: mpsc::Sender<Pending>,
}

impl AuditLog {
    /// Starts the writer for `store`, signing checkpoints with `key`; pending provisional
    /// events older than `pending_grace` are moved into the chain.
    pub fn start(
        store: Store,
        key: SecretBytes,
        policy: CheckpointPolicy,
        pending_grace: Duration,
    ) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, key, policy, pending_grace, rx));
        Self { queue }
    }

    /// Records `event` for `account`; `false` when it could not be written.
    pub async fn record(
        &self,
        account: Option<String>,
        at_millis: i64,
        event: &AuditEvent,
    ) -> bool {
        self.record_settling(account, at_millis, event, Vec::new())
            .await
    }

    /// Records `event`, the final event of a request whose changes wrote the pending rows
    /// `settled`, and deletes those rows in the same transaction.
    pub async fn record_settling(
        &self,
        account: Option<String>,
        at_millis: i64,
        event: &AuditEvent,
        settled: Vec<i64>,
    ) -> bool {
        let Ok(body) = serde_json::to_string(event) else {
            return false;
        };
        let (done, written) = oneshot::channel();
        let pending = Pending {
            event: NewAuditEvent {
                account,
                at_millis,
                body,
            },
            settled,
            done,
        };
        if self.queue.send(pending).await.is_err() {
            return false;
        }
        written.await.unwrap_or(false)
    }
}

async fn write_batches(
    store: Store,
    key: SecretBytes,
    policy: CheckpointPolicy,
    pending_grace: Duration,
    mut rx: mpsc::Receiver<Pending>,
) {
    let mut checkpoints = Checkpoints {
        store: store.clone(),
        key,
        policy,
        since: 0,
        last: Instant::now(),
        head: None,
    };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut chain = AuditAppender::new(store);
    let tick = (pending_grace / 4)
        .min(policy.every / 4)
        .max(Duration::from_millis(100));
    let mut idle = tokio::time::interval(tick);
    idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = rx.recv_many(&mut batch, MAX_BATCH) => {
                if received == 0 {
                    return;
                }
            }
            _ = idle.tick() => {
                let before = now_millis()
                    - i64::try_from(pending_grace.as_millis()).unwrap_or(i64::MAX);
                match chain.adopt_pending(before).await {
                    Ok((0, _)) => {}
                    Ok((n, head)) => {
                        tracing::warn!(events = n, "audit: moved provisional events whose final events were never recorded into the chain");
                        if let Some(head) = head {
                            checkpoints.appended(n as u64, head);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "audit: cannot move provisional events into the chain"),
                }
                // Quiet for a while: the last events get their checkpoint all the same.
                checkpoints.sign_if_due().await;
                continue;
            }
        }
        gather(&mut rx, &mut batch).await;
        let mut settled = Vec::new();
        let (events, waiters): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|p| {
                settled.extend(p.settled);
                (p.event, p.done)
            })
            .unzip();
        let written = match chain.append(&events, &settled).await {
            Ok(head) => {
                checkpoints.appended(events.len() as u64, head);
                checkpoints.sign_if_due().await;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, events = events.len(), "cannot write audit events; their requests are refused");
                false
            }
        };
        for waiter in waiters {
            let _ = waiter.send(written);
        }
    }
}

/// When this writer last signed a checkpoint, and what it appended since.
struct Checkpoints {
    store: Store,
    key: SecretBytes,
    policy: CheckpointPolicy,
    /// Events appended since the last checkpoint.
    since: u64,
    last: Instant,
    /// The chain's head after this writer's last append.
    head: Option<(i64, [u8; 32])>,
}

impl Checkpoints {
    fn appended(&mut self, events: u64, head: (i64, [u8; 32])) {
        self.since += events;
        self.head = Some(head);
    }

    /// Signs a checkpoint over the last head written when the policy says so.
    async fn sign_if_due(&mut self) {
        let Some((seq, hash)) = self.head else {
            return;
        };
        if self.since == 0
            || (self.since < self.policy.every_events && self.last.elapsed() < self.policy.every)
        {
            return;
        }
        let at_millis = now_millis();
        let checkpoint = AuditCheckpoint {
            seq,
            hash: hash.to_vec(),
            at_millis,
            signature: sign_checkpoint(&self.key, seq, &hash, at_millis),
        };
        match self.store.insert_audit_checkpoint(&checkpoint).await {
            Ok(()) => {
                self.since = 0;
                self.last = Instant::now();
            }
            Err(e) => tracing::error!(error = %e, "cannot write an audit checkpoint"),
        }
    }
}

/// Under load, lets the requests already running hand over their events before the batch is
/// written: one commit then answers many requests. Alone, a request waits one yield more.
async fn gather(rx: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>) {
    for _ in 0..GATHER_ROUNDS {
        tokio::task::yield_now().await;
        let before = batch.len();
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        if batch.len() == before || batch.len() >= MAX_BATCH {
            return;
        }
    }
}

/// Milliseconds since the epoch, now.
pub fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
