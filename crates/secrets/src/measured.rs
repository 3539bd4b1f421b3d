//! A key provider whose calls are counted and timed, per operation, for metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::error::ProviderError;
use crate::model::{RootKey, TenantId};
use crate::provider::{KeyProvider, NewDek, OpenedDek, WrappedDek};

/// The operations of a key provider, as metrics name them.
pub const OPERATIONS: [&str; 5] = [
    "generate_dek",
    "unwrap_dek",
    "check_key",
    "register",
    "deregister",
];

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    errors: AtomicU64,
    micros: AtomicU64,
}

/// Calls, failures and time spent per operation since the process started.
#[derive(Default)]
pub struct ProviderStats {
    counters: [Counters; OPERATIONS.len()],
}

/// One operation's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OperationStats {
    /// The operation's name (one of [`OPERATIONS`]).
    pub operation: &'static str,
    /// Calls made.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Seconds spent in them.
    pub seconds: f64,
}

impl ProviderStats {
    fn record(&self, operation: usize, ok: bool, started: Instant) {
        let c = &self.counters[operation];
        c.calls.fetch_add(1, Ordering::Relaxed);
        if !ok {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        c.micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Every operation's figures.
    pub fn snapshot(&self) -> Vec<OperationStats> {
        OPERATIONS
            .iter()
            .zip(&self.counters)
            .map(|(operation, c)| OperationStats {
                operation,
                calls: c.calls.load(Ordering::Relaxed),
                errors: c.errors.load(Ordering::Relaxed),
                seconds: c.micros.load(Ordering::Relaxed) as f64 / 1e6,
            })
            .collect()
    }
}

/// `inner`, with its calls counted in [`Measured::stats`].
pub struct Measured<P> {
    inner: P,
    stats: Arc<ProviderStats>,
}

impl<P> Measured<P> {
    /// Counts the calls of `inner`.
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            stats: Arc::default(),
        }
    }

    /// The figures, shared.
    pub fn stats(&self) -> Arc<ProviderStats> {
        Arc::clone(&self.stats)
    }
}

impl<P: KeyProvider> KeyProvider for Measured<P> {
    async fn generate_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
    ) -> Result<NewDek, ProviderError> {
        let started = Instant::now();
        let out = self.inner.generate_dek(root, tenant).await;
        self.stats.record(0, out.is_ok(), started);
        out
    }

    async fn unwrap_dek(
        &self,
        root: &RootKey,
        tenant: TenantId,
        wrapped: WrappedDek<'_>,
    ) -> Result<OpenedDek, ProviderError> {
        let started = Instant::now();
        let out = self.inner.unwrap_dek(root, tenant, wrapped).await;
        self.stats.record(1, out.is_ok(), started);
        out
    }

    async fn check_key(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let started = Instant::now();
        let out = self.inner.check_key(root, tenant).await;
        self.stats.record(2, out.is_ok(), started);
        out
    }

    async fn register(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let started = Instant::now();
        let out = self.inner.register(root, tenant).await;
        self.stats.record(3, out.is_ok(), started);
        out
    }

    fn polled(&self, root: &RootKey) -> bool {
        self.inner.polled(root)
    }

    async fn deregister(&self, root: &RootKey, tenant: TenantId) -> Result<(), ProviderError> {
        let started = Instant::now();
        let out = self.inner.deregister(root, tenant).await;
        self.stats.record(4, out.is_ok(), started);
        out
    }
}
