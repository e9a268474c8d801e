//! The multipart uploads the layer knows are open, each with the parts it holds, and the pages
//! `ListParts` and `ListMultipartUploads` answer from them.
//!
//! Kept in memory only: the stack is one process, and a restarted stack forgets its uploads (and
//! removes their files, see `fs_layout`), as a lifecycle rule's abort would.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use s3s::{S3Error, s3_error};

use super::checksums::{Algorithm, Sums};

/// S3's answer for an upload id it does not hold for that bucket and key.
pub(super) fn no_such_upload() -> S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

/// How a multipart object's checksum is made from its parts' (`x-amz-checksum-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChecksumKind {
    /// The checksum of the whole object's bytes (the CRCs combine to it).
    FullObject,
    /// A checksum of the parts' checksums, with the part count after a dash.
    Composite,
}

impl ChecksumKind {
    /// The kind a request names, `None` for a name S3 does not know.
    pub(super) fn from_dto(kind: &s3s::dto::ChecksumType) -> Option<Self> {
        match kind.as_str() {
            s3s::dto::ChecksumType::FULL_OBJECT => Some(Self::FullObject),
            s3s::dto::ChecksumType::COMPOSITE => Some(Self::Composite),
            _ => None,
        }
    }

    /// The kind as answers name it.
    pub(super) fn to_dto(self) -> s3s::dto::ChecksumType {
        s3s::dto::ChecksumType::from_static(match self {
            Self::FullObject => s3s::dto::ChecksumType::FULL_OBJECT,
            Self::Composite => s3s::dto::ChecksumType::COMPOSITE,
        })
    }
}

/// One part the upload holds.
#[derive(Debug, Clone)]
pub(super) struct StoredPart {
    pub(super) number: i32,
    pub(super) sums: Sums,
    /// The checksums S3 answers for it: the upload's algorithm (CRC-64/NVME, S3's default, for
    /// an upload created without one) and any the part's request sent.
    pub(super) reported: Vec<Algorithm>,
    pub(super) last_modified: SystemTime,
}

impl StoredPart {
    /// A part just stored, by the rule for [`StoredPart::reported`].
    pub(super) fn new(
        number: i32,
        sums: Sums,
        upload_algorithm: Option<Algorithm>,
        sent: &[Algorithm],
    ) -> Self {
        let mut reported = sent.to_vec();
        reported.push(upload_algorithm.unwrap_or(Algorithm::Crc64Nvme));
        reported.sort();
        reported.dedup();
        Self {
            number,
            sums,
            reported,
            last_modified: SystemTime::now(),
        }
    }

    /// The reported checksums and their base64 values.
    pub(super) fn checksums(&self) -> impl Iterator<Item = (Algorithm, String)> + '_ {
        self.reported
            .iter()
            .filter_map(|&algorithm| Some((algorithm, self.sums.encoded(algorithm)?)))
    }
}

/// An open multipart upload.
#[derive(Debug)]
pub(super) struct OpenUpload {
    pub(super) id: String,
    pub(super) bucket: String,
    pub(super) key: String,
    /// The algorithm asked for at creation, if any.
    pub(super) algorithm: Option<Algorithm>,
    pub(super) kind: ChecksumKind,
    pub(super) initiated: SystemTime,
    parts: Mutex<BTreeMap<i32, StoredPart>>,
    /// Held while a part's file moves into place and is recorded, and for the whole of a
    /// completion or an abort, so records and files always agree (see `body`).
    pub(super) finishing: Arc<tokio::sync::Mutex<()>>,
}

impl OpenUpload {
    /// A new upload with no parts, initiated now.
    pub(super) fn new(
        id: String,
        bucket: String,
        key: String,
        algorithm: Option<Algorithm>,
        kind: ChecksumKind,
    ) -> Self {
        Self {
            id,
            bucket,
            key,
            algorithm,
            kind,
            initiated: SystemTime::now(),
            parts: Mutex::default(),
            finishing: Arc::default(),
        }
    }

