//! A bound on how many transfers run at once. Jobs may be added at any time; each waits for a
//! free place, in the order they asked for one.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Transfers at once when the caller does not say: enough to fill an ordinary uplink with S3's
/// per-connection limits, few enough not to starve each other.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// A queue that lets at most `concurrency` jobs run at once. Clones share the same places.
#[derive(Debug, Clone)]
pub struct TransferQueue {
    places: Arc<Semaphore>,
    concurrency: usize,
}

impl Default for TransferQueue {
    fn default() -> Self {
        Self::new(DEFAULT_CONCURRENCY)
    }
}

impl TransferQueue {
    /// A queue running at most `concurrency` jobs at once (at least one).
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            places: Arc::new(Semaphore::new(concurrency)),
            concurrency,
        }
    }

    /// How many jobs may run at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Runs `job` once a place is free, and frees the place when it ends (or is dropped).
    pub async fn run<F: Future>(&self, job: F) -> F::Output {
        let _place = self.place().await;
        job.await
    }

    /// Waits for a free place and holds it until the answer is dropped, for a caller that must
    /// choose what the place covers (the engine takes one for a transfer, none for a wait).
    pub async fn place(&self) -> Place {
        // The semaphore is never closed, so acquiring cannot fail; run anyway if it somehow does.
        Place {
            _permit: Arc::clone(&self.places).acquire_owned().await.ok(),
        }
    }
}

/// A place in a [`TransferQueue`], held until it is dropped.
#[derive(Debug)]
#[must_use = "the place is freed as soon as it is dropped"]
pub struct Place {
    _permit: Option<OwnedSemaphorePermit>,
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn no_more_than_the_limit_run_at_once() {
        let queue = TransferQueue::new(3);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs = (0..12).map(|i| {
            let queue = queue.clone();
            let running = Arc::clone(&running);
            let peak = Arc::clone(&peak);
            tokio::spawn(async move {
                queue
                    .run(async {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        i
                    })
                    .await
            })
        });
        let mut results = Vec::new();
        for job in jobs.collect::<Vec<_>>() {
            results.push(job.await.unwrap());
        }
        assert_eq!(results, (0..12).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_place_is_held_until_it_is_dropped() {
        let queue = TransferQueue::new(1);
        let place = queue.place().await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), queue.run(async {})).await;
        assert!(
            waiting.is_err(),
            "a second job ran while the only place was held"
        );
        drop(place);
        let ran = tokio::time::timeout(Duration::from_secs(5), queue.run(async { 7 })).await;
        assert_eq!(ran.ok(), Some(7));
    }

    #[test]
    fn a_zero_limit_still_runs_one() {
        assert_eq!(TransferQueue::new(0).concurrency(), 1);
    }
}
