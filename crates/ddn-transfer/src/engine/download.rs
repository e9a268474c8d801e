//! Downloads: a result's bytes go into its part file, resume with `Range` + `If-Match` after a
//! cut, start over when the object changed or arrived damaged, and take their final name only
//! once checked (`part_file.rs`). Results of at least
//! [`EngineOptions::ranged_threshold`](super::EngineOptions::ranged_threshold) bytes download in
//! several ranges at once (`ranged.rs`); this file holds the entry points and the one stream that
//! smaller results (and servers that ignore ranges) take.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ddn_api::{ChecksumAlgorithm, PresignResponse};
use futures_util::StreamExt as _;
use reqwest::header::{CONTENT_RANGE, IF_MATCH, RANGE};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::download_state::DownloadState;
use super::part_file::PartFile;
use super::{Engine, EventSink, ResultOf, TransferEvent, WRITE_BUFFER_BYTES};
use crate::chunk_writer::{BATCH_BYTES, ChunkWriter, Destination};
use crate::error::TransferError;
use crate::integrity::{Verified, check_download};
use crate::names::local_file_name;

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

/// What one download is of, and where it goes.
pub(super) struct Target<'a> {
    /// The name the result was asked for by.
    pub(super) name: &'a str,
    /// The upload it must be the result of.
    pub(super) of: &'a ResultOf,
    /// The results folder.
    pub(super) dir: &'a Path,
    /// The file's final name in `dir`, from the object's key.
    pub(super) file_name: String,
}

/// A download complete and checked, ready for its final name.
struct Fetched {
    key: String,
    size: u64,
    checksum: Option<ChecksumAlgorithm>,
    verified: Verified,
}