    fn parts(&self) -> MutexGuard<'_, BTreeMap<i32, StoredPart>> {
        self.parts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a part, replacing one of the same number, as S3 does.
    pub(super) fn record(&self, part: StoredPart) {
        self.parts().insert(part.number, part);
    }

    /// Every part, by number.
    pub(super) fn snapshot(&self) -> BTreeMap<i32, StoredPart> {
        self.parts().clone()
    }

    /// Up to `max` parts numbered above `marker`, and whether more follow.
    pub(super) fn page(&self, marker: i32, max: usize) -> (Vec<StoredPart>, bool) {
        let parts = self.parts();
        let mut after = parts.range(marker.saturating_add(1)..).map(|(_, p)| p);
        let page: Vec<StoredPart> = after.by_ref().take(max).cloned().collect();
        (page, after.next().is_some())
    }
}

/// The open uploads, by upload id.
#[derive(Debug, Default)]
pub(super) struct OpenUploads {
    by_id: Mutex<HashMap<String, Arc<OpenUpload>>>,
}

impl OpenUploads {
    fn by_id(&self) -> MutexGuard<'_, HashMap<String, Arc<OpenUpload>>> {
        self.by_id.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers a new upload.
    pub(super) fn open(&self, upload: OpenUpload) {
        self.by_id().insert(upload.id.clone(), Arc::new(upload));
    }

    /// The upload `id`, when it is open for exactly this bucket and key.
    ///
    /// # Errors
    /// `NoSuchUpload` otherwise (an unknown id, or one of another key or bucket), as S3 answers.
    pub(super) fn get(
        &self,
        id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Arc<OpenUpload>, S3Error> {
        self.by_id()
            .get(id)
            .filter(|upload| upload.bucket == bucket && upload.key == key)
            .cloned()
            .ok_or_else(no_such_upload)
    }

    /// Whether `upload` is still open (not completed or aborted meanwhile).
    pub(super) fn is_open(&self, upload: &Arc<OpenUpload>) -> bool {
        self.by_id()
            .get(&upload.id)
            .is_some_and(|open| Arc::ptr_eq(open, upload))
    }

    /// Forgets an upload that was completed or aborted.
    pub(super) fn forget(&self, id: &str) {
        self.by_id().remove(id);
    }

    /// A page of the open uploads of `bucket`.
    pub(super) fn list(&self, bucket: &str, query: &UploadsQuery<'_>) -> UploadsPage {
        let mut uploads: Vec<Arc<OpenUpload>> = self
            .by_id()
            .values()
            .filter(|upload| upload.bucket == bucket)
            .cloned()
            .collect();
        uploads.sort_by(|a, b| (&a.key, a.initiated, &a.id).cmp(&(&b.key, b.initiated, &b.id)));
        page_of_uploads(uploads, query)
    }
}

/// What `ListMultipartUploads` asks for.
#[derive(Debug, Default)]
pub(super) struct UploadsQuery<'a> {
    pub(super) prefix: &'a str,
    pub(super) key_marker: Option<&'a str>,
    pub(super) upload_id_marker: Option<&'a str>,
    pub(super) max: usize,
}

/// One page of open uploads.
#[derive(Debug)]
pub(super) struct UploadsPage {
    pub(super) uploads: Vec<Arc<OpenUpload>>,
    /// The key and upload id to continue after, when more follow.
    pub(super) next: Option<(String, String)>,
}

