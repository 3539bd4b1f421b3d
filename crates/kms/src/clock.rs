//! The injected clock: every time rule (30-second waits, one rotation per hour, restore and purge
//! windows, token expiry) reads it, so tests move time instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The system clock plus an offset that only moves forward: used by tests, and by
/// `serve --unsafe-test-clock` so that black-box suites can cross the time windows.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_millis: AtomicI64,
}

impl OffsetClock {
    /// A clock that starts at the system time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.whole_milliseconds()).unwrap_or(i64::MAX);
        self.offset_millis
            .fetch_add(millis.max(0), Ordering::Relaxed);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + Duration::milliseconds(self.offset_millis.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_clock_moves_forward_only() {
        let clock = OffsetClock::new();
        let before = clock.now();
        clock.advance(Duration::hours(4));
        clock.advance(Duration::seconds(-100));
        let after = clock.now();
        assert!(after - before >= Duration::hours(4));
        assert!(after - before < Duration::hours(4) + Duration::seconds(5));
    }
}
