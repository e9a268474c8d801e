//! Multipart uploads: a file too large for one `PUT` (or large enough to gain from parallel
//! streams) sent in parts, several at once, each checked and retried on its own, resumable across
//! restarts through a [`Journal`].
//!
//! The service starts the upload and decides the part plan ([`PartPlan::for_size`], which both
//! sides compute). For each part the engine reads its range once to compute its MD5 and
//! CRC-64/NVME, asks for URLs a batch of parts at a time (each with its MD5 and CRC signed in, so
//! S3 refuses other bytes), then streams the range from the file. S3's answer is checked: its
//! ETag must be the hex MD5 sent (unless the bucket encrypts with KMS or a customer key, whose
//! ETags are not MD5s). The completion names every part's ETag and CRC and the whole file's
//! CRC-64/NVME, combined from the parts' CRCs without reading the file again, which S3 checks
//! against what it assembled.
//!
//! Invariants:
//! - memory per part in flight is a few read buffers ([`PART_READ_BYTES`] ×
//!   the reader's read-ahead, about 1 MiB), never the part: a part is read from the file when it
//!   is hashed and again when it is sent, so nothing is held for a retry (which reads it again);
//! - progress counts only the bytes of parts S3 acknowledged, so it never goes back when a part is
//!   retried;
//! - with a resume folder, each part S3 acknowledged is in the journal before it counts, and a new
//!   upload of the same unchanged file sends only the parts that are both in the journal and
//!   listed by S3 with the same size (and the same ETag when S3 gives one);
//! - an upload is started over at most once per call (`no_such_upload`: S3 no longer holds it), so
//!   a service that keeps forgetting uploads ends in an error, never in a loop;
//! - without a resume folder, an upload that fails or is cancelled is aborted on S3 (nobody could
//!   continue it); with one, it is kept (a pause) until [`Engine::discard_upload`].

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use ddn_api::multipart::{
    CompleteRequest, CompletedPart, MAX_OBJECT_SIZE, MAX_URLS_PER_REQUEST, PartPlan, PartRange,
    PartToSign, PartUrl, StartRequest, StoredPart, UploadRef, UrlsRequest,
};
use ddn_api::{ChecksumAlgorithm, ErrorCode};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use md5::{Digest as _, Md5};
use reqwest::header::{CONTENT_LENGTH, ETAG};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::upload::content_type_for;
use super::{Engine, EventSink, READ_BUFFER_BYTES, StartOverReason, TransferEvent, Uploaded};
use crate::chunk_reader::read_chunks;
use crate::error::TransferError;
use crate::journal::{JobId, Journal, Opened};
use crate::progress::ProgressMeter;

/// Bytes per read while a part is sent. With the reader's few chunks of read-ahead this is what
/// a part in flight holds in memory (about 1 MiB), far below the part itself.
pub const PART_READ_BYTES: usize = 256 * 1024;

/// How long an abort made on the way out (a failed or cancelled upload without a journal, a
/// changed file) may take before it is left to the bucket's rule for abandoned uploads.
const ABORT_ON_THE_WAY_OUT: Duration = Duration::from_secs(10);

/// How often a completion answered `no_such_upload`, after an earlier attempt went unanswered,
/// is asked again before the upload counts as gone: S3 takes up to minutes to assemble a large
/// object, and the service recognises the completed object only once it is there.
const COMPLETION_LOOKS: u32 = 24;

/// The wait between two such looks.
const COMPLETION_LOOK_INTERVAL: Duration = Duration::from_secs(5);

/// What a multipart upload's journal starts with: the upload on S3, and the file it sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadRecord {
    /// The name the file is sent under.
    file: String,
    /// S3's id of the multipart upload.
    multipart_upload_id: String,
    /// The processing contract's id of the upload.
    upload_id: String,
    /// The object key.
    key: String,
    /// How the file is cut.
    plan: PartPlan,
    /// Whether parts carry a CRC-64/NVME (the service named it as the object's checksum).
    crc64nvme: bool,
    /// The file's size and modification time when the upload started.
    stamp: FileStamp,
}

impl UploadRecord {
    fn upload_ref(&self) -> UploadRef {
        UploadRef {
            file: self.file.clone(),
            multipart_upload_id: self.multipart_upload_id.clone(),
        }
    }
}

/// A part S3 acknowledged, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SentPart {
    /// The part number.
    number: u32,
    /// S3's ETag for it, without quotes.
    etag: String,
    /// Base64 of its MD5.
    md5: String,
    /// Base64 of its CRC-64/NVME, big-endian.
    crc64nvme: String,
}

type UploadJournal = Journal<UploadRecord, SentPart>;

/// What tells one version of a file from another without reading it: its size and modification
/// time (nanoseconds since 1970; `None` where the system gives none, which never matches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileStamp {
    size: u64,
    modified_ns: Option<u64>,
}

impl FileStamp {
    async fn of(path: &Path) -> Result<Self, TransferError> {
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| TransferError::io("read", path, e))?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|time| time.duration_since(SystemTime::UNIX_EPOCH).ok())
            .and_then(|since| u64::try_from(since.as_nanos()).ok());
        Ok(Self {
            size: meta.len(),
            modified_ns,
        })
    }

    /// Whether `self` is certainly the same version of the file as `earlier`.
    fn unchanged_since(&self, earlier: &Self) -> bool {
        self.modified_ns.is_some() && self == earlier
    }
}

