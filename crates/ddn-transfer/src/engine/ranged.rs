//! Downloads in ranges: a result of at least [`EngineOptions::ranged_threshold`] bytes (with an
//! ETag and a size) is fetched in ranges of about [`EngineOptions::range_size`], several at once
//! ([`EngineOptions::ranges_in_flight`]), each a `GET` with `Range: bytes=a-b` and `If-Match` on the
//! ETag, written at its offset into the one part file.
//!
//! The ranges wait in a queue and each connection takes the next as it finishes one, so a fast
//! connection takes more of them. Each range is retried on its own (`attempts.rs`) with a fresh
//! URL, going on inside the range after a cut; a finished range is recorded in the download's
//! journal, when there is one (`range_journal.rs`), once the part file is synced, so a new run
//! fetches only the ranges missing. The sync and the journal line are made apart from the
//! connections, which go on with the next range meanwhile.
//!
//! What a server answers decides the rest:
//! - `206` with the `Content-Range` asked (and the object's ETag, when it names one): the bytes;
//!   a `206` of another range is refused (and the range retried);
//! - `200` (a server that ignores `Range`): the download restarts cleanly as one stream from the
//!   first byte, in the emptied part file (`download.rs`), never appending;
//! - `412` to `If-Match`, `416`, another ETag or another size: the object changed, and the
//!   download starts over from zero with a fresh answer.
//!
//! Integrity (`integrity::check_ranges`): a CRC is combined from the ranges' CRCs, computed as
//! they were written; an MD5 or SHA is computed by reading the part file back once, in order, as
//! far as its ranges are on disk while the others arrive, and the rest at the end; with no
//! checksum named (a multipart result without a full-object checksum, whose ETag is an MD5 of
//! its parts' MD5s), the length is checked and every range was served by the same ETag
//! (`If-Match`, and an answer naming another ETag refused). Only then does the part file take its
//! final name.
//!
//! Progress counts the bytes written across ranges, the ones kept from an earlier run included
//! (reported first as [`TransferEvent::Resumed`]), and never goes back while the object stays
//! the same.
//!
//! [`EngineOptions::ranged_threshold`]: super::EngineOptions::ranged_threshold
//! [`EngineOptions::range_size`]: super::EngineOptions::range_size
//! [`EngineOptions::ranges_in_flight`]: super::EngineOptions::ranges_in_flight

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use ddn_api::PresignResponse;
use futures_util::StreamExt as _;
use reqwest::header::{CONTENT_RANGE, ETAG, IF_MATCH, RANGE};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;

use super::download::Target;
use super::part_file::PartFile;
use super::range_journal::{RangeJournal, Start};
use super::{
    Downloaded, Engine, EventSink, ResultOf, StartOverReason, TransferEvent, WRITE_BUFFER_BYTES,
};
use crate::chunk_writer::{BATCH_BYTES, ChunkWriter, Destination};
use crate::error::TransferError;
use crate::integrity::{
    Expected, Hasher, RangeOnDisk, ReadBack, Verified, check_ranges, contiguous_end,
};
use crate::progress::{ProgressMeter, REPORT_INTERVAL};

/// No download is cut into more ranges than this; larger objects get larger ranges, so a
/// journal stays small.
const MAX_RANGES: u64 = 10_000;

/// One range of an object: `length` bytes from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    /// The first byte.
    pub(super) offset: u64,
    /// How many bytes (at least one).
    pub(super) length: u64,
}

impl Span {
    /// The last byte, as `Range` and `Content-Range` name it.
    fn last(self) -> u64 {
        self.offset + self.length - 1
    }
}

/// The range size for an object of `size` bytes: `preferred`, or larger so that there are at
/// most [`MAX_RANGES`].
pub(super) fn range_size(size: u64, preferred: u64) -> u64 {
    preferred.max(1).max(size.div_ceil(MAX_RANGES))
}

/// An object's ranges of `range_size` bytes (the last may be shorter), in order.
pub(super) fn spans(size: u64, range_size: u64) -> impl Iterator<Item = Span> {
    let range_size = range_size.max(1);
    (0..size.div_ceil(range_size)).map(move |i| {
        let offset = i * range_size;
        Span {
            offset,
            length: range_size.min(size - offset),
        }
    })
}

