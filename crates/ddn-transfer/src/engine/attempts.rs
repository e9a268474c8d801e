//! The attempts of one operation (an upload, a presign call, a download): each failure is judged by
//! the [`RetryPolicy`], reported as [`TransferEvent::Retrying`] and waited out with its backoff,
//! until an attempt succeeds, the policy gives up, or the caller cancels.

use tokio_util::sync::CancellationToken;

use super::{EventSink, TransferEvent, sleep_or_cancel};
use crate::error::TransferError;
use crate::retry::RetryPolicy;

/// Counts the failed attempts of one operation and decides, after each, whether another is made.
pub(super) struct Attempts<'a> {
    policy: RetryPolicy,
    failed: u32,
    cancel: &'a CancellationToken,
    events: &'a dyn EventSink,
}

impl<'a> Attempts<'a> {
    /// No attempt made yet.
    pub(super) fn new(
        policy: RetryPolicy,
        cancel: &'a CancellationToken,
        events: &'a dyn EventSink,
    ) -> Self {
        Self {
            policy,
            failed: 0,
            cancel,
            events,
        }
    }

    /// Runs one attempt: answers its value, or `None` once its failure has been reported and the
    /// backoff waited out, when the policy tries again (the caller then makes the next attempt).
    /// Callers loop until `Some`: the attempt is a fresh future each time, free to borrow what it
    /// needs, rather than a closure called again (whose futures are not `Send` enough to spawn).
    ///
    /// # Errors
    /// The attempt's error when the policy does not retry it or the attempts are used up;
    /// [`TransferError::Cancelled`] when `cancel` fires during the backoff.
    pub(super) async fn attempt<T>(
        &mut self,
        attempt: impl Future<Output = Result<T, TransferError>>,
    ) -> Result<Option<T>, TransferError> {
        match attempt.await {
            Ok(value) => Ok(Some(value)),
            Err(error) => self.retry_after(error).await.map(|()| None),
        }
    }

    /// Counts one failed attempt. When the policy tries again, reports it, waits the backoff and
    /// answers `Ok`; otherwise answers `error` itself (or [`TransferError::Cancelled`] when
    /// `cancel` fires during the wait).
    pub(super) async fn retry_after(&mut self, error: TransferError) -> Result<(), TransferError> {
        let retried =
            |policy: &RetryPolicy, attempt, error: &TransferError| policy.retries(attempt, error);
        self.count_and_wait(error, retried).await
    }

    /// Counts one failed attempt whose remedy is to start the operation afresh, whatever the
    /// policy thinks of `error` itself: a download whose object was replaced meanwhile (S3's
    /// `412` to `If-Match`) starts over with a fresh answer. Reported and waited out like
    /// [`Self::retry_after`], while attempts remain.
    ///
    /// # Errors
    /// As [`Self::retry_after`].
    pub(super) async fn start_over_after(
        &mut self,
        error: TransferError,
    ) -> Result<(), TransferError> {
        let remain =
            |policy: &RetryPolicy, attempt, _: &TransferError| attempt < policy.max_attempts;
        self.count_and_wait(error, remain).await
    }

