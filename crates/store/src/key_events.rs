//! Key events after they commit: each is handed to the subscribers of this process at once, and,
//! on PostgreSQL, announced with `NOTIFY keyward_key_events` so that every other node's listener
//! hands it to its own subscribers. A listener that loses its connection reconnects and reads
//! what it missed from the `key_events` table.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use keyward_kms::{InstanceId, KeyEvent, KeyEventKind, KeyId, KeyStore};
use sqlx::postgres::PgListener;

use crate::db::{Db, Store};
use crate::timestamp::{from_millis, to_millis};

/// The notification channel.
pub(crate) const CHANNEL: &str = "keyward_key_events";

/// What a subscriber runs for each event: cheap and non-blocking (cache invalidation).
pub type KeyEventCallback = Arc<dyn Fn(&KeyEvent) + Send + Sync>;

/// The subscribers of this process.
#[derive(Default)]
pub struct KeyEventHub {
    subscribers: RwLock<Vec<KeyEventCallback>>,
    /// The highest event number handed on (events are idempotent to subscribers, but a
    /// resynchronisation need not repeat what a notification already brought).
    seen: AtomicI64,
}

impl KeyEventHub {
    pub(crate) fn subscribe(&self, callback: KeyEventCallback) {
        self.subscribers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(callback);
    }

    pub(crate) fn publish(&self, event: &KeyEvent) {
        self.seen.fetch_max(event.id, Ordering::AcqRel);
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for subscriber in subscribers {
            subscriber(event);
        }
    }

    fn seen(&self) -> i64 {
        self.seen.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for KeyEventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEventHub")
            .field("seen", &self.seen())
            .finish_non_exhaustive()
    }
}

/// The notification payload: `namespace id key instance kind at-millis`.
pub(crate) fn payload(namespace: &str, e: &KeyEvent) -> String {
    format!(
        "{namespace} {} {} {} {} {}",
        e.id,
        e.key,
        e.instance,
        e.kind.as_str(),
        to_millis(e.at)
    )
}

/// The event of a payload of `namespace`.
pub(crate) fn parse_payload(namespace: &str, s: &str) -> Option<KeyEvent> {
    let mut parts = s.split(' ');
    if parts.next()? != namespace {
        return None;
    }
    let id = parts.next()?.parse().ok()?;
    let key = parts.next()?.parse::<KeyId>().ok()?;
    let instance = parts.next()?.parse::<InstanceId>().ok()?;
    let kind = KeyEventKind::parse(parts.next()?)?;
    let at = from_millis(parts.next()?.parse().ok()?);
    Some(KeyEvent {
        id,
        key,
        instance,
        kind,
        at,
    })
}

impl Store {
    /// Runs `callback` for every key event from now on: this process's at once, other nodes'
    /// once [`Store::listen_for_key_events`] runs (PostgreSQL).
    pub fn on_key_event(&self, callback: KeyEventCallback) {
        self.events.subscribe(callback);
    }

    /// On PostgreSQL, starts the task that receives other nodes' key events (reconnecting and
    /// catching up from the table after a lost connection); `false` on SQLite (one node).
    pub fn listen_for_key_events(&self) -> bool {
        let Db::Pg(pool) = &self.db else {
            return false;
        };
        let (pool, store) = (pool.clone(), self.clone());
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if listener.listen(CHANNEL).await.is_ok() {
                            backoff = Duration::from_millis(100);
                            // Anything committed while no listener ran.
                            store.catch_up().await;
                            loop {
                                match listener.try_recv().await {
                                    Ok(Some(n)) => {
                                        if let Some(event) =
                                            parse_payload(&store.namespace, n.payload())
                                        {
                                            store.events.publish(&event);
                                        }
                                    }
                                    // The connection was lost: catch up once it is back.
                                    Ok(None) => store.catch_up().await,
                                    Err(e) => {
                                        tracing::warn!(error = %e, "key event listener failed; reconnecting");
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for key events; retrying");
                    }
                }
                if pool.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        true
    }

    /// Hands on every event after the last one seen.
    async fn catch_up(&self) {
        loop {
            let after = self.events.seen();
            match self.key_events_after(after, 1000).await {
                Ok(events) => {
                    for e in &events {
                        self.events.publish(e);
                    }
                    if events.len() < 1000 {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read missed key events");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let e = KeyEvent {
            id: 42,
            key: KeyId::new_random(),
            instance: InstanceId::new_random(),
            kind: KeyEventKind::Disabled,
            at: from_millis(1_700_000_000_123),
        };
        assert_eq!(parse_payload("s1", &payload("s1", &e)), Some(e));
        assert_eq!(parse_payload("s2", &payload("s1", &e)), None);
        assert_eq!(parse_payload("s1", "garbage"), None);
    }
}
