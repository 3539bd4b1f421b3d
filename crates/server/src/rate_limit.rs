//! Token-bucket rate limits: per principal for every authenticated request, per client address
//! for `/identity/token`. A refused request is answered 429 with `Retry-After`.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A sustained rate with a burst allowance; `per_second` 0 means unlimited.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// Requests allowed at once after a quiet period.
    pub burst: f64,
}

impl Rate {
    /// No limit.
    pub const UNLIMITED: Self = Self {
        per_second: 0.0,
        burst: 0.0,
    };

    /// `per_second` sustained with bursts of twice that.
    pub fn per_second(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: f64::from(per_second) * 2.0,
        }
    }

    fn unlimited(&self) -> bool {
        self.per_second <= 0.0
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

const SHARDS: usize = 16;
/// Buckets per shard before idle (full) ones are dropped.
const SHARD_CAPACITY: usize = 16_384;

/// Buckets by key, sharded so that concurrent callers rarely wait for one another.
pub struct RateLimiter {
    rate: Rate,
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
}

impl RateLimiter {
    /// A limiter of `rate` per key.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Takes one request from `key`'s bucket; `Err` with the wait before the next one is
    /// allowed.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        if self.rate.unlimited() {
            return Ok(());
        }
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let shard = &self.shards[(hasher.finish() as usize) % SHARDS];
        let mut buckets = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if buckets.len() >= SHARD_CAPACITY && !buckets.contains_key(key) {
            let (rate, burst) = (self.rate.per_second, self.rate.burst);
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst
            });
        }
        // Look up before inserting, so that the common case does not allocate the key.
        if !buckets.contains_key(key) {
            buckets.insert(
                key.to_owned(),
                Bucket {
                    tokens: self.rate.burst,
                    updated: now,
                },
            );
        }
        let Some(bucket) = buckets.get_mut(key) else {
            return Ok(());
        };
        let refill = now.duration_since(bucket.updated).as_secs_f64() * self.rate.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.rate.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate.per_second;
            Err(Duration::from_secs_f64(wait.max(0.001)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_sustained_rate() {
        let limiter = RateLimiter::new(Rate {
            per_second: 10.0,
            burst: 5.0,
        });
        for _ in 0..5 {
            assert!(limiter.check("a").is_ok());
        }
        let wait = limiter.check("a").err();
        assert!(
            wait.is_some_and(|w| w <= Duration::from_millis(110)),
            "{wait:?}"
        );
        // Another key has its own bucket.
        assert!(limiter.check("b").is_ok());
        std::thread::sleep(Duration::from_millis(120));
        assert!(limiter.check("a").is_ok());
    }

    #[test]
    fn unlimited_never_refuses() {
        let limiter = RateLimiter::new(Rate::UNLIMITED);
        for _ in 0..10_000 {
            assert!(limiter.check("a").is_ok());
        }
    }
}