/// A part's digests, computed from one read of its range.
#[derive(Debug, Clone, Copy)]
struct PartDigest {
    md5: [u8; 16],
    crc: u64,
}

impl PartDigest {
    fn md5_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.md5)
    }

    fn crc_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.crc.to_be_bytes())
    }
}

/// One step of sending parts (preparing a batch, sending a part), boxed so that a plain loop
/// can hold several at once.
type Step<'a, T> = Pin<Box<dyn Future<Output = Result<T, TransferError>> + Send + 'a>>;

/// A part ready to send: its digests and a fresh URL.
struct ReadyPart {
    range: PartRange,
    digest: PartDigest,
    url: PartUrl,
}

/// One multipart upload on S3 being sent: what it is, the journal (when resuming is on) and the
/// parts S3 has acknowledged so far.
struct Session {
    record: UploadRecord,
    journal: Option<Arc<Mutex<UploadJournal>>>,
    done: BTreeMap<u32, SentPart>,
}

/// What every part of one upload shares.
#[derive(Clone, Copy)]
struct Context<'a> {
    path: &'a Path,
    record: &'a UploadRecord,
    journal: Option<&'a Arc<Mutex<UploadJournal>>>,
    cancel: &'a CancellationToken,
    events: &'a dyn EventSink,
}

/// Where an upload's journal lives: the engine's resume folder and the job's identity.
struct JournalPlace {
    dir: PathBuf,
    job: JobId,
}