    /// Counts a failed attempt and, when `again` says so, reports it and waits the backoff.
    async fn count_and_wait(
        &mut self,
        error: TransferError,
        again: impl Fn(&RetryPolicy, u32, &TransferError) -> bool,
    ) -> Result<(), TransferError> {
        self.failed = self.failed.saturating_add(1);
        let attempt = self.failed;
        if !again(&self.policy, attempt, &error) {
            return Err(error);
        }
        let delay = self.policy.random_delay(attempt);
        tracing::info!(attempt, delay_ms = delay.as_millis() as u64, %error, "transfer attempt failed; retrying");
        self.events.send(TransferEvent::Retrying {
            attempt,
            delay,
            kind: error.kind(),
            reason: error.to_string(),
        });
        sleep_or_cancel(delay, self.cancel).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::error::ErrorKind;

    /// Three attempts in all, no time between them.
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        initial_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// The attempt number and kind of every `Retrying` event.
    #[derive(Default)]
    struct Retries(Mutex<Vec<(u32, ErrorKind)>>);

    impl EventSink for Retries {
        fn send(&self, event: TransferEvent) {
            if let TransferEvent::Retrying { attempt, kind, .. } = event {
                self.0.lock().unwrap().push((attempt, kind));
            }
        }
    }

    impl Retries {
        fn seen(&self) -> Vec<(u32, ErrorKind)> {
            self.0.lock().unwrap().clone()
        }
    }

    /// Runs attempts that fail with `failures` in turn, then succeed; answers the outcome and how
    /// many attempts were made.
    async fn run_failing(
        failures: Vec<TransferError>,
        cancel: &CancellationToken,
        events: &Retries,
    ) -> (Result<&'static str, TransferError>, usize) {
        let mut failures = failures.into_iter();
        let mut made = 0;
        let mut attempts = Attempts::new(POLICY, cancel, events);
        let outcome = loop {
            made += 1;
            let next = failures.next();
            match attempts
                .attempt(async { next.map_or(Ok("done"), Err) })
                .await
            {
                Ok(Some(value)) => break Ok(value),
                Ok(None) => {}
                Err(error) => break Err(error),
            }
        };
        (outcome, made)
    }

    #[tokio::test]
    async fn transient_failures_are_retried_and_reported() {
        let events = Retries::default();
        let failures = vec![TransferError::Connection, TransferError::Timeout];
        let (outcome, made) = run_failing(failures, &CancellationToken::new(), &events).await;
        assert_eq!(outcome.ok(), Some("done"));
        assert_eq!(made, 3);
        assert_eq!(
            events.seen(),
            [(1, ErrorKind::Connection), (2, ErrorKind::Timeout)]
        );
    }

    #[tokio::test]
    async fn the_last_failure_ends_it_when_the_attempts_are_used_up() {
        let events = Retries::default();
        let failures = (0..5).map(|_| TransferError::Service(503)).collect();
        let (outcome, made) = run_failing(failures, &CancellationToken::new(), &events).await;
        assert!(matches!(outcome, Err(TransferError::Service(503))));
        assert_eq!(made, 3);
        assert_eq!(events.seen().len(), 2, "the last failure is not a retry");
    }

    #[tokio::test]
    async fn a_final_failure_ends_it_at_once() {
        let events = Retries::default();
        let failures = vec![TransferError::ProcessingFailed("unreadable".into())];
        let (outcome, made) = run_failing(failures, &CancellationToken::new(), &events).await;
        assert!(matches!(outcome, Err(TransferError::ProcessingFailed(_))));
        assert_eq!(made, 1);
        assert!(events.seen().is_empty());
    }

    #[tokio::test]
    async fn a_changed_object_starts_over_while_attempts_remain() {
        let events = Retries::default();
        let cancel = CancellationToken::new();
        let mut attempts = Attempts::new(POLICY, &cancel, &events);
        let changed = || TransferError::Storage {
            status: 412,
            code: Some("PreconditionFailed".into()),
        };
        // Not a transient failure by itself, so `retry_after` gives up at once on it.
        assert!(!POLICY.retries(1, &changed()));
        assert!(attempts.start_over_after(changed()).await.is_ok());
        assert!(attempts.start_over_after(changed()).await.is_ok());
        let last = attempts.start_over_after(changed()).await;
        assert!(matches!(
            last,
            Err(TransferError::Storage { status: 412, .. })
        ));
        assert_eq!(
            events.seen(),
            [(1, ErrorKind::Storage), (2, ErrorKind::Storage)]
        );
    }

    #[tokio::test]
    async fn cancelling_ends_the_backoff() {
        let events = Retries::default();
        let cancel = CancellationToken::new();
        let patient = RetryPolicy {
            initial_delay: Duration::from_secs(3600),
            max_delay: Duration::from_secs(3600),
            ..POLICY
        };
        let mut attempts = Attempts::new(patient, &cancel, &events);
        cancel.cancel();
        let outcome = tokio::time::timeout(
            Duration::from_secs(10),
            attempts.retry_after(TransferError::Connection),
        )
        .await
        .expect("the backoff went on after cancelling");
        assert!(matches!(outcome, Err(TransferError::Cancelled)));
        assert_eq!(events.seen(), [(1, ErrorKind::Connection)]);
    }
}