/// S3's order and markers: uploads sorted by key, then by when they were initiated; a key marker
/// alone continues with the next key, and with an upload id marker, after that upload of the
/// marker's key.
fn page_of_uploads(sorted: Vec<Arc<OpenUpload>>, query: &UploadsQuery<'_>) -> UploadsPage {
    let start = match query.key_marker {
        None => 0,
        Some(key_marker) => {
            let after_marker_upload = query.upload_id_marker.and_then(|id| {
                sorted
                    .iter()
                    .position(|u| u.key == key_marker && u.id == id)
                    .map(|at| at + 1)
            });
            after_marker_upload.unwrap_or_else(|| {
                sorted
                    .iter()
                    .position(|u| u.key.as_str() > key_marker)
                    .unwrap_or(sorted.len())
            })
        }
    };
    let mut matching = sorted
        .into_iter()
        .skip(start)
        .filter(|upload| upload.key.starts_with(query.prefix));
    let uploads: Vec<Arc<OpenUpload>> = matching.by_ref().take(query.max).collect();
    let next = match (matching.next(), uploads.last()) {
        (Some(_), Some(last)) => Some((last.key.clone(), last.id.clone())),
        _ => None,
    };
    UploadsPage { uploads, next }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strict::checksums::Hasher;

    fn upload(uploads: &OpenUploads, id: &str, key: &str) {
        uploads.open(OpenUpload::new(
            id.into(),
            "b".into(),
            key.into(),
            None,
            ChecksumKind::FullObject,
        ));
    }

    fn ids(page: &UploadsPage) -> Vec<&str> {
        page.uploads.iter().map(|u| u.id.as_str()).collect()
    }

    #[test]
    fn uploads_page_by_key_then_age_and_continue_after_their_markers() {
        let uploads = OpenUploads::default();
        upload(&uploads, "1", "users/a/x");
        upload(&uploads, "2", "users/b/y");
        // Initiated later than "1", for the same key.
        std::thread::sleep(std::time::Duration::from_millis(2));
        upload(&uploads, "3", "users/a/x");
        upload(&uploads, "4", "other/z");
        let query = |key_marker, upload_id_marker, max| UploadsQuery {
            prefix: "users/",
            key_marker,
            upload_id_marker,
            max,
        };
        let first = uploads.list("b", &query(None, None, 2));
        assert_eq!(ids(&first), ["1", "3"]);
        let (key, id) = first.next.clone().unwrap();
        assert_eq!((key.as_str(), id.as_str()), ("users/a/x", "3"));
        let second = uploads.list("b", &query(Some(&key), Some(&id), 2));
        assert_eq!(ids(&second), ["2"]);
        assert!(second.next.is_none());
        // A key marker alone skips every upload of that key.
        assert_eq!(
            ids(&uploads.list("b", &query(Some("users/a/x"), None, 10))),
            ["2"]
        );
        assert_eq!(
            ids(&uploads.list("b", &query(Some("users/a/x"), Some("1"), 10))),
            ["3", "2"]
        );
        assert!(
            uploads
                .list("other-bucket", &query(None, None, 10))
                .uploads
                .is_empty()
        );
    }

    #[test]
    fn an_upload_answers_only_for_its_own_bucket_and_key() {
        let uploads = OpenUploads::default();
        upload(&uploads, "1", "users/a/x");
        assert!(uploads.get("1", "b", "users/a/x").is_ok());
        for (id, bucket, key) in [
            ("1", "b", "users/a/y"),
            ("1", "c", "users/a/x"),
            ("2", "b", "users/a/x"),
        ] {
            let error = uploads.get(id, bucket, key).unwrap_err();
            assert_eq!(error.code(), &s3s::S3ErrorCode::NoSuchUpload);
        }
    }

    #[test]
    fn parts_page_after_the_marker_and_say_whether_more_follow() {
        let upload = OpenUpload::new(
            "1".into(),
            "b".into(),
            "k".into(),
            None,
            ChecksumKind::FullObject,
        );
        for number in [1, 2, 3, 5, 8] {
            let sums = Hasher::new(false, false).finish();
            upload.record(StoredPart::new(number, sums, None, &[]));
        }
        let numbers = |(page, more): (Vec<StoredPart>, bool)| {
            (page.iter().map(|p| p.number).collect::<Vec<_>>(), more)
        };
        assert_eq!(numbers(upload.page(0, 2)), (vec![1, 2], true));
        assert_eq!(numbers(upload.page(2, 2)), (vec![3, 5], true));
        assert_eq!(numbers(upload.page(5, 2)), (vec![8], false));
        assert_eq!(numbers(upload.page(4, 1)), (vec![5], true));
        assert_eq!(numbers(upload.page(3, 2)), (vec![5, 8], false));
        assert_eq!(numbers(upload.page(8, 1000)), (vec![], false));
    }
}