impl Engine {
    /// Sends the file at `path` as a multipart upload under `name`; see the module's description.
    pub(super) async fn upload_multipart(
        &self,
        path: &Path,
        name: &str,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Uploaded, TransferError> {
        let stamp = FileStamp::of(path).await?;
        if stamp.size > MAX_OBJECT_SIZE {
            return Err(TransferError::TooLarge);
        }
        let place = self.journal_place(path, name);
        let mut may_start_over = true;
        loop {
            let session = self
                .open_session(
                    path,
                    name,
                    stamp,
                    place.as_ref(),
                    &mut may_start_over,
                    cancel,
                    events,
                )
                .await?;
            match self.send_session(path, session, cancel, events).await {
                Err(error) if is_gone(&error) && may_start_over => {
                    may_start_over = false;
                    tracing::info!("S3 no longer holds the multipart upload; starting over");
                    if let Some(place) = &place {
                        discard_journal(place).await;
                    }
                    events.send(TransferEvent::StartedOver {
                        reason: StartOverReason::Expired,
                    });
                }
                outcome => return outcome,
            }
        }
    }

    /// Aborts the multipart upload that an earlier [`Self::upload`] of `path` as `name` left for
    /// resuming (paused, cancelled or cut), so S3 keeps nothing of it, and removes its journal:
    /// the next upload of the file starts from its first byte. Answers whether there was such an
    /// upload. Nothing to do without a resume folder.
    ///
    /// # Errors
    /// [`TransferError::Io`] when the journal cannot be read or removed, or another upload of the
    /// file is running; the service's errors when the abort fails after its retries (the journal
    /// is then kept, so discarding can be tried again).
    pub async fn discard_upload(&self, path: &Path, name: &str) -> Result<bool, TransferError> {
        let Some(place) = self.journal_place(path, name) else {
            return Ok(false);
        };
        match open_journal(&place).await {
            Err(error) => Err(TransferError::io("read the record of", path, error)),
            Ok(Opened::Absent) => Ok(false),
            Ok(Opened::Busy) => Err(busy(path)),
            Ok(Opened::Unusable) => {
                discard_journal(&place).await;
                Ok(false)
            }
            Ok(Opened::Found(journal)) => {
                let upload = journal.header().upload_ref();
                let cancel = CancellationToken::new();
                let quiet = |_: TransferEvent| {};
                let mut attempts = self.attempts(&cancel, &quiet);
                loop {
                    let abort = self.api.abort_multipart(&upload, &cancel);
                    match attempts.attempt(abort).await {
                        Ok(Some(_)) => break,
                        Ok(None) => {}
                        // S3 keeps nothing of an upload it does not know.
                        Err(error) if is_gone(&error) => break,
                        Err(error) => return Err(error),
                    }
                }
                let removed = tokio::task::spawn_blocking(move || journal.remove()).await;
                match removed {
                    Ok(Ok(())) => Ok(true),
                    Ok(Err(error)) => Err(TransferError::io("remove the record of", path, error)),
                    Err(_) => Err(TransferError::io(
                        "remove the record of",
                        path,
                        std::io::Error::other("the removal did not finish"),
                    )),
                }
            }
        }
    }

    /// The journal of the upload of `path` as `name` to this service, when the engine keeps
    /// journals.
    fn journal_place(&self, path: &Path, name: &str) -> Option<JournalPlace> {
        let dir = self.options.resume_dir.clone()?;
        // The same file reached by another relative path is the same job.
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let job = JobId::new([
            self.api.base_url().as_bytes(),
            absolute.as_os_str().as_encoded_bytes(),
            name.as_bytes(),
        ]);
        Some(JournalPlace { dir, job })
    }

    /// The upload to send: the one the journal recorded, when the file is unchanged and S3 still
    /// holds it (with the parts both know of as done), else a new one.
    #[allow(clippy::too_many_arguments)]
    async fn open_session(
        &self,
        path: &Path,
        name: &str,
        stamp: FileStamp,
        place: Option<&JournalPlace>,
        may_start_over: &mut bool,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Session, TransferError> {
        let Some(place) = place else {
            return self
                .new_session(path, name, stamp, None, cancel, events)
                .await;
        };
        let opened = match open_journal(place).await {
            Ok(opened) => opened,
            Err(error) => {
                // A resume folder that cannot be read must not stop the upload: it goes on
                // without one.
                tracing::warn!(%error, "the upload's journal cannot be read; uploading without resume");
                return self
                    .new_session(path, name, stamp, None, cancel, events)
                    .await;
            }
        };
        let journal = match opened {
            Opened::Absent => {
                return self
                    .new_session(path, name, stamp, Some(place), cancel, events)
                    .await;
            }
            Opened::Busy => return Err(busy(path)),
            Opened::Unusable => {
                discard_journal(place).await;
                events.send(TransferEvent::StartedOver {
                    reason: StartOverReason::RecordDamaged,
                });
                return self
                    .new_session(path, name, stamp, Some(place), cancel, events)
                    .await;
            }
            Opened::Found(journal) => journal,
        };
        let record = journal.header().clone();
        let same_file = record.file == name
            && stamp.unchanged_since(&record.stamp)
            && PartPlan::for_size(stamp.size) == Some(record.plan);
        if !same_file {
            tracing::info!(
                "the file changed since its upload began; aborting that upload and starting over"
            );
            self.abort_on_the_way_out(&record.upload_ref()).await;
            remove_journal(journal).await;
            events.send(TransferEvent::StartedOver {
                reason: StartOverReason::FileChanged,
            });
            return self
                .new_session(path, name, stamp, Some(place), cancel, events)
                .await;
        }
        match self.stored_parts(&record, cancel, events).await {
            Ok(stored) => {
                let done = parts_both_know(&record.plan, journal.items(), &stored);
                Ok(Session {
                    record,
                    journal: Some(Arc::new(Mutex::new(journal))),
                    done,
                })
            }
            Err(error) if is_gone(&error) && *may_start_over => {
                *may_start_over = false;
                remove_journal(journal).await;
                events.send(TransferEvent::StartedOver {
                    reason: StartOverReason::Expired,
                });
                self.new_session(path, name, stamp, Some(place), cancel, events)
                    .await
            }
            Err(error) => Err(error),
        }
    }

    /// Starts a new multipart upload on S3 and, with `place`, its journal.
    async fn new_session(
        &self,
        path: &Path,
        name: &str,
        stamp: FileStamp,
        place: Option<&JournalPlace>,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Session, TransferError> {
        let request = StartRequest {
            file: name.to_owned(),
            size: stamp.size,
            content_type: Some(content_type_for(name)),
        };
        let mut attempts = self.attempts(cancel, events);
        let started = loop {
            if let Some(started) = attempts
                .attempt(self.api.start_multipart(&request, cancel))
                .await?
            {
                break started;
            }
        };
        if PartPlan::for_size(stamp.size) != Some(started.plan) {
            // The service cut the file otherwise than the contract says: the parts would not
            // match the lengths it signs. Nothing is sent.
            self.abort_on_the_way_out(&UploadRef {
                file: name.to_owned(),
                multipart_upload_id: started.multipart_upload_id,
            })
            .await;
            return Err(TransferError::Service(200));
        }
        let record = UploadRecord {
            file: name.to_owned(),
            multipart_upload_id: started.multipart_upload_id,
            upload_id: started.upload_id,
            key: started.key,
            plan: started.plan,
            crc64nvme: started.checksum_algorithm == ChecksumAlgorithm::Crc64nvme,
            stamp,
        };
        let journal = match place {
            None => None,
            Some(place) => {
                let dir = place.dir.clone();
                let job = place.job.clone();
                let header = record.clone();
                let created =
                    tokio::task::spawn_blocking(move || UploadJournal::create(&dir, &job, header))
                        .await;
                match created {
                    Ok(Ok(journal)) => Some(Arc::new(Mutex::new(journal))),
                    Ok(Err(error)) if error.kind() == std::io::ErrorKind::WouldBlock => {
                        self.abort_on_the_way_out(&record.upload_ref()).await;
                        return Err(busy(path));
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "the upload's journal cannot be written; uploading without resume");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(
                            "the upload's journal was not written; uploading without resume"
                        );
                        None
                    }
                }
            }
        };
        Ok(Session {
            record,
            journal,
            done: BTreeMap::new(),
        })
    }

    /// Sends what `session` lacks and completes it. Without a journal, an upload that does not
    /// complete is aborted.
    async fn send_session(
        &self,
        path: &Path,
        mut session: Session,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Uploaded, TransferError> {
        let outcome = self
            .send_and_complete(path, &mut session, cancel, events)
            .await;
        match &outcome {
            Ok(_) => {
                if let Some(journal) = session.journal.take() {
                    finish_journal(journal).await;
                }
            }
            // S3 holds nothing to abort, and the caller starts over.
            Err(error) if is_gone(error) => {}
            Err(_) if session.journal.is_none() => {
                self.abort_on_the_way_out(&session.record.upload_ref())
                    .await;
            }
            // Kept for the next upload of the file to continue.
            Err(_) => {}
        }
        outcome
    }

    async fn send_and_complete(
        &self,
        path: &Path,
        session: &mut Session,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Uploaded, TransferError> {
        let plan = session.record.plan;
        let already: u64 = session
            .done
            .keys()
            .filter_map(|n| plan.part(*n))
            .map(|part| part.length)
            .sum();
        let mut meter = if already > 0 {
            events.send(TransferEvent::Resumed {
                already_sent: already,
                total: plan.size,
            });
            ProgressMeter::resumed(plan.size, already, self.clock.now())
        } else {
            ProgressMeter::new(plan.size, self.clock.now())
        };
        let mut relisted = false;
        let answer = loop {
            let missing: Vec<PartRange> = plan
                .parts()
                .filter(|part| !session.done.contains_key(&part.number))
                .collect();
            self.send_parts(path, session, missing, &mut meter, cancel, events)
                .await?;
            let now = FileStamp::of(path).await?;
            if !now.unchanged_since(&session.record.stamp) {
                // Parts read before and after the change would make an object that never
                // existed on disk. Without its journal, the upload is aborted on the way out.
                if let Some(journal) = session.journal.take() {
                    finish_journal(journal).await;
                }
                return Err(TransferError::io(
                    "upload",
                    path,
                    std::io::Error::other(
                        "the file changed while it was being sent; send it again",
                    ),
                ));
            }
            match self
                .complete(&session.record, &session.done, cancel, events)
                .await
            {
                Ok(answer) => break answer,
                Err(TransferError::Refused {
                    code: ErrorCode::InvalidPart,
                    ..
                }) if !relisted => {
                    // S3 lacks a part the engine counted as sent: send again what it lacks.
                    relisted = true;
                    tracing::info!(
                        "S3 refused the completion for a missing part; listing the parts again"
                    );
                    let stored = self.stored_parts(&session.record, cancel, events).await?;
                    let journaled: Vec<SentPart> = session.done.values().cloned().collect();
                    session.done = parts_both_know(&plan, &journaled, &stored);
                    let kept: u64 = session
                        .done
                        .keys()
                        .filter_map(|n| plan.part(*n))
                        .map(|part| part.length)
                        .sum();
                    meter.set(kept, self.clock.now());
                }
                Err(error) => return Err(error),
            }
        };
        events.send(TransferEvent::Progress(meter.finish(self.clock.now())));
        Ok(Uploaded {
            key: answer.key,
            size: plan.size,
            md5_checked: true,
            upload_id: Some(answer.upload_id),
            uploaded_at: Some(answer.uploaded_at),
        })
    }

    /// Sends `parts`, [`EngineOptions::parts_in_flight`](super::EngineOptions) at once, each
    /// retried on its own; records each in the session as S3 acknowledges it.
    async fn send_parts(
        &self,
        path: &Path,
        session: &mut Session,
        parts: Vec<PartRange>,
        meter: &mut ProgressMeter,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<(), TransferError> {
        if parts.is_empty() {
            return Ok(());
        }
        let in_flight = self.options.effective_parts_in_flight();
        let context = Context {
            path,
            record: &session.record,
            journal: session.journal.as_ref(),
            cancel,
            events,
        };
        // URLs are asked for a batch at a time, one batch ahead of the parts going out, so a
        // part never waits for its URL and no URL waits long before its use (they live
        // 15 minutes at most).
        let mut batches: VecDeque<Vec<PartRange>> = parts
            .chunks(in_flight.min(MAX_URLS_PER_REQUEST))
            .map(<[PartRange]>::to_vec)
            .collect();
        // Boxed steps in a plain loop rather than stream adapters: with adapters' closures, the
        // compiler cannot prove the upload's future `Send` for every lifetime (spawning needs it).
        let mut ready: VecDeque<ReadyPart> = VecDeque::new();
        let mut preparing: Option<Step<'_, Vec<ReadyPart>>> = None;
        let mut running: FuturesUnordered<Step<'_, (u64, SentPart)>> = FuturesUnordered::new();
        let mut acknowledged = Vec::new();
        // A count the throttle held back is told on a later tick, so the last part acknowledged
        // before a long wait (the next parts are slow, or stall) is shown all the same.
        let mut ticker = tokio::time::interval(crate::progress::REPORT_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut reported = meter.transferred();
        let outcome = loop {
            while running.len() < in_flight
                && let Some(part) = ready.pop_front()
            {
                running.push(Box::pin(self.send_part(context, part)));
            }
            if preparing.is_none()
                && ready.is_empty()
                && let Some(batch) = batches.pop_front()
            {
                preparing = Some(Box::pin(self.prepare_batch(context, batch)));
            }
            if running.is_empty() && preparing.is_none() {
                break Ok(());
            }
            let counted = tokio::select! {
                prepared = async {
                    match preparing.as_mut() {
                        Some(step) => step.await,
                        None => std::future::pending().await,
                    }
                } => {
                    preparing = None;
                    match prepared {
                        Ok(parts) => ready.extend(parts),
                        Err(error) => break Err(error),
                    }
                    continue;
                }
                next = running.next(), if !running.is_empty() => match next {
                    Some(Ok((length, sent))) => {
                        acknowledged.push(sent);
                        meter.add(length, self.clock.now())
                    }
                    Some(Err(error)) => break Err(error),
                    None => continue,
                },
                _ = ticker.tick() => {
                    let count = meter.transferred();
                    if count == reported {
                        continue;
                    }
                    meter.set(count, self.clock.now())
                }
            };
            if let Some(progress) = counted {
                reported = progress.transferred;
                events.send(TransferEvent::Progress(progress));
            }
        };
        for sent in acknowledged {
            session.done.insert(sent.number, sent);
        }
        outcome
    }

    /// Reads each part of `batch` once for its digests, then asks for their URLs in one request.
    async fn prepare_batch(
        &self,
        context: Context<'_>,
        batch: Vec<PartRange>,
    ) -> Result<Vec<ReadyPart>, TransferError> {
        let mut digests = Vec::with_capacity(batch.len());
        for range in &batch {
            digests.push(digest_part(context.path, *range, context.cancel).await?);
        }
        let to_sign = batch
            .iter()
            .zip(&digests)
            .map(|(range, digest)| part_to_sign(context.record, *range, digest))
            .collect();
        let urls = self.part_urls(context, to_sign).await?;
        Ok(batch
            .into_iter()
            .zip(digests)
            .zip(urls)
            .map(|((range, digest), url)| ReadyPart { range, digest, url })
            .collect())
    }

    /// URLs for `parts`, retried as any service call.
    async fn part_urls(
        &self,
        context: Context<'_>,
        parts: Vec<PartToSign>,
    ) -> Result<Vec<PartUrl>, TransferError> {
        let request = UrlsRequest {
            upload: context.record.upload_ref(),
            size: context.record.plan.size,
            parts,
        };
        let mut attempts = self.attempts(context.cancel, context.events);
        loop {
            let asked = self.api.part_urls(&request, context.cancel);
            if let Some(answer) = attempts.attempt(asked).await? {
                return Ok(answer.parts);
            }
        }
    }

    /// Sends one part until S3 acknowledges it with the right ETag, with a fresh URL for every
    /// retry; then records it. Answers its length and its record.
    async fn send_part(
        &self,
        context: Context<'_>,
        ready: ReadyPart,
    ) -> Result<(u64, SentPart), TransferError> {
        let ReadyPart { range, digest, url } = ready;
        let mut url = Some(url);
        let mut attempts = self.attempts(context.cancel, context.events);
        let etag = loop {
            let attempt = async {
                let url = match url.take() {
                    Some(url) => url,
                    None => {
                        let to_sign = vec![part_to_sign(context.record, range, &digest)];
                        let mut urls = self.part_urls(context, to_sign).await?;
                        urls.pop().ok_or(TransferError::Service(200))?
                    }
                };
                self.put_part(context, range, &digest, &url).await
            };
            if let Some(etag) = attempts.attempt(attempt).await? {
                break etag;
            }
        };
        let sent = SentPart {
            number: range.number,
            etag,
            md5: digest.md5_base64(),
            crc64nvme: digest.crc_base64(),
        };
        if let Some(journal) = context.journal {
            let journal = Arc::clone(journal);
            let item = sent.clone();
            let recorded = tokio::task::spawn_blocking(move || {
                journal
                    .lock()
                    .map_err(|_| std::io::Error::other("the journal's lock was poisoned"))?
                    .append(item)
            })
            .await;
            if !matches!(recorded, Ok(Ok(()))) {
                // The part is on S3 all the same; only a later resume would send it again.
                tracing::warn!(
                    part = range.number,
                    "a sent part could not be recorded for resuming"
                );
            }
        }
        Ok((range.length, sent))
    }

    /// One attempt at one part: the range streamed from the file with its signed headers.
    /// Answers S3's ETag, checked against the MD5 sent.
    async fn put_part(
        &self,
        context: Context<'_>,
        range: PartRange,
        digest: &PartDigest,
        url: &PartUrl,
    ) -> Result<String, TransferError> {
        if url.part_number != range.number
            || url
                .headers
                .get("content-length")
                .is_some_and(|length| length.parse::<u64>().ok() != Some(range.length))
        {
            // Signed for other bytes than the part: S3 would refuse it, or store the wrong part.
            return Err(TransferError::Service(200));
        }
        let path = context.path;
        let mut file = std::fs::File::open(path).map_err(|e| TransferError::io("read", path, e))?;
        file.seek(SeekFrom::Start(range.offset))
            .map_err(|e| TransferError::io("read", path, e))?;
        let sent = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        let stream = read_chunks(file.take(range.length), PART_READ_BYTES).inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        });
        let mut request = self
            .api
            .http()
            .put(&url.url)
            .header(CONTENT_LENGTH, range.length);
        for (name, value) in &url.headers {
            if !name.eq_ignore_ascii_case("content-length") {
                request = request.header(name, value);
            }
        }
        let send = request.body(reqwest::Body::wrap_stream(stream)).send();
        let response = self
            .unless_stalled(send, &sent, context.cancel)
            .await?
            .map_err(|e| TransferError::from_http(&e))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(crate::body::storage_error(
                status,
                response,
                self.options.stall_timeout,
                context.cancel,
            )
            .await);
        }
        acknowledged_etag(range.number, response.headers(), &digest.md5)
    }

    /// Every part S3 holds of the session's upload, retried as any service call.
    async fn stored_parts(
        &self,
        record: &UploadRecord,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Vec<StoredPart>, TransferError> {
        let upload = record.upload_ref();
        let mut attempts = self.attempts(cancel, events);
        loop {
            if let Some(parts) = attempts
                .attempt(self.api.list_parts(&upload, cancel))
                .await?
            {
                return Ok(parts);
            }
        }
    }

    /// Completes the upload from `done` (every part of the plan), with the whole file's
    /// CRC-64/NVME combined from the parts'.
    async fn complete(
        &self,
        record: &UploadRecord,
        done: &BTreeMap<u32, SentPart>,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<ddn_api::multipart::CompleteResponse, TransferError> {
        let parts: Vec<CompletedPart> = done
            .values()
            .map(|sent| CompletedPart {
                part_number: sent.number,
                etag: sent.etag.clone(),
                crc64nvme: record.crc64nvme.then(|| sent.crc64nvme.clone()),
            })
            .collect();
        let crc64nvme = if record.crc64nvme {
            Some(whole_crc(&record.plan, done).ok_or_else(|| {
                TransferError::UploadDamaged("a part's recorded checksum is unreadable".into())
            })?)
        } else {
            None
        };
        let request = CompleteRequest {
            upload: record.upload_ref(),
            upload_id: record.upload_id.clone(),
            parts,
            crc64nvme,
        };
        let mut attempts = self.attempts(cancel, events);
        // Whether an earlier attempt may have reached S3 without its answer reaching here (a
        // timeout, a cut connection, a gateway's 5xx): S3 may then be assembling the object, and
        // until it is done it holds neither the upload nor the object with the upload's id, so
        // `no_such_upload` is not yet the last word.
        let mut unanswered = false;
        let mut lingered = 0;
        loop {
            match self.api.complete_multipart(&request, cancel).await {
                Ok(answer) => return Ok(answer),
                Err(error) if is_gone(&error) && unanswered && lingered < COMPLETION_LOOKS => {
                    lingered += 1;
                    tracing::info!(
                        lingered,
                        "an earlier completion may still be under way; asking again"
                    );
                    super::sleep_or_cancel(COMPLETION_LOOK_INTERVAL, cancel).await?;
                }
                Err(error) => {
                    unanswered |= error.is_retryable();
                    attempts.retry_after(error).await?;
                }
            }
        }
    }

    /// Aborts `upload` on the way out of a failed, cancelled or replaced upload: best effort, in
    /// bounded time, whether or not the caller cancelled (the bucket's rule for abandoned uploads
    /// removes what this leaves).
    async fn abort_on_the_way_out(&self, upload: &UploadRef) {
        let cancel = CancellationToken::new();
        let abort = self.api.abort_multipart(upload, &cancel);
        match tokio::time::timeout(ABORT_ON_THE_WAY_OUT, abort).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "a multipart upload could not be aborted"),
            Err(_) => tracing::warn!("aborting a multipart upload took too long"),
        }
    }
}

/// Whether `error` says S3 no longer holds the multipart upload: the service's
/// `no_such_upload`, or S3's own `NoSuchUpload` to a part.
fn is_gone(error: &TransferError) -> bool {
    match error {
        TransferError::Refused { code, .. } => *code == ErrorCode::NoSuchUpload,
        TransferError::Storage { status: 404, code } => code.as_deref() == Some("NoSuchUpload"),
        _ => false,
    }
}

/// Another process (or another upload in this one) is sending this file with its journal.
fn busy(path: &Path) -> TransferError {
    TransferError::io(
        "resume the upload of",
        path,
        std::io::Error::other("another upload of this file is running"),
    )
}

/// What to sign into a part's URL.
fn part_to_sign(record: &UploadRecord, range: PartRange, digest: &PartDigest) -> PartToSign {
    PartToSign {
        part_number: range.number,
        md5: Some(digest.md5_base64()),
        crc64nvme: record.crc64nvme.then(|| digest.crc_base64()),
    }
}

/// The parts that count as done on a resume: recorded in the journal *and* listed by S3 with the
/// plan's size (and the recorded ETag and CRC when S3 gives them). The journal alone could name a
/// part S3 dropped; S3's list alone could name a part whose acknowledgement never arrived.
fn parts_both_know(
    plan: &PartPlan,
    journaled: &[SentPart],
    stored: &[StoredPart],
) -> BTreeMap<u32, SentPart> {
    let stored: BTreeMap<u32, &StoredPart> = stored.iter().map(|p| (p.part_number, p)).collect();
    journaled
        .iter()
        .filter(|sent| {
            let (Some(range), Some(on_s3)) = (plan.part(sent.number), stored.get(&sent.number))
            else {
                return false;
            };
            on_s3.size == range.length
                && (on_s3.etag.is_empty() || on_s3.etag.trim_matches('"') == sent.etag)
                && on_s3
                    .crc64nvme
                    .as_ref()
                    .is_none_or(|crc| *crc == sent.crc64nvme)
        })
        .map(|sent| (sent.number, sent.clone()))
        .collect()
}

/// The whole file's CRC-64/NVME (base64, big-endian) from every part's, in order; `None` when a
/// part is missing or its recorded CRC is unreadable.
fn whole_crc(plan: &PartPlan, done: &BTreeMap<u32, SentPart>) -> Option<String> {
    let mut whole: Option<u64> = None;
    for range in plan.parts() {
        let crc = decode_crc(&done.get(&range.number)?.crc64nvme)?;
        whole = Some(match whole {
            None => crc,
            Some(before) => crc_fast::checksum_combine(
                crc_fast::CrcAlgorithm::Crc64Nvme,
                before,
                crc,
                range.length,
            ),
        });
    }
    whole.map(|crc| base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes()))
}

fn decode_crc(text: &str) -> Option<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// The ETag S3 answered a part with, when it is the part's MD5 (or cannot be, because the bucket
/// encrypts with KMS or a customer key, whose ETags are something else).
fn acknowledged_etag(
    number: u32,
    headers: &reqwest::header::HeaderMap,
    md5: &[u8; 16],
) -> Result<String, TransferError> {
    let etag = headers
        .get(ETAG)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().trim_matches('"').to_owned())
        .filter(|etag| !etag.is_empty())
        .ok_or_else(|| TransferError::UploadDamaged(format!("part {number} got no ETag")))?;
    let not_md5 = headers
        .get("x-amz-server-side-encryption")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|kind| kind.starts_with("aws:kms"))
        || headers.contains_key("x-amz-server-side-encryption-customer-algorithm");
    if not_md5 || etag.eq_ignore_ascii_case(&hex::encode(md5)) {
        Ok(etag)
    } else {
        Err(TransferError::UploadDamaged(format!(
            "part {number}'s ETag is not the MD5 of what was sent"
        )))
    }
}

