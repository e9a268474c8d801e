//! Uploads, waits for results and downloads, with retries, progress and cancellation.
//!
//! Invariants:
//! - an upload always sends `Content-Length` and every header the presign answer lists, and streams
//!   the file in large reads, so memory stays flat whatever the file size;
//! - a download is written to a `.part` file, checked (length, and the whole-object checksum the
//!   service names), flushed to disk, and only then given its final name, which never replaces an
//!   existing file (all of which `part_file.rs` holds);
//! - a result is asked for as the result of one upload ([`ResultOf`]), so a result left by an
//!   earlier upload of the same name is never taken for it;
//! - every retry asks the service for a fresh URL, so an expired URL is simply replaced;
//! - an engine given a [`TransferQueue`] ([`Engine::with_queue`]) holds one of its places for each
//!   upload and each download, and none while it waits for a result, so slow results never keep
//!   other files from moving.
//!
//! The parts: [`upload`](Engine::upload) in `upload.rs`,
//! [`wait_for_result`](Engine::wait_for_result) in `wait.rs`, [`download`](Engine::download) in
//! `download.rs` (its state between attempts in `download_state.rs`; large results in ranges,
//! several at once, in `ranged.rs`, with the journal that resumes them after a restart in
//! `range_journal.rs`), the attempts and retries all three share in `attempts.rs`, and the part
//! file with its final name in `part_file.rs`.

mod attempts;
mod download;
mod download_state;
mod multipart;
mod part_file;
mod range_journal;
mod ranged;
mod upload;
mod wait;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::api::ApiClient;
use crate::error::{ErrorKind, TransferError};
use crate::progress::{Clock, Progress, ProgressMeter, SystemClock};
use crate::queue::TransferQueue;
use crate::retry::RetryPolicy;

pub use download::Downloaded;
pub use upload::Uploaded;
pub use wait::ResultOf;

/// Files up to this size are hashed before upload so S3 can check their MD5; larger ones are only
/// length-checked, so a big upload never reads the file twice.
pub const DEFAULT_MD5_LIMIT: u64 = 64 * 1024 * 1024;

/// Bytes read from disk per chunk of an upload. Small reads (4 KiB is the usual default) cap
/// throughput.
pub const READ_BUFFER_BYTES: usize = 1024 * 1024;

/// Bytes gathered before one write to disk during a download.
pub const WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// Results of at least this size download in several ranges at once; smaller ones in one stream.
pub const DEFAULT_RANGED_THRESHOLD: u64 = 64 * 1024 * 1024;

/// Ranges of one download in flight at once, by default.
pub const DEFAULT_RANGES_IN_FLIGHT: usize = 4;

/// The size of one range of a ranged download, by default: large enough that a request's set-up
/// is a small part of its time, small enough that a slow connection holds up little and a cut
/// loses little after a restart.
pub const DEFAULT_RANGE_SIZE: u64 = 16 * 1024 * 1024;

/// Files from this size up are sent in parts ([`EngineOptions::multipart_threshold`]).
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 64 * 1024 * 1024;

/// Parts of one multipart upload in flight at once, unless [`EngineOptions::parts_in_flight`]
/// says otherwise.
pub const DEFAULT_PARTS_IN_FLIGHT: usize = 4;

/// The most parts of one upload in flight at once: beyond this, more connections to S3 gain
/// little and each costs a few read buffers.
pub const MAX_PARTS_IN_FLIGHT: usize = 16;

/// How the engine behaves. [`Default`] suits a desktop on an ordinary connection.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Retries of failed transfers and presign calls.
    pub retry: RetryPolicy,
    /// A transfer that moves no byte for this long is abandoned (and retried).
    pub stall_timeout: Duration,
    /// Uploads up to this size carry a `Content-MD5`.
    pub md5_limit: u64,
    /// The first wait between two looks for a result.
    pub wait_initial: Duration,
    /// The longest wait between two looks for a result.
    pub wait_max_interval: Duration,
    /// How long to wait for a result in all.
    pub wait_limit: Duration,
    /// Results of at least this size download in several ranges at once (`Range` with
    /// `If-Match`), smaller ones in one stream.
    pub ranged_threshold: u64,
    /// Ranges of one download in flight at once (at least one).
    pub ranges_in_flight: usize,
    /// The size of one range (the last may be shorter). Very large results get larger ranges, so
    /// that no download has more than 10,000.
    pub range_size: u64,
    /// Where journals of unfinished transfers are kept, so a transfer cut by a crash, a kill or
    /// a pause goes on where it stopped in the next run; `None` keeps none (a download's part
    /// file is then removed whenever it does not finish).
    pub resume_dir: Option<PathBuf>,
    /// Files of at least this size upload multipart (and every file above the single-`PUT`
    /// limit, whatever this says); never below [`ddn_api::multipart::MIN_MULTIPART_SIZE`],
    /// which a lower value means.
    pub multipart_threshold: u64,
    /// Parts of one upload in flight at once: 1 to [`MAX_PARTS_IN_FLIGHT`] (values outside are
    /// brought inside).
    pub parts_in_flight: usize,
}

