//! When to try again: exponential backoff with full jitter, a bounded number of attempts.

use std::time::Duration;

use crate::error::TransferError;

/// How failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The backoff ceiling before the first retry.
    pub initial_delay: Duration,
    /// The largest backoff ceiling.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Whether attempt number `attempt` (1-based), failed with `error`, is followed by another:
    /// the failure is transient ([`TransferError::is_retryable`]) or an expired URL (the next
    /// attempt asks for a fresh one), and [`Self::max_attempts`] are not used up.
    pub fn retries(&self, attempt: u32, error: &TransferError) -> bool {
        (error.is_retryable() || error.is_expired_url()) && attempt < self.max_attempts
    }

    /// The backoff ceiling after failed attempt number `attempt` (1-based): it doubles each time,
    /// up to [`Self::max_delay`].
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.initial_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    /// The wait before the next attempt: a uniformly random point below the ceiling ("full
    /// jitter"), so that many clients failing together do not retry together. `unit` is a random
    /// number in `[0, 1)`, passed in so tests can choose it.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        self.ceiling(attempt).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait before the next attempt, with fresh randomness.
    pub fn random_delay(&self, attempt: u32) -> Duration {
        self.delay(attempt, fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_up_to_the_maximum() {
        let policy = RetryPolicy::default();
        let ceilings: Vec<u64> = (1..=8)
            .map(|a| policy.ceiling(a).as_millis() as u64)
            .collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000]);
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_secs(20));
    }

    #[test]
    fn transient_failures_and_expired_urls_are_retried_while_attempts_remain() {
        let policy = RetryPolicy::default();
        let expired = TransferError::Storage {
            status: 403,
            code: Some("AccessDenied".into()),
        };
        for error in [TransferError::Connection, expired] {
            assert!(policy.retries(1, &error), "{error:?}");
            assert!(policy.retries(5, &error), "{error:?}");
            assert!(!policy.retries(6, &error), "{error:?}");
        }
        for error in [TransferError::Unauthorized, TransferError::Cancelled] {
            assert!(!policy.retries(1, &error), "{error:?}");
        }
    }

    #[test]
    fn jitter_stays_below_the_ceiling() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(3, 0.0), Duration::ZERO);
        assert_eq!(policy.delay(3, 0.5), Duration::from_secs(1));
        assert_eq!(policy.delay(3, 7.0), Duration::from_secs(2));
        for _ in 0..100 {
            assert!(policy.random_delay(2) < Duration::from_secs(1));
        }
    }
}