/// Why a download in ranges stopped before its end.
#[derive(Debug)]
enum Stop {
    /// A server answered `200` (the whole object) to a range: it ignores ranges, so the download
    /// goes on as one stream from the first byte.
    IgnoresRanges,
    /// The object is not the one the download began with: it starts over from zero, with this
    /// fresh answer when one is at hand.
    Changed(Option<Box<PresignResponse>>),
    /// Every range is on disk, but the whole does not pass its check: nothing tells which range
    /// is wrong, so the download starts over.
    Damaged(TransferError),
    /// A failure that ends the download, after its retries (or the caller's cancellation).
    Failed(TransferError),
}

/// Why one attempt at a range failed.
enum RangeFailure {
    /// Worth another attempt at this range, with a fresh URL.
    Retry(TransferError),
    /// The whole download stops.
    Stop(Stop),
}

impl From<TransferError> for RangeFailure {
    fn from(error: TransferError) -> Self {
        Self::Retry(error)
    }
}

/// What the ranges of one pass share.
struct Pass<'a> {
    name: &'a str,
    of: &'a ResultOf,
    /// The latest answer: ranges started later use its URL.
    answer: Mutex<PresignResponse>,
    /// The checksum the whole object must match.
    expected: Option<Expected>,
    /// The object's length.
    total: u64,
    /// Ranges not taken yet.
    queue: Mutex<VecDeque<Span>>,
    /// Ranges on disk, from earlier runs and this one.
    done: Mutex<Vec<RangeOnDisk>>,
    /// Bytes on disk or on their way there, for progress.
    counted: AtomicU64,
    /// The part file, each writer writing through a handle of its own.
    file: std::fs::File,
    path: PathBuf,
    journal: Option<&'a RangeJournal>,
    /// Fires when the caller cancels or any range stops the download.
    stop: CancellationToken,
    /// The first reason to stop.
    stopped: Mutex<Option<Stop>>,
    events: &'a dyn EventSink,
}

/// Takes `mutex`'s value: nothing held under these locks is left half-changed by a panic.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether two answers offer the same object.
fn same_object(a: &PresignResponse, b: &PresignResponse) -> bool {
    a.etag == b.etag && a.size == b.size && a.checksum == b.checksum
}

impl Engine {
    /// Whether `answer` is downloaded in ranges: large enough, and with the ETag that keeps its
    /// ranges to one object and the size that plans them.
    pub(super) fn is_ranged(&self, answer: &PresignResponse) -> bool {
        answer.etag.is_some()
            && answer
                .size
                .is_some_and(|size| size > 0 && size >= self.options.ranged_threshold)
    }