impl EngineOptions {
    /// The size from which a file uploads multipart, as the engine applies it.
    pub fn effective_multipart_threshold(&self) -> u64 {
        self.multipart_threshold
            .max(ddn_api::multipart::MIN_MULTIPART_SIZE)
    }

    /// The parts of one upload in flight at once, as the engine applies it.
    pub fn effective_parts_in_flight(&self) -> usize {
        self.parts_in_flight.clamp(1, MAX_PARTS_IN_FLIGHT)
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            stall_timeout: Duration::from_secs(30),
            md5_limit: DEFAULT_MD5_LIMIT,
            wait_initial: Duration::from_secs(1),
            wait_max_interval: Duration::from_secs(10),
            wait_limit: Duration::from_secs(30 * 60),
            ranged_threshold: DEFAULT_RANGED_THRESHOLD,
            ranges_in_flight: DEFAULT_RANGES_IN_FLIGHT,
            range_size: DEFAULT_RANGE_SIZE,
            resume_dir: None,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            parts_in_flight: DEFAULT_PARTS_IN_FLIGHT,
        }
    }
}

/// Something that happened during a transfer, for the caller's progress display.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum TransferEvent {
    /// Bytes moved (cumulative).
    Progress(Progress),
    /// An attempt failed; the next starts after `delay`.
    #[serde(rename_all = "camelCase")]
    Retrying {
        /// The attempt that failed (1-based).
        attempt: u32,
        /// The wait before the next attempt.
        #[serde(serialize_with = "seconds")]
        delay: Duration,
        /// Why it failed, for programs (the interface words it in its own language).
        kind: ErrorKind,
        /// Why it failed, in plain words.
        reason: String,
    },
    /// The transfer goes on from an earlier run: `already_sent` of its `total` bytes need not move
    /// again (ranges on disk, parts S3 holds). Progress counts on from there.
    #[serde(rename_all = "camelCase")]
    Resumed {
        /// Bytes kept from before.
        already_sent: u64,
        /// Bytes in all.
        total: u64,
    },
    /// The result is not ready; the next look is after `delay`.
    #[serde(rename_all = "camelCase")]
    WaitingForResult {
        /// The wait before the next look.
        #[serde(serialize_with = "seconds")]
        delay: Duration,
    },
    /// A transfer begun earlier could not be continued and starts again from its first byte.
    #[serde(rename_all = "camelCase")]
    StartedOver {
        /// Why.
        reason: StartOverReason,
    },
}

/// Why a transfer started over ([`TransferEvent::StartedOver`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartOverReason {
    /// The file is not the one the earlier attempt sent (its size or modification time differ);
    /// the earlier multipart upload was aborted.
    FileChanged,
    /// S3 no longer holds what the earlier attempt left (the bucket's rule for abandoned
    /// uploads removed the upload, or it was completed or aborted elsewhere).
    Expired,
    /// The record of the earlier attempt was damaged, so nothing of it could be trusted.
    RecordDamaged,
}

fn seconds<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(value.as_secs_f64())
}

/// Where the engine's events go. Any `Fn(TransferEvent)` closure is one.
pub trait EventSink: Send + Sync {
    /// Receives one event.
    fn send(&self, event: TransferEvent);
}

impl<F: Fn(TransferEvent) + Send + Sync> EventSink for F {
    fn send(&self, event: TransferEvent) {
        self(event);
    }
}

/// The transfer engine: one per process, shared by every transfer.
#[derive(Clone)]
pub struct Engine {
    api: ApiClient,
    options: EngineOptions,
    clock: Arc<dyn Clock>,
    queue: Option<TransferQueue>,
}

impl Engine {
    /// An engine using `api` for URLs and transfers, with no bound on transfers at once (see
    /// [`Self::with_queue`]).
    pub fn new(api: ApiClient, options: EngineOptions) -> Self {
        Self::with_clock(api, options, Arc::new(SystemClock))
    }

