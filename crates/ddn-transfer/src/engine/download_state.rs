//! Where a download stands between two attempts, and the rules for going on: resume from the
//! part file's length after a cut, start over when what arrived was damaged or the object was
//! replaced meanwhile.

use std::time::Instant;

use ddn_api::PresignResponse;

use super::part_file::PartFile;
use crate::error::TransferError;
use crate::integrity::{Expected, Hasher};
use crate::progress::ProgressMeter;

/// Where a download stands between two attempts: the URL and what it promised, and what the part
/// file holds so far.
pub(super) struct DownloadState<'p> {
    /// The current URL, with the object's ETag, size and checksum.
    pub(super) answer: PresignResponse,
    /// The checksum the whole object must match, when the service named one.
    pub(super) expected: Option<Expected>,
    /// The object's length.
    pub(super) total: u64,
    /// Bytes in the part file, hashed and counted.
    pub(super) written: u64,
    /// The file the bytes go to.
    pub(super) part: &'p mut PartFile,
    /// The running digest of the bytes in `part`.
    pub(super) hasher: Hasher,
    /// The progress reported to the caller.
    pub(super) meter: ProgressMeter,
}

impl<'p> DownloadState<'p> {
    /// Nothing received yet of the object `answer` offers.
    pub(super) fn new(answer: PresignResponse, part: &'p mut PartFile, now: Instant) -> Self {
        let total = answer.size.unwrap_or(0);
        let expected = Expected::from_answer(answer.checksum.as_ref());
        let hasher = Hasher::for_expected(expected.as_ref());
        Self {
            answer,
            expected,
            total,
            written: 0,
            part,
            hasher,
            meter: ProgressMeter::new(total, now),
        }
    }

    /// Forgets the bytes so far: the next attempt starts from the first byte.
    pub(super) async fn start_over(&mut self) -> Result<(), TransferError> {
        self.written = 0;
        self.hasher = Hasher::for_expected(self.expected.as_ref());
        self.part.truncate().await
    }

    /// Sets where the next attempt starts after `error`: from the first byte when what arrived
    /// was damaged or the object changed (S3's `412` to `If-Match`), else from the part file's
    /// length.
    pub(super) async fn recover_from(
        &mut self,
        error: &TransferError,
    ) -> Result<(), TransferError> {
        if matches!(
            error,
            TransferError::Integrity(_) | TransferError::Storage { status: 412, .. }
        ) {
            self.start_over().await
        } else {
            self.written = self.part.len().await?;
            Ok(())
        }
    }

    /// Goes on with a fresh URL. When it is for another object than the bytes so far (the result
    /// was replaced meanwhile), those belong to the old one, and the download starts over.
    pub(super) async fn refresh(
        &mut self,
        fresh: PresignResponse,
        now: Instant,
    ) -> Result<(), TransferError> {
        if fresh.etag != self.answer.etag
            || fresh.size != self.answer.size
            || fresh.checksum != self.answer.checksum
        {
            self.expected = Expected::from_answer(fresh.checksum.as_ref());
            self.start_over().await?;
            self.total = fresh.size.unwrap_or(0);
            self.meter.restart(self.total, now);
        }
        self.answer = fresh;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ddn_api::{Checksum, ChecksumAlgorithm, HttpMethod};

    use super::*;

    fn answer(etag: &str, size: u64) -> PresignResponse {
        PresignResponse {
            url: "http://127.0.0.1:1/object".into(),
            method: HttpMethod::Get,
            key: "users/dev/scan.png".into(),
            headers: Default::default(),
            expires_at: "2026-12-01T10:00:00Z".into(),
            upload_id: None,
            etag: Some(etag.into()),
            size: Some(size),
            checksum: Some(Checksum {
                algorithm: ChecksumAlgorithm::Md5,
                value: "5d41402abc4b2a76b9719d911017c592".into(),
            }),
        }
    }

    /// A part file in `dir` already holding `bytes`.
    async fn part_holding(dir: &std::path::Path, bytes: &[u8]) -> PartFile {
        let part = PartFile::create(dir, "scan.png").await.unwrap();
        std::fs::write(part.path(), bytes).unwrap();
        part
    }

    #[tokio::test]
    async fn a_cut_resumes_from_what_the_part_file_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = part_holding(dir.path(), b"hel").await;
        let mut download = DownloadState::new(answer("e1", 5), &mut part, Instant::now());
        download
            .recover_from(&TransferError::Connection)
            .await
            .unwrap();
        assert_eq!(download.written, 3);
        // The same object again: the bytes so far are kept.
        download
            .refresh(answer("e1", 5), Instant::now())
            .await
            .unwrap();
        assert_eq!(download.written, 3);
        assert_eq!(std::fs::read(part.path()).unwrap(), b"hel");
    }

    #[tokio::test]
    async fn damage_or_a_changed_object_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let changed = TransferError::Storage {
            status: 412,
            code: Some("PreconditionFailed".into()),
        };
        for error in [TransferError::Integrity("short".into()), changed] {
            let mut part = part_holding(dir.path(), b"hel").await;
            let mut download = DownloadState::new(answer("e1", 5), &mut part, Instant::now());
            download.written = 3;
            download.recover_from(&error).await.unwrap();
            assert_eq!(download.written, 0, "{error:?}");
            assert_eq!(std::fs::read(part.path()).unwrap(), b"", "{error:?}");
        }
    }

    #[tokio::test]
    async fn a_result_replaced_meanwhile_is_downloaded_from_its_first_byte() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = part_holding(dir.path(), b"hel").await;
        let mut download = DownloadState::new(answer("e1", 5), &mut part, Instant::now());
        download.written = 3;
        let mut replaced = answer("e2", 9);
        replaced.checksum = None;
        download.refresh(replaced, Instant::now()).await.unwrap();
        assert_eq!((download.written, download.total), (0, 9));
        assert!(download.expected.is_none(), "the old checksum was kept");
        assert_eq!(download.answer.etag.as_deref(), Some("e2"));
        assert_eq!(std::fs::read(part.path()).unwrap(), b"");
    }
}
