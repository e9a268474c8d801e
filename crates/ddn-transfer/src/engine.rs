//! Uploads, waits for results and downloads, with retries, progress and cancellation.
//!
//! Invariants:
//! - an upload always sends `Content-Length` and every header the presign answer lists, and streams
//!   the file in large reads, so memory stays flat whatever the file size;
//! - a download is written to a `.part` file, checked (length, and the whole-object checksum the
//!   service names), flushed to disk, and only then given its final name, which never replaces an
//!   existing file;
//! - a result is asked for as the result of one upload ([`ResultOf`]), so a result left by an
//!   earlier upload of the same name is never taken for it;
//! - every retry asks the service for a fresh URL, so an expired URL is simply replaced.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use ddn_api::{
    ChecksumAlgorithm, ErrorCode, MAX_SINGLE_PUT_BYTES, PresignRequest, PresignResponse,
    TransferMode,
};
use futures_util::StreamExt as _;
use md5::{Digest, Md5};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, DATE, IF_MATCH, RANGE};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};
use tokio_util::sync::CancellationToken;

use crate::api::ApiClient;
use crate::chunk_reader::read_chunks;
use crate::chunk_writer::{BATCH_BYTES, ChunkWriter};
use crate::error::{ErrorKind, TransferError};
use crate::integrity::{Expected, Hasher};
use crate::names::{child_path, local_file_name, numbered_candidates};
use crate::progress::{Clock, Progress, ProgressMeter, SystemClock};
use crate::retry::RetryPolicy;

/// Files up to this size are hashed before upload so S3 can check their MD5; larger ones are only
/// length-checked, so a big upload never reads the file twice.
pub const DEFAULT_MD5_LIMIT: u64 = 64 * 1024 * 1024;

/// Bytes read from disk per chunk of an upload. Small reads (4 KiB is the usual default) cap
/// throughput.
pub const READ_BUFFER_BYTES: usize = 1024 * 1024;

/// Bytes gathered before one write to disk during a download.
pub const WRITE_BUFFER_BYTES: usize = 1024 * 1024;

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
    /// The result is not ready; the next look is after `delay`.
    #[serde(rename_all = "camelCase")]
    WaitingForResult {
        /// The wait before the next look.
        #[serde(serialize_with = "seconds")]
        delay: Duration,
    },
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

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Uploaded {
    /// The object key the service chose.
    pub key: String,
    /// Bytes uploaded.
    pub size: u64,
    /// Whether S3 checked the content's MD5.
    pub md5_checked: bool,
    /// The id the service gave this upload; `None` from a service without the processing
    /// contract.
    pub upload_id: Option<String>,
    /// When S3 stored it, RFC 3339: S3's own `Date` on its answer to the `PUT`, or this
    /// computer's clock when S3 sent none.
    pub uploaded_at: Option<String>,
}

impl Uploaded {
    /// What a wait for this upload's result must ask for.
    pub fn result_of(&self) -> ResultOf {
        ResultOf {
            upload_id: self.upload_id.clone(),
            uploaded_at: self.uploaded_at.clone(),
        }
    }
}

/// Which upload a result must answer. [`ResultOf::default`] accepts whatever result is stored
/// under the name (the seed's behaviour, for results fetched by name from a list of results).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultOf {
    /// The upload's id ([`Uploaded::upload_id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// When it was stored ([`Uploaded::uploaded_at`]), for results whose processor does not
    /// copy the upload's id onto them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<String>,
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Downloaded {
    /// The object key.
    pub key: String,
    /// Where the file was saved.
    pub path: PathBuf,
    /// Bytes downloaded.
    pub size: u64,
    /// The checksum the content was checked against; `None` when the service named none (only
    /// the length was checked).
    pub checksum: Option<ChecksumAlgorithm>,
}

/// The transfer engine: one per process, shared by every transfer.
#[derive(Clone)]
pub struct Engine {
    api: ApiClient,
    options: EngineOptions,
    clock: Arc<dyn Clock>,
}

impl Engine {
    /// An engine using `api` for URLs and transfers.
    pub fn new(api: ApiClient, options: EngineOptions) -> Self {
        Self::with_clock(api, options, Arc::new(SystemClock))
    }