/// Reads `range` of the file once, on the blocking pool, for its MD5 and CRC-64/NVME.
async fn digest_part(
    path: &Path,
    range: PartRange,
    cancel: &CancellationToken,
) -> Result<PartDigest, TransferError> {
    let owned = path.to_owned();
    let cancel = cancel.clone();
    let digest = tokio::task::spawn_blocking(move || -> Result<PartDigest, TransferError> {
        let path = owned.as_path();
        let mut file = std::fs::File::open(path).map_err(|e| TransferError::io("read", path, e))?;
        file.seek(SeekFrom::Start(range.offset))
            .map_err(|e| TransferError::io("read", path, e))?;
        let mut md5 = Md5::new();
        let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
        let mut buffer = vec![0u8; READ_BUFFER_BYTES];
        let mut left = range.length;
        while left > 0 {
            if cancel.is_cancelled() {
                return Err(TransferError::Cancelled);
            }
            let want = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(buffer.len());
            let n = match file.read(&mut buffer[..want]) {
                Ok(0) => {
                    return Err(TransferError::io(
                        "read",
                        path,
                        std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the file became shorter while it was being sent",
                        ),
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(TransferError::io("read", path, e)),
            };
            md5.update(&buffer[..n]);
            crc.update(&buffer[..n]);
            left -= n as u64;
        }
        Ok(PartDigest {
            md5: md5.finalize().into(),
            crc: crc.finalize(),
        })
    })
    .await;
    digest.unwrap_or_else(|_| {
        Err(TransferError::io(
            "read",
            path,
            std::io::Error::other("reading the file did not finish"),
        ))
    })
}

/// Opens the journal at `place` on the blocking pool.
async fn open_journal(place: &JournalPlace) -> std::io::Result<Opened<UploadRecord, SentPart>> {
    let dir = place.dir.clone();
    let job = place.job.clone();
    tokio::task::spawn_blocking(move || UploadJournal::open(&dir, &job))
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("opening the journal did not finish")))
}