    /// Downloads `answer` (ranged) into `dir` in ranges, going on from what an earlier run kept
    /// when the engine keeps journals, and gives it its final name.
    pub(super) async fn save_ranged(
        &self,
        target: &Target<'_>,
        mut answer: PresignResponse,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Downloaded, TransferError> {
        let Target {
            name,
            of,
            dir,
            ref file_name,
        } = *target;
        let resume = self.options.resume_dir.as_deref();
        let range_size = self.options.range_size;
        let mut start =
            super::range_journal::start(resume, dir, name, file_name, &answer, range_size, events)
                .await?;
        // Start-overs of the whole download (a changed object, damage found at the end).
        let mut restarts = self.attempts(cancel, events);
        loop {
            let outcome = self
                .fetch_ranges(name, of, &answer, &start, cancel, events)
                .await;
            let error = match outcome {
                Ok(verified) => {
                    let Start { part, journal, .. } = start;
                    let path = part.finish(verified, dir, file_name).await?;
                    if let Some(journal) = journal {
                        journal.remove().await;
                    }
                    return Ok(Downloaded {
                        key: answer.key,
                        path,
                        size: answer.size.unwrap_or(0),
                        checksum: Expected::from_answer(answer.checksum.as_ref())
                            .map(|e| e.algorithm()),
                    });
                }
                Err(Stop::IgnoresRanges) => {
                    tracing::info!("the server ignores ranges; downloading in one stream");
                    let part = one_stream(start).await?;
                    return self.save_stream(target, answer, part, cancel, events).await;
                }
                Err(Stop::Changed(fresh)) => {
                    let changed = TransferError::Storage {
                        status: 412,
                        code: Some("PreconditionFailed".into()),
                    };
                    if let Err(error) = restarts.start_over_after(changed).await {
                        return Err(abandon(start, error).await);
                    }
                    answer = match fresh {
                        Some(fresh) => *fresh,
                        None => self.presign_download(name, of, cancel, events).await?,
                    };
                    // What is on disk belongs to the object that was replaced.
                    events.send(TransferEvent::StartedOver {
                        reason: StartOverReason::Expired,
                    });
                    if !self.is_ranged(&answer) {
                        let part = one_stream(start).await?;
                        return self.save_stream(target, answer, part, cancel, events).await;
                    }
                    start = start_over(start, &answer, range_size).await?;
                    continue;
                }
                // The part file stays while a journal records it: a later run goes on from it.
                Err(Stop::Failed(error)) => return Err(error),
                Err(Stop::Damaged(error)) => error,
            };
            if let Err(error) = restarts.retry_after(error).await {
                return Err(abandon(start, error).await);
            }
            answer = self.presign_download(name, of, cancel, events).await?;
            if !self.is_ranged(&answer) {
                let part = one_stream(start).await?;
                return self.save_stream(target, answer, part, cancel, events).await;
            }
            start = start_over(start, &answer, range_size).await?;
        }
    }

    /// One pass over the ranges `start` does not hold yet, several at once, then the integrity
    /// check of the whole.
    async fn fetch_ranges(
        &self,
        name: &str,
        of: &ResultOf,
        answer: &PresignResponse,
        start: &Start,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Verified, Stop> {
        let total = answer.size.unwrap_or(0);
        let kept = &start.kept;
        let queue: VecDeque<Span> = spans(total, start.range_size)
            .filter(|span| !kept.iter().any(|k| k.offset == span.offset))
            .collect();
        let already: u64 = kept.iter().map(|range| range.length).sum();
        if already > 0 {
            events.send(TransferEvent::Resumed {
                already_sent: already,
                total,
            });
        }
        let workers = self.options.ranges_in_flight.max(1).min(queue.len());
        let pass = Pass {
            name,
            of,
            answer: Mutex::new(answer.clone()),
            expected: Expected::from_answer(answer.checksum.as_ref()),
            total,
            queue: Mutex::new(queue),
            done: Mutex::new(kept.clone()),
            counted: AtomicU64::new(already),
            file: start.part.handle().await.map_err(Stop::Failed)?,
            path: start.part.path().to_owned(),
            journal: start.journal.as_ref(),
            stop: cancel.child_token(),
            stopped: Mutex::new(None),
            events,
        };
        // The bytes kept from an earlier run count in the total moved, never in the speed.
        let mut meter = ProgressMeter::resumed(total, already, self.clock.now());
        let mut reported = already;
        if let Some(progress) = meter.set(already, self.clock.now()) {
            events.send(TransferEvent::Progress(progress));
        }
        // Finished ranges go to the recorder, which syncs the file and writes their journal
        // lines while the connections go on with the next ranges.
        let (finished, to_record) = tokio::sync::mpsc::unbounded_channel();
        let takers: Vec<_> = (0..workers)
            .map(|_| self.take_ranges(&pass, finished.clone()))
            .collect();
        drop(finished);
        let all = futures_util::future::join(
            futures_util::future::join_all(takers),
            follow_ranges(&pass, to_record, ReadBack::new(pass.expected.as_ref())),
        );
        let mut all = std::pin::pin!(all);
        let mut ticker = tokio::time::interval(REPORT_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let read_back = loop {
            tokio::select! {
                (_, read_back) = &mut all => break read_back,
                _ = ticker.tick() => {
                    // Never backwards, even when a writer gave back fewer bytes than arrived.
                    let count = pass.counted.load(Ordering::Relaxed).max(reported);
                    if count != reported
                        && let Some(progress) = meter.set(count, self.clock.now())
                    {
                        reported = count;
                        events.send(TransferEvent::Progress(progress));
                    }
                }
            }
        };
        if let Some(stop) = lock(&pass.stopped).take() {
            return Err(stop);
        }
        // The ticker samples every 100 ms; the final count must not wait for it.
        let count = pass.counted.load(Ordering::Relaxed).max(reported);
        meter.set(count, self.clock.now());
        let done = std::mem::take(&mut *lock(&pass.done));
        let (path, expected) = (pass.path.clone(), pass.expected.clone());
        let checked = tokio::task::spawn_blocking(move || {
            check_ranges(&path, total, &done, expected.as_ref(), read_back)
        })
        .await;
        let lost = || {
            let error = std::io::Error::other("the check stopped unexpectedly");
            TransferError::io("read", &pass.path, error)
        };
        let verified = checked
            .unwrap_or_else(|_| Err(lost()))
            .map_err(|error| match error {
                TransferError::Integrity(_) => Stop::Damaged(error),
                other => Stop::Failed(other),
            })?;
        events.send(TransferEvent::Progress(meter.finish(self.clock.now())));
        Ok(verified)
    }

    /// One connection's share of a pass: takes ranges from the queue until it is empty or the
    /// pass stops, handing each finished range to the recorder. The first reason to stop is
    /// kept, and stops every other range.
    async fn take_ranges(&self, pass: &Pass<'_>, finished: UnboundedSender<RangeOnDisk>) {
        loop {
            if pass.stop.is_cancelled() {
                return;
            }
            let Some(span) = lock(&pass.queue).pop_front() else {
                return;
            };
            match self.fetch_range(pass, span).await {
                Ok(range) => {
                    lock(&pass.done).push(range);
                    // The recorder ends only after every sender is gone, so it is there.
                    let _ = finished.send(range);
                }
                Err(stop) => {
                    // A range stopped by another's reason reports only `Cancelled`: the first
                    // reason is the one that counts.
                    lock(&pass.stopped).get_or_insert(stop);
                    pass.stop.cancel();
                    return;
                }
            }
        }
    }

    /// Fetches one range into the part file, retrying on its own with fresh URLs and going on
    /// inside the range after a cut. Answers it once its bytes are on disk.
    async fn fetch_range(&self, pass: &Pass<'_>, span: Span) -> Result<RangeOnDisk, Stop> {
        let mut attempts = self.attempts(&pass.stop, pass.events);
        let mut hasher = Hasher::for_range(pass.expected.as_ref());
        let mut done = 0;
        let mut answer = lock(&pass.answer).clone();
        loop {
            let error = match self
                .get_span(pass, &answer, span, &mut done, &mut hasher)
                .await
            {
                Ok(()) => {
                    return Ok(RangeOnDisk {
                        offset: span.offset,
                        length: span.length,
                        crc: hasher.crc(),
                    });
                }
                Err(RangeFailure::Stop(stop)) => return Err(stop),
                Err(RangeFailure::Retry(error)) => error,
            };
            if matches!(error, TransferError::Integrity(_)) {
                // What this range got is not to be trusted: it is fetched again whole (and
                // counted again; the progress shown holds still meanwhile).
                pass.counted.fetch_sub(done, Ordering::Relaxed);
                done = 0;
                hasher = Hasher::for_range(pass.expected.as_ref());
            } else if done == span.length {
                // Every byte was written before the answer failed (a connection dropped after
                // the last byte): the range is done.
                return Ok(RangeOnDisk {
                    offset: span.offset,
                    length: span.length,
                    crc: hasher.crc(),
                });
            }
            attempts.retry_after(error).await.map_err(Stop::Failed)?;
            let fresh = self
                .presign_download(pass.name, pass.of, &pass.stop, pass.events)
                .await
                .map_err(Stop::Failed)?;
            if !same_object(&fresh, &answer) {
                return Err(Stop::Changed(Some(Box::new(fresh))));
            }
            *lock(&pass.answer) = fresh.clone();
            answer = fresh;
        }
    }

    /// One `GET` of the rest of `span` (from `done` bytes into it), written at its offset;
    /// `done` and `hasher` move on by what was written, whatever happens.
    async fn get_span(
        &self,
        pass: &Pass<'_>,
        answer: &PresignResponse,
        span: Span,
        done: &mut u64,
        hasher: &mut Hasher,
    ) -> Result<(), RangeFailure> {
        let first = span.offset + *done;
        let asked = Span {
            offset: first,
            length: span.length - *done,
        };
        let etag = answer.etag.as_deref().unwrap_or_default();
        let mut request = self.api.http().get(&answer.url);
        for (name, value) in &answer.headers {
            request = request.header(name, value);
        }
        let request = request
            .header(RANGE, format!("bytes={first}-{}", asked.last()))
            .header(IF_MATCH, format!("\"{etag}\""));
        let no_body_yet = AtomicU64::new(0);
        let response = self
            .unless_stalled(request.send(), &no_body_yet, &pass.stop)
            .await?
            .map_err(|e| TransferError::from_http(&e))?;
        let status = response.status().as_u16();
        let whole_object = asked.offset == 0 && asked.length == pass.total;
        let changed = || RangeFailure::Stop(Stop::Changed(None));
        match status {
            206 | 200 if served_etag(&response).is_some_and(|served| served != etag) => {
                return Err(changed());
            }
            206 => match content_range(&response) {
                Some((_, _, Some(total))) if total != pass.total => return Err(changed()),
                Some((start, last, _)) if start == asked.offset && last == asked.last() => {}
                _ => {
                    let error = TransferError::Integrity("unexpected byte range".into());
                    return Err(error.into());
                }
            },
            // The whole object where the whole object was asked: as good as a range.
            200 if whole_object => {}
            200 => return Err(RangeFailure::Stop(Stop::IgnoresRanges)),
            412 | 416 => return Err(changed()),
            _ => {
                let error = crate::body::storage_error(
                    status,
                    response,
                    self.options.stall_timeout,
                    &pass.stop,
                )
                .await;
                return Err(error.into());
            }
        }
        self.write_span(pass, response, asked, done, hasher).await
    }

    /// Writes `response`'s body, the bytes of `asked`, at their offset. A body longer than
    /// `asked` is cut at its end, so no range ever writes over another.
    async fn write_span(
        &self,
        pass: &Pass<'_>,
        response: reqwest::Response,
        asked: Span,
        done: &mut u64,
        hasher: &mut Hasher,
    ) -> Result<(), RangeFailure> {
        let destination = Destination {
            file: pass
                .file
                .try_clone()
                .map_err(|e| TransferError::io("write", &pass.path, e))
                .map_err(|e| RangeFailure::Stop(Stop::Failed(e)))?,
            path: pass.path.clone(),
            offset: asked.offset,
        };
        let writer = ChunkWriter::start(destination, std::mem::take(hasher), WRITE_BUFFER_BYTES);
        let moved = AtomicU64::new(0);
        let mut body = response.bytes_stream();
        let copy = async {
            let mut batch: Vec<Bytes> = Vec::new();
            let mut batched = 0;
            let mut room = asked.length;
            loop {
                let end = match body.next().await {
                    Some(Ok(mut chunk)) => {
                        let mut end = None;
                        if chunk.len() as u64 > room {
                            chunk.truncate(room as usize);
                            let error = TransferError::Integrity("more bytes than asked".into());
                            end = Some(Err(error));
                        }
                        room -= chunk.len() as u64;
                        // Counted on arrival, so progress and stall detection see every byte.
                        moved.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        pass.counted
                            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        batched += chunk.len();
                        batch.push(chunk);
                        end
                    }
                    Some(Err(error)) => Some(Err(TransferError::from_http(&error))),
                    None => Some(Ok(())),
                };
                if (end.is_some() || batched >= BATCH_BYTES) && !batch.is_empty() {
                    batched = 0;
                    if !writer.send(std::mem::take(&mut batch)).await {
                        // The writer failed; its error is reported below.
                        return Ok(());
                    }
                }
                if let Some(end) = end {
                    return end;
                }
            }
        };
        let copied = self.unless_stalled(copy, &moved, &pass.stop).await;
        // Whatever stopped the copy, the writer reports exactly what it wrote, and the range
        // goes on from there.
        let written = writer
            .finish()
            .await
            .map_err(|e| RangeFailure::Stop(Stop::Failed(e)))?;
        *hasher = written.hasher;
        *done += written.written;
        let arrived = moved.load(Ordering::Relaxed);
        if written.written < arrived {
            pass.counted
                .fetch_sub(arrived - written.written, Ordering::Relaxed);
        }
        // A disk that cannot be written ends the download: retrying would not mend it.
        written
            .result
            .map_err(|e| RangeFailure::Stop(Stop::Failed(e)))?;
        copied??;
        if written.written < asked.length {
            // The body ended early without an error of its own: as a cut, resumed from here.
            return Err(TransferError::Connection.into());
        }
        Ok(())
    }
}

/// Follows the ranges that come from `finished` until every sender is gone: records them in the
/// pass's journal, if it has one, and moves `read_back` (the MD5 or SHA of the whole object, read
/// back from the part file) on over the ranges on disk from the first byte, so that the check at
/// the end reads only what arrived last. Each batch of ranges finished meanwhile is synced to
/// disk with one `fdatasync` of the part file (which covers every handle's writes), and only then
/// are their lines written; a sync that fails leaves them unrecorded (fetched again after a
/// restart, nothing worse). Answers the digest as far as it went; `None` when reading failed
/// (the check then reads the whole file and reports the error).
async fn follow_ranges(
    pass: &Pass<'_>,
    mut finished: UnboundedReceiver<RangeOnDisk>,
    mut read_back: Option<ReadBack>,
) -> Option<ReadBack> {
    while let Some(first) = finished.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = finished.try_recv() {
            batch.push(more);
        }
        if let Some(journal) = pass.journal {
            let handle = pass.file.try_clone();
            let synced = tokio::task::spawn_blocking(move || handle?.sync_data()).await;
            match synced {
                Ok(Ok(())) => {
                    for range in batch {
                        journal.record(range).await;
                    }
                }
                Ok(Err(error)) => tracing::warn!(%error, "finished ranges could not be synced"),
                Err(_) => tracing::warn!("the sync of finished ranges stopped unexpectedly"),
            }
        }
        let upto = contiguous_end(&lock(&pass.done));
        if let Some(mut digest) = read_back.take_if(|digest| digest.hashed() < upto) {
            let path = pass.path.clone();
            let advanced =
                tokio::task::spawn_blocking(move || digest.advance(&path, upto).map(|()| digest))
                    .await;
            read_back = advanced.ok().and_then(Result::ok);
        }
    }
    read_back
}

/// Turns a download in ranges into one stream from the first byte: the journal goes (a server
/// that ignores ranges, or an object now too small for them, leaves nothing to resume by) and the
/// part file is emptied.
async fn one_stream(start: Start) -> Result<PartFile, TransferError> {
    let Start {
        mut part, journal, ..
    } = start;
    if let Some(journal) = journal {
        journal.remove().await;
    }
    part.keep(false);
    part.set_len(0).await?;
    Ok(part)
}

/// Starts a download in ranges over for the object `answer` offers: the journal first (so none
/// of its lines outlives the bytes it describes), then the part file, emptied to the new length.
async fn start_over(
    start: Start,
    answer: &PresignResponse,
    preferred_range_size: u64,
) -> Result<Start, TransferError> {
    let Start {
        mut part, journal, ..
    } = start;
    let size = answer.size.unwrap_or(0);
    let range_size = range_size(size, preferred_range_size);
    let journal = match journal {
        Some(journal) => journal.restart(answer, part.name(), range_size).await,
        None => None,
    };
    part.keep(journal.is_some());
    part.set_len(0).await?;
    part.set_len(size).await?;
    Ok(Start {
        part,
        journal,
        kept: Vec::new(),
        range_size,
    })
}

/// Gives up on a download after `error`: the part file and the journal go, since what they hold
/// is damaged or of an object that keeps changing. Answers `error`.
async fn abandon(start: Start, error: TransferError) -> TransferError {
    let Start { part, journal, .. } = start;
    if let Some(journal) = journal {
        journal.remove().await;
    }
    part.discard().await;
    error
}

/// The ETag a response names, without its quotes.
fn served_etag(response: &reqwest::Response) -> Option<&str> {
    let value = response.headers().get(ETAG)?.to_str().ok()?;
    Some(value.trim_start_matches("W/").trim_matches('"'))
}

/// A `206`'s `Content-Range`: its first and last byte, and the object's length when it names
/// one (`bytes 0-99/1000`, or `bytes 0-99/*`).
fn content_range(response: &reqwest::Response) -> Option<(u64, u64, Option<u64>)> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    parse_content_range(value)
}

/// Reads a `Content-Range` value (see [`content_range`]).
fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
    let total = match total.trim() {
        "*" => None,
        total => Some(total.parse().ok()?),
    };
    (first <= last).then_some((first, last, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_cut_into_ranges_that_cover_it_once() {
        let cut = |size, range_size| -> Vec<(u64, u64)> {
            spans(size, range_size)
                .map(|span| (span.offset, span.length))
                .collect()
        };
        assert_eq!(cut(10, 4), [(0, 4), (4, 4), (8, 2)]);
        assert_eq!(cut(8, 4), [(0, 4), (4, 4)]);
        assert_eq!(cut(3, 4), [(0, 3)]);
        assert!(cut(0, 4).is_empty());
    }

    #[test]
    fn very_large_objects_get_larger_ranges() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(range_size(100 * MIB, 16 * MIB), 16 * MIB);
        // 5 TiB, S3's largest object, in at most 10,000 ranges.
        let huge = 5 * 1024 * 1024 * MIB;
        let size = range_size(huge, 16 * MIB);
        assert!(huge.div_ceil(size) <= MAX_RANGES, "{size}");
        assert_eq!(range_size(10, 0), 1);
    }

    #[test]
    fn content_ranges_are_read_strictly() {
        assert_eq!(
            parse_content_range("bytes 0-99/1000"),
            Some((0, 99, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-5/*"), Some((5, 5, None)));
        for bad in [
            "bytes 9-5/1000",
            "bytes */1000",
            "items 0-9/10",
            "bytes 0-9",
            "bytes a-9/10",
            "bytes 0-9/x",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }
}