    /// An engine with its own clock (tests).
    pub fn with_clock(api: ApiClient, options: EngineOptions, clock: Arc<dyn Clock>) -> Self {
        Self {
            api,
            options,
            clock,
        }
    }

    /// The engine's settings.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Uploads the file at `path` under the name `name`, retrying transient failures with a fresh
    /// URL each time.
    ///
    /// # Errors
    /// A [`TransferError`] when the file cannot be read, the service refuses, or the transfer
    /// fails after its retries; [`TransferError::Cancelled`] when `cancel` fires.
    pub async fn upload(
        &self,
        path: &Path,
        name: &str,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Uploaded, TransferError> {
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| TransferError::io("read", path, e))?
            .len();
        if size > MAX_SINGLE_PUT_BYTES {
            return Err(TransferError::TooLarge);
        }
        let md5 = if size <= self.options.md5_limit {
            Some(md5_of_file(path, cancel).await?)
        } else {
            None
        };
        let md5_checked = md5.is_some();
        let request = PresignRequest {
            file: name.to_owned(),
            mode: TransferMode::Upload,
            size: Some(size),
            md5,
            content_type: Some(content_type_for(name)),
            ..PresignRequest::default()
        };
        let mut meter = ProgressMeter::new(size, self.clock.now());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match self.api.presign_cancellable(&request, cancel).await {
                Ok(answer) => {
                    let sent_at = SystemTime::now();
                    self.put_file(path, size, &answer, &mut meter, cancel, events)
                        .await
                        .map(|stored_at| (answer, stored_at.unwrap_or(sent_at)))
                }
                Err(error) => Err(error),
            };
            match result {
                Ok((answer, stored_at)) => {
                    events.send(TransferEvent::Progress(meter.finish(self.clock.now())));
                    return Ok(Uploaded {
                        key: answer.key,
                        size,
                        md5_checked,
                        uploaded_at: answer
                            .upload_id
                            .is_some()
                            .then(|| rfc3339(stored_at))
                            .flatten(),
                        upload_id: answer.upload_id,
                    });
                }
                Err(error) => self.before_retry(attempt, error, cancel, events).await?,
            }
        }
    }

    /// Sends the file once through a presigned `PUT`; answers S3's `Date` on its acceptance,
    /// when it sent a readable one.
    async fn put_file(
        &self,
        path: &Path,
        size: u64,
        answer: &PresignResponse,
        meter: &mut ProgressMeter,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Option<SystemTime>, TransferError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| TransferError::io("read", path, e))?
            .into_std()
            .await;
        let sent = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        let stream = read_chunks(file, READ_BUFFER_BYTES).inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        });
        let mut request = self
            .api
            .http()
            .put(&answer.url)
            // Always the length: S3 refuses a streamed body without one, and it is signed.
            .header(CONTENT_LENGTH, size);
        for (name, value) in &answer.headers {
            if !name.eq_ignore_ascii_case("content-length") {
                request = request.header(name, value);
            }
        }
        let send = request.body(reqwest::Body::wrap_stream(stream)).send();
        let response = self
            .watch(send, &sent, meter, cancel, events)
            .await?
            .map_err(|e| TransferError::from_http(&e))?;
        let status = response.status().as_u16();
        if status == 200 {
            meter.set(size, self.clock.now());
            let stored_at = response
                .headers()
                .get(DATE)
                .and_then(|value| value.to_str().ok())
                .and_then(|text| httpdate::parse_http_date(text).ok());
            return Ok(stored_at);
        }
        Err(crate::body::storage_error(status, response, self.options.stall_timeout, cancel).await)
    }

    /// Drives `request` while reporting progress from `moved`, watching for stalls and for
    /// cancellation.
    async fn watch<T>(
        &self,
        request: impl std::future::Future<Output = T>,
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

    /// Decides whether a failed attempt is tried again; if so, reports it and waits.
    async fn before_retry(
        &self,
        attempt: u32,
        error: TransferError,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<(), TransferError> {
        let retry = error.is_retryable() || error.is_expired_url();
        if !retry || attempt >= self.options.retry.max_attempts {
            return Err(error);
        }
        let delay = self.options.retry.random_delay(attempt);
        tracing::info!(attempt, delay_ms = delay.as_millis() as u64, %error, "transfer attempt failed; retrying");
        events.send(TransferEvent::Retrying {
            attempt,
            delay,
            kind: error.kind(),
            reason: error.to_string(),
        });
        sleep_or_cancel(delay, cancel).await
    }

    /// Downloads the result for `name` into `dir`, failing at once with
    /// [`TransferError::NotReady`] when it is not there yet.
    ///
    /// # Errors
    /// A [`TransferError`] when the service refuses, the data is damaged, the folder cannot be
    /// written, or the transfer fails after its retries.
    pub async fn download(
        &self,
        name: &str,
        of: &ResultOf,
        dir: &Path,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Downloaded, TransferError> {
        let answer = self.presign_download(name, of, cancel, events).await?;
        self.download_answer(name, of, answer, dir, cancel, events)
            .await
    }

    /// Waits until the result for `name` exists (polling with a growing interval, up to the
    /// waiting limit), then downloads it into `dir`.
    ///
    /// # Errors
    /// [`TransferError::WaitTimedOut`] when the result does not come in time,
    /// [`TransferError::ProcessingFailed`] as soon as the processor gives up on the upload, and
    /// the errors of [`Self::download`].
    pub async fn wait_and_download(
        &self,
        name: &str,
        of: &ResultOf,
        dir: &Path,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Downloaded, TransferError> {
        let answer = self.wait_for_result(name, of, cancel, events).await?;
        self.download_answer(name, of, answer, dir, cancel, events)
            .await
    }

    /// Polls for the result of `name` that answers `of` until it exists, answering its download
    /// URL. A result of another upload of the same name is not ready, however new.
    ///
    /// # Errors
    /// [`TransferError::WaitTimedOut`] after the waiting limit;
    /// [`TransferError::ProcessingFailed`] at once when the processor marked the upload as
    /// failed; other errors as they come.
    pub async fn wait_for_result(
        &self,
        name: &str,
        of: &ResultOf,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<PresignResponse, TransferError> {
        let started = self.clock.now();
        let mut interval = self.options.wait_initial;
        loop {
            match self.presign_download(name, of, cancel, events).await {
                Err(TransferError::NotReady) => {}
                other => return other,
            }
            let waited = self.clock.now().duration_since(started);
            if waited + interval > self.options.wait_limit {
                return Err(TransferError::WaitTimedOut(self.options.wait_limit));
            }
            events.send(TransferEvent::WaitingForResult { delay: interval });
            sleep_or_cancel(interval, cancel).await?;
            interval = interval.mul_f64(1.5).min(self.options.wait_max_interval);
        }
    }

    /// Asks for a download URL of the result answering `of`, retrying transient failures.
    async fn presign_download(
        &self,
        name: &str,
        of: &ResultOf,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<PresignResponse, TransferError> {
        let request = PresignRequest {
            file: name.to_owned(),
            mode: TransferMode::Download,
            upload_id: of.upload_id.clone(),
            uploaded_at: of.upload_id.as_ref().and(of.uploaded_at.clone()),
            ..PresignRequest::default()
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.api.presign_cancellable(&request, cancel).await;
            match result {
                Ok(answer) => return Ok(answer),
                Err(TransferError::Refused {
                    code: ErrorCode::ProcessingFailed,
                    message,
                }) => return Err(TransferError::ProcessingFailed(message)),
                Err(error) => self.before_retry(attempt, error, cancel, events).await?,
            }
        }
    }

    /// Downloads the result `answer` (from [`Self::wait_for_result`]) into `dir`, so a caller can
    /// tell the waiting apart from the downloading.
    ///
    /// # Errors
    /// As [`Self::download`].
    pub async fn download_answer(
        &self,
        name: &str,
        of: &ResultOf,
        answer: PresignResponse,
        dir: &Path,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Downloaded, TransferError> {
        let file_name = local_file_name(&answer.key);
        let (part_path, file) = create_part_file(dir, &file_name).await?;
        let mut part = PartFile {
            path: part_path,
            file: Some(file),
        };
        let result = self
            .fetch_into(name, of, answer, &mut part, cancel, events)
            .await;
        match result {
            Ok((key, size, checksum)) => {
                let path = part.finish(dir, &file_name).await?;
                Ok(Downloaded {
                    key,
                    path,
                    size,
                    checksum,
                })
            }
            Err(error) => {
                part.discard().await;
                Err(error)
            }
        }
    }

    /// Fills the part file with the object, resuming with `Range` after a dropped connection and
    /// starting over when the object changed or its checksum does not match.
    async fn fetch_into(
        &self,
        name: &str,
        of: &ResultOf,
        mut answer: PresignResponse,
        part: &mut PartFile,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<(String, u64, Option<ChecksumAlgorithm>), TransferError> {
        let mut total = answer.size.unwrap_or(0);
        let mut expected = Expected::from_answer(answer.checksum.as_ref());
        let mut meter = ProgressMeter::new(total, self.clock.now());
        let mut hasher = Hasher::for_expected(expected.as_ref());
        let mut written: u64 = 0;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .get_range(
                    &answer,
                    written,
                    part,
                    &mut hasher,
                    &mut meter,
                    cancel,
                    events,
                )
                .await;
            let result = result.and_then(|received| {
                written = received;
                check_download(written, total, expected.as_ref(), &hasher)
            });
            match result {
                Ok(()) => {
                    events.send(TransferEvent::Progress(meter.finish(self.clock.now())));
                    return Ok((answer.key, written, expected.map(|e| e.algorithm())));
                }
                Err(error) => {
                    if matches!(
                        error,
                        TransferError::Integrity(_) | TransferError::Storage { status: 412, .. }
                    ) {
                        written = 0;
                        hasher = Hasher::for_expected(expected.as_ref());
                        part.truncate().await?;
                    } else {
                        written = part.len().await?;
                    }
                    self.before_retry(attempt, error, cancel, events).await?;
                    let fresh = self.presign_download(name, of, cancel, events).await?;
                    if fresh.etag != answer.etag
                        || fresh.size != answer.size
                        || fresh.checksum != answer.checksum
                    {
                        // The result was replaced meanwhile: the bytes so far belong to the old
                        // one, so start over on the new one.
                        expected = Expected::from_answer(fresh.checksum.as_ref());
                        written = 0;
                        hasher = Hasher::for_expected(expected.as_ref());
                        part.truncate().await?;
                        total = fresh.size.unwrap_or(0);
                        meter.restart(total, self.clock.now());
                    }
                    answer = fresh;
                }
            }
        }
    }

    /// One `GET` from `offset` to the end, appended to the part file. Answers the part's length.
    #[allow(clippy::too_many_arguments)]
    async fn get_range(
        &self,
        answer: &PresignResponse,
        offset: u64,
        part: &mut PartFile,
        hasher: &mut Hasher,
        meter: &mut ProgressMeter,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<u64, TransferError> {
        let mut request = self.api.http().get(&answer.url);
        for (name, value) in &answer.headers {
            request = request.header(name, value);
        }
        if offset > 0 {
            request = request.header(RANGE, format!("bytes={offset}-"));
            if let Some(etag) = &answer.etag {
                request = request.header(IF_MATCH, format!("\"{etag}\""));
            }
        }
        let moved = AtomicU64::new(0);
        let response = self
            .watch(request.send(), &moved, meter, cancel, events)
            .await?
            .map_err(|e| TransferError::from_http(&e))?;
        let status = response.status().as_u16();
        match status {
            200 if offset > 0 => {
                // The server ignored the range: start the file over.
                part.truncate().await?;
                hasher.reset();
            }
            200 => {}
            206 if content_range_start(&response) == Some(offset) => {}
            206 => return Err(TransferError::Integrity("unexpected byte range".into())),
            _ => {
                return Err(crate::body::storage_error(
                    status,
                    response,
                    self.options.stall_timeout,
                    cancel,
                )
                .await);
            }
        }
        let base = if status == 206 { offset } else { 0 };
        // Writing and hashing happen on a thread of their own, gathered into large writes, so
        // this task only moves chunks from the socket to the writer's queue.
        let writer = ChunkWriter::start(
            part.take_file()?,
            std::mem::take(hasher),
            WRITE_BUFFER_BYTES,
            part.path.clone(),
        )
        .await;
        let mut body = response.bytes_stream();
        let copy = async {
            let mut batch = Vec::new();
            let mut batched = 0;
            loop {
                // `Some` once the body has ended, well or badly.
                let end = match body.next().await {
                    Some(Ok(chunk)) => {
                        // Counted on arrival, so progress and stall detection see every byte;
                        // the part file's length, not this count, is where a retry resumes.
                        moved.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        batched += chunk.len();
                        batch.push(chunk);
                        None
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
        meter.set(base, self.clock.now());
        // `watch` counts from the meter's value when it starts: the bytes already on disk.
        let copied = self.watch(copy, &moved, meter, cancel, events).await;
        // Whatever stopped the copy, the part file then holds exactly the bytes hashed and
        // counted, so a retry can resume from its length.
        let (file, state, written) = writer.finish().await?;
        part.file = Some(file);
        *hasher = state;
        written?;
        copied??;
        let received = base + moved.load(Ordering::Relaxed);
        // The ticker samples every 100 ms; the final count must not wait for it.
        meter.set(received, self.clock.now());
        Ok(received)
    }
}

/// A download's `.part` file: removed unless it is given its final name.
struct PartFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl PartFile {
    /// Takes the open file out, for a writer that gives it back.
    fn take_file(&mut self) -> Result<tokio::fs::File, TransferError> {
        self.file.take().ok_or_else(|| {
            TransferError::io(
                "write",
                &self.path,
                std::io::Error::other("the file is closed"),
            )
        })
    }

    fn file(&mut self) -> Result<&mut tokio::fs::File, TransferError> {
        let path = self.path.clone();
        self.file.as_mut().ok_or_else(|| {
            TransferError::io("write", path, std::io::Error::other("the file is closed"))
        })
    }

    async fn len(&mut self) -> Result<u64, TransferError> {
        let path = self.path.clone();
        let file = self.file()?;
        file.flush()
            .await
            .and(file.metadata().await)
            .map(|m| m.len())
            .map_err(|e| TransferError::io("write", path, e))
    }

    async fn truncate(&mut self) -> Result<(), TransferError> {
        let path = self.path.clone();
        let file = self.file()?;
        let result = async {
            file.set_len(0).await?;
            file.seek(std::io::SeekFrom::Start(0)).await.map(drop)
        };
        result
            .await
            .map_err(|e| TransferError::io("write", path, e))
    }

    /// Flushes the data to disk and gives the file its final name: `name`, or `name (1)`, ... when
    /// that exists. An existing file is never replaced, even by a racing writer.
    async fn finish(mut self, dir: &Path, name: &str) -> Result<PathBuf, TransferError> {
        let file = self.file.take();
        if let Some(file) = file {
            file.sync_all()
                .await
                .map_err(|e| TransferError::io("write", &self.path, e))?;
        }
        for candidate in numbered_candidates(name).take(10_000) {
            let target = child_path(dir, &candidate)
                .ok_or_else(|| TransferError::Integrity("unusable file name".into()))?;
            match link_without_replacing(&self.path, &target).await {
                Ok(()) => {
                    let _ = tokio::fs::remove_file(&self.path).await;
                    sync_dir(dir).await;
                    return Ok(target);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    self.discard().await;
                    return Err(TransferError::io("save", target, e));
                }
            }
        }
        self.discard().await;
        Err(TransferError::io(
            "save",
            dir.join(name),
            std::io::Error::other("too many files with this name"),
        ))
    }

    async fn discard(&mut self) {
        self.file = None;
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

/// Creates `NAME.part` in `dir` (or `NAME (1).part`, ... when another download owns that one).
async fn create_part_file(
    dir: &Path,
    file_name: &str,
) -> Result<(PathBuf, tokio::fs::File), TransferError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| TransferError::io("create", dir, e))?;
    for candidate in numbered_candidates(file_name).take(10_000) {
        let Some(path) = child_path(dir, &format!("{candidate}.part")) else {
            break;
        };
        match tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(TransferError::io("create", path, e)),
        }
    }
    Err(TransferError::io(
        "create",
        dir.join(file_name),
        std::io::Error::other("no free name for the partial file"),
    ))
}

/// Gives `from` the name `to` unless `to` exists. A hard link fails atomically when the target
/// exists; where links are not supported (FAT, some network shares), an existence check and a
/// rename is the best the file system allows.
async fn link_without_replacing(from: &Path, to: &Path) -> std::io::Result<()> {
    match tokio::fs::hard_link(from, to).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            if tokio::fs::try_exists(to).await? {
                return Err(std::io::ErrorKind::AlreadyExists.into());
            }
            tokio::fs::rename(from, to).await
        }
    }
}

/// Makes a rename in `dir` durable (POSIX needs the directory itself synced).
async fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = tokio::fs::File::open(dir).await {
        let _ = handle.sync_all().await;
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn check_download(
    written: u64,
    total: u64,
    expected: Option<&Expected>,
    hasher: &Hasher,
) -> Result<(), TransferError> {
    if written != total {
        return Err(TransferError::Integrity(format!(
            "{written} of {total} bytes arrived"
        )));
    }
    if let Some(expected) = expected
        && !hasher.matches(expected)
    {
        return Err(TransferError::Integrity(format!(
            "the {} checksum differs",
            expected.algorithm_name()
        )));
    }
    Ok(())
}

/// The media type an upload is signed for, from its name (`application/octet-stream` when the
/// extension says nothing).
fn content_type_for(name: &str) -> String {
    mime_guess::from_path(name)
        .first_or_octet_stream()
        .essence_str()
        .to_owned()
}

/// `time` as RFC 3339 in UTC, whole seconds (S3's dates have no more).
fn rfc3339(time: SystemTime) -> Option<String> {
    let seconds = time.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    OffsetDateTime::from_unix_timestamp(i64::try_from(seconds).ok()?)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

fn content_range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.strip_prefix("bytes ")?;
    range.split('-').next()?.parse().ok()
}

/// Base64 of the file's MD5, read in large chunks.
async fn md5_of_file(path: &Path, cancel: &CancellationToken) -> Result<String, TransferError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| TransferError::io("read", path, e))?;
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; READ_BUFFER_BYTES];
    loop {
        if cancel.is_cancelled() {
            return Err(TransferError::Cancelled);
        }
        let n = file
            .read(&mut buffer)
            .await
            .map_err(|e| TransferError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(hasher.finalize()))
}

async fn sleep_or_cancel(delay: Duration, cancel: &CancellationToken) -> Result<(), TransferError> {
    tokio::select! {
        () = tokio::time::sleep(delay) => Ok(()),
        () = cancel.cancelled() => Err(TransferError::Cancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5_checksum(data: &[u8]) -> Expected {
        Expected::from_answer(Some(&ddn_api::Checksum {
            algorithm: ChecksumAlgorithm::Md5,
            value: hex::encode(Md5::digest(data)),
        }))
        .unwrap()
    }

    #[test]
    fn downloads_are_checked_for_length_and_checksum() {
        let md5 = md5_checksum(b"hello");
        let mut hasher = Hasher::for_expected(Some(&md5));
        hasher.update(b"hello");
        assert!(check_download(5, 5, Some(&md5), &hasher).is_ok());
        assert!(check_download(5, 5, None, &hasher).is_ok());
        let short = check_download(4, 5, Some(&md5), &hasher).unwrap_err();
        assert_eq!(
            short.to_string(),
            "The downloaded data is damaged (4 of 5 bytes arrived); it was not saved."
        );
        let other = check_download(5, 5, Some(&md5_checksum(b"hellO")), &hasher).unwrap_err();
        assert_eq!(
            other.to_string(),
            "The downloaded data is damaged (the MD5 checksum differs); it was not saved."
        );
    }

    #[test]
    fn uploads_are_signed_for_the_type_their_name_says() {
        assert_eq!(content_type_for("scan 01.PNG"), "image/png");
        assert_eq!(content_type_for("2026/report.pdf"), "application/pdf");
        assert_eq!(content_type_for("data"), "application/octet-stream");
        assert_eq!(
            content_type_for("archive.unknownext"),
            "application/octet-stream"
        );
    }

    #[test]
    fn upload_times_are_whole_seconds_in_utc() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_521_600_900);
        assert_eq!(rfc3339(time).as_deref(), Some("2026-11-24T12:00:00Z"));
    }
}