    /// An engine with its own clock (tests).
    pub fn with_clock(api: ApiClient, options: EngineOptions, clock: Arc<dyn Clock>) -> Self {
        Self {
            api,
            options,
            clock,
            queue: None,
        }
    }

    /// The same engine, taking a place in `queue` for each upload and each download (a wait for a
    /// result takes none). Engines given clones of one queue share its places.
    #[must_use]
    pub fn with_queue(mut self, queue: TransferQueue) -> Self {
        self.queue = Some(queue);
        self
    }

    /// The engine's settings.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Runs `transfer` once the engine's queue has a free place, holding it until `transfer` ends;
    /// at once when the engine has no queue. [`TransferError::Cancelled`] when `cancel` fires
    /// before a place is free. A transfer that has started is never dropped half-way here: it sees
    /// `cancel` itself and cleans up.
    async fn in_turn<T>(
        &self,
        cancel: &CancellationToken,
        transfer: impl Future<Output = Result<T, TransferError>>,
    ) -> Result<T, TransferError> {
        let _place = match &self.queue {
            Some(queue) => Some(tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(TransferError::Cancelled),
                place = queue.place() => place,
            }),
            None => None,
        };
        transfer.await
    }

    /// The retries of one operation, by the engine's policy.
    fn attempts<'a>(
        &self,
        cancel: &'a CancellationToken,
        events: &'a dyn EventSink,
    ) -> attempts::Attempts<'a> {
        attempts::Attempts::new(self.options.retry, cancel, events)
    }

    /// Drives `request`, failing with [`TransferError::Stalled`] when `moved` does not change
    /// for the stall timeout, and with [`TransferError::Cancelled`] when `cancel` fires. Unlike
    /// [`Self::watch`] it reports no progress: parts and ranges report for their whole transfer.
    pub(super) async fn unless_stalled<T>(
        &self,
        request: impl Future<Output = T>,
        moved: &AtomicU64,
        cancel: &CancellationToken,
    ) -> Result<T, TransferError> {
        let mut request = std::pin::pin!(request);
        let mut ticker = tokio::time::interval(crate::progress::REPORT_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_count = u64::MAX;
        let mut last_change = self.clock.now();
        loop {
            tokio::select! {
                output = &mut request => return Ok(output),
                () = cancel.cancelled() => return Err(TransferError::Cancelled),
                _ = ticker.tick() => {
                    let now = self.clock.now();
                    let count = moved.load(Ordering::Relaxed);
                    if count != last_count {
                        last_count = count;
                        last_change = now;
                    } else if now.duration_since(last_change) >= self.options.stall_timeout {
                        return Err(TransferError::Stalled(self.options.stall_timeout));
                    }
                }
            }
        }
    }

    /// Drives `request` while reporting progress from `moved`, watching for stalls and for
    /// cancellation.
    async fn watch<T>(
        &self,
        request: impl Future<Output = T>,
        moved: &AtomicU64,
        meter: &mut ProgressMeter,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<T, TransferError> {
        let mut request = std::pin::pin!(request);
        let mut ticker = tokio::time::interval(crate::progress::REPORT_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let start = meter.transferred();
        let mut last_count = u64::MAX;
        let mut last_change = self.clock.now();
        // The last count the page was told. A count the throttle held back is told on a later
        // tick, even when no byte moves after it (a stalled transfer still shows what it moved).
        let mut reported = u64::MAX;
        loop {
            tokio::select! {
                output = &mut request => return Ok(output),
                () = cancel.cancelled() => return Err(TransferError::Cancelled),
                _ = ticker.tick() => {
                    let now = self.clock.now();
                    let count = moved.load(Ordering::Relaxed);
                    if count != last_count {
                        last_count = count;
                        last_change = now;
                    } else if now.duration_since(last_change) >= self.options.stall_timeout {
                        return Err(TransferError::Stalled(self.options.stall_timeout));
                    }
                    if count != reported
                        && let Some(progress) = meter.set(start.saturating_add(count), now)
                    {
                        reported = count;
                        events.send(TransferEvent::Progress(progress));
                    }
                }
            }
        }
    }
}

/// Sleeps `delay`, or answers [`TransferError::Cancelled`] as soon as `cancel` fires.
async fn sleep_or_cancel(delay: Duration, cancel: &CancellationToken) -> Result<(), TransferError> {
    tokio::select! {
        () = tokio::time::sleep(delay) => Ok(()),
        () = cancel.cancelled() => Err(TransferError::Cancelled),
    }
}
