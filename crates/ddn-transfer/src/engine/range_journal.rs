//! What a download in ranges keeps for the next run: a journal (`crate::journal`) in the engine's
//! resume folder, one per result name and results folder, that names the object (key, ETag,
//! size, checksum), the part file and the range size, then lists each finished range (offset,
//! length, and its CRC when the object's checksum is one).
//!
//! Invariants:
//! - a range is recorded only once its bytes are synced to the part file (the download syncs the
//!   file before it hands finished ranges to [`RangeJournal::record`], and the journal syncs
//!   each line), so a crash never leaves a recorded range unwritten;
//! - a run goes on with what an earlier one kept only when the object is the same (key, ETag,
//!   size and checksum) and the part file is there with the object's length; anything else starts
//!   over, and the old part file is removed;
//! - a kept range whose CRC is known is read back and checked before it is trusted, so a part
//!   file damaged between runs has that range fetched again; without a CRC, a damaged range is
//!   caught by the whole-object check when the checksum is an MD5 or SHA, and not at all when the
//!   service names no checksum (only lengths and the ETag are checked then);
//! - starting over writes the journal's new header before the part file is emptied, so no line
//!   of the old run ever describes the new one's bytes.
//!
//! The journal's calls block; they run on the blocking pool here.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ddn_api::{Checksum, PresignResponse};
use serde::{Deserialize, Serialize};

use super::part_file::{PartFile, remove_kept};
use super::ranged::{Span, range_size, spans};
use super::{EventSink, StartOverReason, TransferEvent};
use crate::error::TransferError;
use crate::integrity::{Expected, RangeOnDisk, range_intact};
use crate::journal::{JobId, Journal, Opened};

/// The first line of a download's journal: the object and where its bytes go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    /// The object's key.
    key: String,
    /// Its ETag, which every range was asked for with `If-Match`.
    etag: String,
    /// Its length.
    size: u64,
    /// The whole-object checksum the service named.
    checksum: Option<Checksum>,
    /// The part file's name in the results folder.
    part: String,
    /// The length of every range but the last.
    range_size: u64,
}

impl Header {
    /// Whether `answer` offers the object this journal describes.
    fn describes(&self, answer: &PresignResponse) -> bool {
        answer.key == self.key
            && answer.etag.as_deref() == Some(self.etag.as_str())
            && answer.size == Some(self.size)
            && answer.checksum == self.checksum
    }
}

/// One line per finished range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    offset: u64,
    length: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crc: Option<u64>,
}

type DownloadJournal = Journal<Header, Line>;

/// The journal of one download while it runs, locked against other processes.
pub(super) struct RangeJournal {
    journal: Arc<Mutex<DownloadJournal>>,
    folder: PathBuf,
    job: JobId,
}

/// What a download in ranges starts from: its part file, its journal (when the engine keeps
/// them and no other process runs the same download), the ranges already on disk, and the range
/// size.
pub(super) struct Start {
    /// The part file, kept when dropped while `journal` records it.
    pub(super) part: PartFile,
    /// Where finished ranges are recorded, if anywhere.
    pub(super) journal: Option<RangeJournal>,
    /// Ranges on disk from an earlier run, checked.
    pub(super) kept: Vec<RangeOnDisk>,
    /// The length of every range but the last.
    pub(super) range_size: u64,
}

/// The journal's identity: a download of `name` into `dir` (made absolute, so the same folder
/// named two ways is one download).
fn job_of(dir: &Path, name: &str) -> JobId {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    JobId::new([
        b"download".as_slice(),
        dir.as_os_str().as_encoded_bytes(),
        name.as_bytes(),
    ])
}

/// Runs a blocking journal call on the blocking pool.
async fn blocking<T: Send + 'static>(
    folder: &Path,
    call: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, TransferError> {
    let lost = || std::io::Error::other("the journal's thread stopped unexpectedly");
    let outcome = tokio::task::spawn_blocking(call)
        .await
        .unwrap_or_else(|_| Err(lost()));
    outcome.map_err(|e| TransferError::io("write", folder, e))
}