/// Removes the journal at `place`, whatever it holds; a failure is logged (a stale journal is
/// found unusable or changed next time, never trusted blindly).
async fn discard_journal(place: &JournalPlace) {
    let dir = place.dir.clone();
    let job = place.job.clone();
    let removed = tokio::task::spawn_blocking(move || UploadJournal::discard(&dir, &job)).await;
    if !matches!(removed, Ok(Ok(()))) {
        tracing::warn!("an upload's journal could not be removed");
    }
}

/// Removes an open journal; a failure is logged.
async fn remove_journal(journal: UploadJournal) {
    let removed = tokio::task::spawn_blocking(move || journal.remove()).await;
    if !matches!(removed, Ok(Ok(()))) {
        tracing::warn!("an upload's journal could not be removed");
    }
}

/// Removes the session's journal once nothing else holds it.
async fn finish_journal(journal: Arc<Mutex<UploadJournal>>) {
    match Arc::try_unwrap(journal).map(Mutex::into_inner) {
        Ok(Ok(journal)) => remove_journal(journal).await,
        _ => tracing::warn!("an upload's journal is still in use and was not removed"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn sent(number: u32, etag: &str, crc: &str) -> SentPart {
        SentPart {
            number,
            etag: etag.into(),
            md5: String::new(),
            crc64nvme: crc.into(),
        }
    }

    fn stored(number: u32, size: u64, etag: &str, crc: Option<&str>) -> StoredPart {
        StoredPart {
            part_number: number,
            size,
            etag: etag.into(),
            crc64nvme: crc.map(str::to_owned),
        }
    }

    #[test]
    fn a_part_is_done_only_when_the_journal_and_s3_agree() {
        // Three parts: 8, 8 and 4 MiB.
        let plan = PartPlan::for_size(20 * MIB).unwrap();
        let journaled = [
            sent(1, "aa", "c1"),
            sent(2, "bb", "c2"),
            sent(3, "cc", "c3"),
        ];
        let cases: [(&str, Vec<StoredPart>, Vec<u32>); 7] = [
            (
                "S3 holds all three",
                vec![
                    stored(1, 8 * MIB, "aa", None),
                    stored(2, 8 * MIB, "\"bb\"", Some("c2")),
                    stored(3, 4 * MIB, "cc", None),
                ],
                vec![1, 2, 3],
            ),
            (
                "S3 gives no ETags (s3s-fs)",
                vec![stored(1, 8 * MIB, "", None), stored(3, 4 * MIB, "", None)],
                vec![1, 3],
            ),
            ("S3 lost one", vec![stored(2, 8 * MIB, "bb", None)], vec![2]),
            ("another size", vec![stored(1, 5 * MIB, "aa", None)], vec![]),
            ("another ETag", vec![stored(1, 8 * MIB, "zz", None)], vec![]),
            (
                "another CRC",
                vec![stored(1, 8 * MIB, "aa", Some("c9"))],
                vec![],
            ),
            ("nothing on S3", vec![], vec![]),
        ];
        for (what, on_s3, expected) in cases {
            let done = parts_both_know(&plan, &journaled, &on_s3);
            assert_eq!(done.keys().copied().collect::<Vec<_>>(), expected, "{what}");
        }
        // A part S3 holds that the journal never recorded is sent again.
        let done = parts_both_know(
            &plan,
            &journaled[..1],
            &[
                stored(1, 8 * MIB, "aa", None),
                stored(2, 8 * MIB, "bb", None),
            ],
        );
        assert_eq!(done.keys().copied().collect::<Vec<_>>(), [1]);
        // A recorded part outside the plan never counts.
        let done = parts_both_know(
            &plan,
            &[sent(4, "dd", "c4")],
            &[stored(4, 4 * MIB, "dd", None)],
        );
        assert!(done.is_empty());
    }

    #[test]
    fn the_whole_crc_is_combined_from_the_parts() {
        let data: Vec<u8> = (0..(20 * MIB) as usize)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let plan = PartPlan::for_size(data.len() as u64).unwrap();
        let mut done = BTreeMap::new();
        for range in plan.parts() {
            let bytes = &data[range.offset as usize..(range.offset + range.length) as usize];
            let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, bytes);
            let crc = base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes());
            done.insert(range.number, sent(range.number, "e", &crc));
        }
        let whole = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, &data);
        assert_eq!(
            whole_crc(&plan, &done),
            Some(base64::engine::general_purpose::STANDARD.encode(whole.to_be_bytes()))
        );
        done.remove(&2);
        assert_eq!(whole_crc(&plan, &done), None);
    }

    #[test]
    fn etags_must_be_the_md5_sent_unless_the_bucket_encrypts_with_keys() {
        let md5: [u8; 16] = Md5::digest(b"part").into();
        let hex = hex::encode(md5);
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut map = reqwest::header::HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().unwrap());
            }
            map
        };
        let quoted = format!("\"{hex}\"");
        assert_eq!(
            acknowledged_etag(1, &headers(&[("etag", quoted.as_str())]), &md5).unwrap(),
            hex
        );
        let wrong = "\"0123456789abcdef0123456789abcdef\"";
        let refused = [
            headers(&[("etag", wrong)]),
            headers(&[("etag", wrong), ("x-amz-server-side-encryption", "AES256")]),
            headers(&[]),
            headers(&[("etag", "\"\"")]),
        ];
        for map in refused {
            assert!(
                matches!(
                    acknowledged_etag(2, &map, &md5),
                    Err(TransferError::UploadDamaged(_))
                ),
                "{map:?}"
            );
        }
        let encrypted = [
            headers(&[("etag", wrong), ("x-amz-server-side-encryption", "aws:kms")]),
            headers(&[
                ("etag", wrong),
                ("x-amz-server-side-encryption", "aws:kms:dsse"),
            ]),
            headers(&[
                ("etag", wrong),
                ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
            ]),
        ];
        for map in encrypted {
            assert!(acknowledged_etag(3, &map, &md5).is_ok(), "{map:?}");
        }
    }

    #[test]
    fn a_file_with_no_modification_time_is_never_taken_as_unchanged() {
        let stamp = FileStamp {
            size: 10,
            modified_ns: Some(5),
        };
        assert!(stamp.unchanged_since(&stamp));
        assert!(!FileStamp { size: 11, ..stamp }.unchanged_since(&stamp));
        assert!(
            !FileStamp {
                modified_ns: Some(6),
                ..stamp
            }
            .unchanged_since(&stamp)
        );
        let unknown = FileStamp {
            modified_ns: None,
            ..stamp
        };
        assert!(!unknown.unchanged_since(&unknown));
    }

    #[tokio::test]
    async fn a_part_is_digested_from_its_own_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let range = PartRange {
            number: 2,
            offset: 1_000_000,
            length: 1_500_000,
        };
        let digest = digest_part(&path, range, &CancellationToken::new())
            .await
            .unwrap();
        let bytes = &data[1_000_000..2_500_000];
        assert_eq!(digest.md5, <[u8; 16]>::from(Md5::digest(bytes)));
        assert_eq!(
            digest.crc,
            crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, bytes)
        );
        // A range past the end of the file (it became shorter) is an error, not a short part.
        let beyond = PartRange {
            offset: 2_000_000,
            ..range
        };
        assert!(matches!(
            digest_part(&path, beyond, &CancellationToken::new()).await,
            Err(TransferError::Io { .. })
        ));
    }
}
