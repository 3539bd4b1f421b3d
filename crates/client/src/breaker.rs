//! A circuit breaker per client: after `open_after` calls in a row found the service unreachable
//! (every attempt refused, reset, timed out, or answered 429/5xx), calls are refused at once for
//! `cooldown` instead of each waiting out its own retries. Then one call probes: its success
//! closes the circuit, its failure opens it again for another `cooldown`.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// When the circuit opens, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct BreakerPolicy {
    /// Calls in a row that found the service unreachable before it opens (0: never opens).
    pub open_after: u32,
    /// How long calls are refused once it is open.
    pub cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            open_after: 3,
            cooldown: Duration::from_secs(10),
        }
    }
}

enum State {
    /// Calls go ahead; `failures` in a row so far.
    Closed { failures: u32 },
    /// Calls are refused until `until`.
    Open { until: Instant },
    /// One call probes since `since`; the others are refused meanwhile (a probe that never
    /// reports, its caller gone, is replaced after a cooldown).
    Probing { since: Instant },
}

/// A call refused by an open circuit.
pub(crate) struct Refused {
    /// How long until a call may probe.
    pub wait: Duration,
    /// What the calls that opened it met.
    pub cause: String,
}

pub(crate) struct Breaker {
    policy: BreakerPolicy,
    state: Mutex<(State, String)>,
}

impl Breaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            state: Mutex::new((State::Closed { failures: 0 }, String::new())),
        }
    }

    /// When it opens, and for how long.
    pub fn policy(&self) -> BreakerPolicy {
        self.policy
    }

    /// Whether a call may go ahead now.
    pub fn admit(&self) -> Result<(), Refused> {
        let now = Instant::now();
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (state, cause) = &mut *guard;
        match state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now < *until => Err(Refused {
                wait: *until - now,
                cause: cause.clone(),
            }),
            State::Probing { since } if now < *since + self.policy.cooldown => Err(Refused {
                wait: Duration::ZERO,
                cause: cause.clone(),
            }),
            State::Open { .. } | State::Probing { .. } => {
                *state = State::Probing { since: now };
                Ok(())
            }
        }
    }

    /// How an admitted call ended: `Some(cause)` when it found the service unreachable.
    pub fn record(&self, unreachable: Option<&str>) {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (state, cause) = &mut *guard;
        match unreachable {
            None => *state = State::Closed { failures: 0 },
            Some(why) => {
                *cause = why.to_owned();
                let failures = match state {
                    State::Closed { failures } => *failures + 1,
                    // A failed probe opens the circuit again at once.
                    State::Open { .. } | State::Probing { .. } => self.policy.open_after,
                };
                *state = if self.policy.open_after > 0 && failures >= self.policy.open_after {
                    State::Open {
                        until: Instant::now() + self.policy.cooldown,
                    }
                } else {
                    State::Closed { failures }
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(cooldown_ms: u64) -> Breaker {
        Breaker::new(BreakerPolicy {
            open_after: 2,
            cooldown: Duration::from_millis(cooldown_ms),
        })
    }

    #[test]
    fn opens_after_failures_in_a_row_and_a_success_resets_the_count() {
        let b = breaker(60_000);
        b.record(Some("HTTP 503"));
        b.record(None);
        b.record(Some("HTTP 503"));
        assert!(b.admit().is_ok(), "one failure since the last success");
        b.record(Some("timed out"));
        let refused = b.admit().expect_err("open");
        assert_eq!(refused.cause, "timed out");
        assert!(refused.wait > Duration::from_secs(59));
    }

    #[test]
    fn after_the_cooldown_one_call_probes_and_decides() {
        let b = breaker(20);
        b.record(Some("refused"));
        b.record(Some("refused"));
        assert!(b.admit().is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.admit().is_ok(), "the probe");
        assert!(b.admit().is_err(), "others wait for the probe");
        b.record(Some("refused"));
        assert!(b.admit().is_err(), "a failed probe opens it again");
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.admit().is_ok());
        b.record(None);
        assert!(b.admit().is_ok() && b.admit().is_ok(), "closed again");
    }

    #[test]
    fn a_probe_whose_caller_went_away_is_replaced() {
        let b = breaker(20);
        b.record(Some("refused"));
        b.record(Some("refused"));
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.admit().is_ok());
        // Its caller never reports.
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.admit().is_ok(), "another probe");
    }
}