/// Sets up a download in ranges of `answer` (ranged: it has an ETag and a size) into `dir`,
/// from what an earlier run kept in `resume` when it describes the same object, else afresh.
/// Without `resume`, or when another process runs this download, there is no journal and the part
/// file is removed when dropped. A journal that cannot be gone on from is reported as
/// [`TransferEvent::StartedOver`].
///
/// # Errors
/// [`TransferError::Io`] when the part file cannot be made or opened. A journal that cannot be
/// read or written only costs the resume: the download goes on without one.
pub(super) async fn start(
    resume: Option<&Path>,
    dir: &Path,
    name: &str,
    file_name: &str,
    answer: &PresignResponse,
    preferred_range_size: u64,
    events: &dyn EventSink,
) -> Result<Start, TransferError> {
    let size = answer.size.unwrap_or(0);
    let range_size = range_size(size, preferred_range_size);
    let Some(folder) = resume else {
        return fresh(dir, file_name, size, range_size).await;
    };
    let job = job_of(dir, name);
    let opened = {
        let (folder, job) = (folder.to_owned(), job.clone());
        blocking(&folder.clone(), move || {
            DownloadJournal::open(&folder, &job)
        })
        .await
    };
    let started_over = |reason| events.send(TransferEvent::StartedOver { reason });
    match opened {
        Ok(Opened::Found(journal)) => {
            if !journal.header().describes(answer) {
                // The earlier run's object is no longer the result.
                started_over(StartOverReason::Expired);
            } else if let Some(start) = go_on(journal, folder, &job, dir, answer).await? {
                return Ok(start);
            } else {
                // Its part file is gone, or not the length it left.
                started_over(StartOverReason::RecordDamaged);
            }
        }
        Ok(Opened::Busy) => {
            tracing::info!("another process is downloading this result; not resuming");
            return fresh(dir, file_name, size, range_size).await;
        }
        Ok(Opened::Unusable) => started_over(StartOverReason::RecordDamaged),
        Ok(Opened::Absent) => {}
        Err(error) => {
            tracing::warn!(%error, "the download's journal cannot be read; not resuming");
            return fresh(dir, file_name, size, range_size).await;
        }
    }
    // A journal of another object (or of none): its part file goes, and this one starts afresh.
    forget(folder, &job, dir).await;
    let mut start = fresh(dir, file_name, size, range_size).await?;
    let header = Header {
        key: answer.key.clone(),
        etag: answer.etag.clone().unwrap_or_default(),
        size,
        checksum: answer.checksum.clone(),
        part: start.part.name(),
        range_size,
    };
    start.journal = RangeJournal::create(folder, &job, header).await;
    if start.journal.is_some() {
        start.part.keep(true);
    }
    Ok(start)
}

/// A new part file of the object's length, no journal, nothing kept.
async fn fresh(
    dir: &Path,
    file_name: &str,
    size: u64,
    range_size: u64,
) -> Result<Start, TransferError> {
    let mut part = PartFile::create(dir, file_name).await?;
    part.set_len(size).await?;
    Ok(Start {
        part,
        journal: None,
        kept: Vec::new(),
        range_size,
    })
}

/// Goes on from `journal`, which describes the object `answer` offers: reopens its part file
/// and keeps the recorded ranges that are whole (checked against their CRCs when known). `None`
/// when the part file is gone or not the object's length.
async fn go_on(
    journal: DownloadJournal,
    folder: &Path,
    job: &JobId,
    dir: &Path,
    answer: &PresignResponse,
) -> Result<Option<Start>, TransferError> {
    let header = journal.header().clone();
    let Some(mut part) = PartFile::reopen(dir, &header.part).await? else {
        return Ok(None);
    };
    let on_disk = tokio::fs::metadata(part.path()).await.map(|m| m.len());
    if on_disk.ok() != Some(header.size) {
        // Not what this download left: drop the handle without removing the file, which the
        // caller removes by its name.
        return Ok(None);
    }
    let planned: Vec<Span> = spans(header.size, header.range_size).collect();
    let mut kept: Vec<RangeOnDisk> = Vec::new();
    for line in journal.items() {
        let range = RangeOnDisk {
            offset: line.offset,
            length: line.length,
            crc: line.crc,
        };
        // Only whole planned ranges count, each once.
        let planned_range = planned
            .iter()
            .any(|span| span.offset == range.offset && span.length == range.length);
        if planned_range && !kept.iter().any(|k| k.offset == range.offset) {
            kept.push(range);
        }
    }
    let expected = Expected::from_answer(answer.checksum.as_ref());
    if expected
        .as_ref()
        .and_then(Expected::crc_algorithm)
        .is_some()
    {
        let path = part.path().to_owned();
        let checked = blocking(folder, move || {
            let mut intact = Vec::new();
            for range in kept {
                if range_intact(&path, &range, expected.as_ref())? {
                    intact.push(range);
                } else {
                    tracing::warn!(
                        offset = range.offset,
                        "a kept range no longer has its CRC; fetching it again"
                    );
                }
            }
            Ok(intact)
        });
        kept = checked.await?;
    }
    part.keep(true);
    Ok(Some(Start {
        part,
        journal: Some(RangeJournal {
            journal: Arc::new(Mutex::new(journal)),
            folder: folder.to_owned(),
            job: job.clone(),
        }),
        kept,
        range_size: header.range_size,
    }))
}