impl Engine {
    /// Downloads the result for `name` into `dir`, failing at once with
    /// [`TransferError::NotReady`] when it is not there yet. Holds a place in the engine's queue,
    /// if it has one, from the request for a URL to the final name.
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
        self.in_turn(cancel, async {
            let answer = self.presign_download(name, of, cancel, events).await?;
            self.save_result(name, of, answer, dir, cancel, events)
                .await
        })
        .await
    }

    /// Downloads the result `answer` (from [`Self::wait_for_result`]) into `dir`, so a caller can
    /// tell the waiting apart from the downloading. Holds a place in the engine's queue, if it has
    /// one.
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
        self.in_turn(
            cancel,
            self.save_result(name, of, answer, dir, cancel, events),
        )
        .await
    }

    /// Fetches `answer` into a part file in `dir` and gives it its final name: in ranges when it
    /// is large enough (`ranged.rs`), else in one stream.
    async fn save_result(
        &self,
        name: &str,
        of: &ResultOf,
        answer: PresignResponse,
        dir: &Path,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Downloaded, TransferError> {
        let target = Target {
            name,
            of,
            dir,
            file_name: local_file_name(&answer.key),
        };
        if self.is_ranged(&answer) {
            return self.save_ranged(&target, answer, cancel, events).await;
        }
        if let Some(folder) = &self.options.resume_dir {
            super::range_journal::forget_earlier(folder, dir, name).await;
        }
        let part = PartFile::create(dir, &target.file_name).await?;
        self.save_stream(&target, answer, part, cancel, events)
            .await
    }

    /// Fetches `answer` in one stream into `part` (empty) and gives it its final name; the part
    /// file is removed on failure.
    pub(super) async fn save_stream(
        &self,
        target: &Target<'_>,
        answer: PresignResponse,
        mut part: PartFile,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Downloaded, TransferError> {
        let result = self
            .fetch_into(target.name, target.of, answer, &mut part, cancel, events)
            .await;
        match result {
            Ok(fetched) => {
                let path = part
                    .finish(fetched.verified, target.dir, &target.file_name)
                    .await?;
                Ok(Downloaded {
                    key: fetched.key,
                    path,
                    size: fetched.size,
                    checksum: fetched.checksum,
                })
            }
            Err(error) => {
                part.discard().await;
                Err(error)
            }
        }
    }

    /// Forgets what a paused, cancelled or failed download of `name` into `dir` kept for a later
    /// run (with [`EngineOptions::resume_dir`](super::EngineOptions::resume_dir)): removes its
    /// part file and its journal, so the next download of it starts from the first byte. For
    /// Cancel and Remove, once the download has ended. Answers whether there was such a download;
    /// nothing to do without a resume folder.
    ///
    /// # Errors
    /// [`TransferError::Io`] when the download is still running (here or in another process) or
    /// a file cannot be removed.
    pub async fn discard_download(&self, name: &str, dir: &Path) -> Result<bool, TransferError> {
        match &self.options.resume_dir {
            Some(folder) => super::range_journal::discard(folder, dir, name).await,
            None => Ok(false),
        }
    }

    /// Fills the part file with the object, resuming with `Range` after a dropped connection and
    /// starting over when the object changed or its checksum does not match. Every retry asks
    /// for a fresh URL.
    async fn fetch_into(
        &self,
        name: &str,
        of: &ResultOf,
        answer: PresignResponse,
        part: &mut PartFile,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Fetched, TransferError> {
        let mut download = DownloadState::new(answer, part, self.clock.now());
        let mut attempts = self.attempts(cancel, events);
        loop {
            let result = self.get_range(&mut download, cancel, events).await;
            let checked = result.and_then(|()| {
                check_download(
                    download.written,
                    download.total,
                    download.expected.as_ref(),
                    &download.hasher,
                )
            });
            match checked {
                Ok(verified) => {
                    let final_progress = download.meter.finish(self.clock.now());
                    events.send(TransferEvent::Progress(final_progress));
                    return Ok(Fetched {
                        key: download.answer.key,
                        size: download.written,
                        checksum: download.expected.map(|e| e.algorithm()),
                        verified,
                    });
                }
                Err(error) => {
                    download.recover_from(&error).await?;
                    attempts.retry_after(error).await?;
                    let fresh = self.presign_download(name, of, cancel, events).await?;
                    download.refresh(fresh, self.clock.now()).await?;
                }
            }
        }
    }

    /// One `GET` from `download.written` to the end, appended to the part file; on success
    /// `download.written` is the part's length.
    async fn get_range(
        &self,
        download: &mut DownloadState<'_>,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<(), TransferError> {
        let offset = download.written;
        let mut request = self.api.http().get(&download.answer.url);
        for (name, value) in &download.answer.headers {
            request = request.header(name, value);
        }
        if offset > 0 {
            request = request.header(RANGE, format!("bytes={offset}-"));
            if let Some(etag) = &download.answer.etag {
                request = request.header(IF_MATCH, format!("\"{etag}\""));
            }
        }
        let no_body_yet = AtomicU64::new(0);
        let response = self
            .watch(
                request.send(),
                &no_body_yet,
                &mut download.meter,
                cancel,
                events,
            )
            .await?
            .map_err(|e| TransferError::from_http(&e))?;
        let status = response.status().as_u16();
        match status {
            200 if offset > 0 => {
                // The server ignored the range: start the file over.
                download.part.truncate().await?;
                download.hasher.reset();
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
        download.written = self
            .append_body(download, response, base, cancel, events)
            .await?;
        Ok(())
    }

    /// Appends `response`'s body to the part file, which holds `base` bytes, hashing it on the
    /// way. Answers the part's length.
    async fn append_body(
        &self,
        download: &mut DownloadState<'_>,
        response: reqwest::Response,
        base: u64,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<u64, TransferError> {
        // Writing and hashing happen on a thread of their own, gathered into large writes, so
        // this task only moves chunks from the socket to the writer's queue.
        let destination = Destination {
            file: download.part.take_file()?.into_std().await,
            path: download.part.path().to_owned(),
            offset: base,
        };
        let writer = ChunkWriter::start(
            destination,
            std::mem::take(&mut download.hasher),
            WRITE_BUFFER_BYTES,
        );
        let moved = AtomicU64::new(0);
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
        let meter = &mut download.meter;
        meter.set(base, self.clock.now());
        // `watch` counts from the meter's value when it starts: the bytes already on disk.
        let copied = self.watch(copy, &moved, meter, cancel, events).await;
        // Whatever stopped the copy, the part file then holds exactly the bytes hashed and
        // counted, so a retry can resume from its length.
        let written = writer.finish().await?;
        download
            .part
            .put_back(tokio::fs::File::from_std(written.file));
        download.hasher = written.hasher;
        written.result?;
        copied??;
        let received = base + written.written;
        // The ticker samples every 100 ms; the final count must not wait for it.
        download.meter.set(received, self.clock.now());
        Ok(received)
    }
}

/// Where the body of a `206` answer starts, from its `Content-Range`.
fn content_range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.strip_prefix("bytes ")?;
    range.split('-').next()?.parse().ok()
}