/// Removes the journal of a download of `name` into `dir` and the part file it names, for a
/// download discarded by the user. Answers whether there was one.
///
/// # Errors
/// [`TransferError::Io`] when the download is running (in this process or another) or a file
/// cannot be removed.
pub(super) async fn discard(folder: &Path, dir: &Path, name: &str) -> Result<bool, TransferError> {
    let job = job_of(dir, name);
    let opened = {
        let (folder, job) = (folder.to_owned(), job.clone());
        blocking(&folder.clone(), move || {
            DownloadJournal::open(&folder, &job)
        })
        .await?
    };
    match opened {
        Opened::Found(journal) => {
            remove_kept(dir, &journal.header().part).await?;
            blocking(folder, move || journal.remove()).await?;
            Ok(true)
        }
        Opened::Unusable => {
            let (folder, job) = (folder.to_owned(), job.clone());
            blocking(&folder.clone(), move || {
                DownloadJournal::discard(&folder, &job)
            })
            .await?;
            Ok(false)
        }
        Opened::Absent => Ok(false),
        Opened::Busy => Err(TransferError::io(
            "discard",
            dir.join(name),
            std::io::Error::new(
                std::io::ErrorKind::ResourceBusy,
                "the download is still running",
            ),
        )),
    }
}

/// Removes what an earlier download in ranges of `name` into `dir` kept, best effort: for a
/// download of it in one stream (the result is now below the threshold), which has no use for it.
/// Left alone while another process runs that download.
pub(super) async fn forget_earlier(folder: &Path, dir: &Path, name: &str) {
    forget(folder, &job_of(dir, name), dir).await;
}

/// [`discard`], best effort: for a download about to start afresh.
async fn forget(folder: &Path, job: &JobId, dir: &Path) {
    let (owned_folder, owned_job) = (folder.to_owned(), job.clone());
    let opened = blocking(folder, move || {
        DownloadJournal::open(&owned_folder, &owned_job)
    })
    .await;
    match opened {
        Ok(Opened::Found(journal)) => {
            let _ = remove_kept(dir, &journal.header().part).await;
            let _ = blocking(folder, move || journal.remove()).await;
        }
        Ok(Opened::Unusable) => {
            let (folder, job) = (folder.to_owned(), job.clone());
            let _ = blocking(&folder.clone(), move || {
                DownloadJournal::discard(&folder, &job)
            })
            .await;
        }
        _ => {}
    }
}

impl RangeJournal {
    /// Creates the journal with `header` and no ranges; `None` (logged) when it cannot be written,
    /// and the download then goes on without one.
    async fn create(folder: &Path, job: &JobId, header: Header) -> Option<Self> {
        let (owned_folder, owned_job) = (folder.to_owned(), job.clone());
        let created = blocking(folder, move || {
            DownloadJournal::create(&owned_folder, &owned_job, header)
        })
        .await;
        match created {
            Ok(journal) => Some(Self {
                journal: Arc::new(Mutex::new(journal)),
                folder: folder.to_owned(),
                job: job.clone(),
            }),
            Err(error) => {
                tracing::warn!(%error, "the download's journal cannot be written; not resumable");
                None
            }
        }
    }

    /// Records a finished range, whose bytes the caller has synced to disk. A line that cannot be written only
    /// means the range is fetched again after a restart, so that is logged, not an error.
    pub(super) async fn record(&self, range: RangeOnDisk) {
        let journal = Arc::clone(&self.journal);
        let line = Line {
            offset: range.offset,
            length: range.length,
            crc: range.crc,
        };
        let appended = blocking(&self.folder, move || lock(&journal).append(line)).await;
        if let Err(error) = appended {
            tracing::warn!(%error, "a finished range could not be recorded");
        }
    }

    /// Starts the journal over for the object `answer` offers, with no range recorded, before
    /// the caller empties the part file `part_name`. `None` when it cannot be written.
    pub(super) async fn restart(
        self,
        answer: &PresignResponse,
        part_name: String,
        range_size: u64,
    ) -> Option<Self> {
        let header = Header {
            key: answer.key.clone(),
            etag: answer.etag.clone().unwrap_or_default(),
            size: answer.size.unwrap_or(0),
            checksum: answer.checksum.clone(),
            part: part_name,
            range_size,
        };
        let Self {
            journal,
            folder,
            job,
        } = self;
        // The old file's lock goes with it; the new one is locked as it is created.
        drop(journal);
        Self::create(&folder, &job, header).await
    }

    /// Removes the journal: the download is done, or will not be resumed.
    pub(super) async fn remove(self) {
        let Self {
            journal,
            folder,
            job,
        } = self;
        let owned_folder = folder.clone();
        let removed = blocking(&folder, move || match Arc::try_unwrap(journal) {
            Ok(journal) => journal
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(),
            // Still shared (it is not, once the ranges are done): removed by its name.
            Err(_) => DownloadJournal::discard(&owned_folder, &job),
        })
        .await;
        if let Err(error) = removed {
            tracing::warn!(%error, "a download's journal could not be removed");
        }
    }
}

/// The journal behind its lock; a panic while it was held leaves nothing half-done in it (each
/// append is one write), so a poisoned lock is taken as it is.
fn lock(journal: &Mutex<DownloadJournal>) -> std::sync::MutexGuard<'_, DownloadJournal> {
    journal.lock().unwrap_or_else(PoisonError::into_inner)
}
