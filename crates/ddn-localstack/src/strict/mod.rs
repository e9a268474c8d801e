//! The strict S3 layer: `s3s-fs` behind the rules S3 applies to multipart uploads and that s3s-fs
//! leaves out, so that code tested against the local stack is refused where S3 would refuse it.
//! Test and development only: the local stack is never anyone's storage.
//!
//! Every operation s3s-fs implements is forwarded to it ([`StrictS3`] adds no storage of its own);
//! the multipart ones are checked first, and what S3 answers that s3s-fs does not know is kept
//! here. The rules, each as S3 behaves (the S3 API reference, in our words):
//!
//! 1. **CreateMultipartUpload** records the upload: bucket, key, the checksum algorithm and type
//!    asked for, and when it was initiated. S3 refuses a checksum type without an algorithm,
//!    CRC-64/NVME as a composite checksum and SHA as a full-object one (`InvalidRequest`); an
//!    algorithm alone is full-object for CRC-64/NVME and composite for the others. A bucket that
//!    does not exist is `NoSuchBucket`. Uploads are remembered in memory only, as the stack is one
//!    process: a restarted stack knows no open upload and removes the files s3s-fs kept of them,
//!    as if a lifecycle rule had aborted every incomplete upload.
//! 2. **UploadPart** needs an open upload of that very bucket and key (`NoSuchUpload` for any
//!    other id, as S3 answers an id it does not know for the key), a part number from 1 to 10,000
//!    (`InvalidArgument`) and at most 5 GiB (`EntityTooLarge`). Its bytes are digested as they
//!    stream (`body`; the part is never held in memory): a `Content-MD5` or an
//!    `x-amz-checksum-*` value (header or aws-chunked trailer; CRC-32, CRC-32C, CRC-64/NVME,
//!    SHA-1, SHA-256) that does not match them is `BadDigest` and nothing is stored, so a good
//!    part sent earlier under that number stays; a malformed one is `InvalidDigest` or
//!    `InvalidRequest`. A part is recorded with its ETag (the quoted hex MD5 of its bytes, as S3
//!    gives an unencrypted part), its size and its CRCs; sending a part number again replaces the
//!    part. The answer carries the ETag and the part's checksums: the upload's algorithm
//!    (CRC-64/NVME, S3's default, for an upload created without one) and any the request sent.
//! 3. **ListParts** is bound to bucket and key the same way, and answers from the records: part
//!    number, size, ETag, last modified and checksums, in number order, at most `max-parts`
//!    (default and ceiling 1,000) after `part-number-marker`, with `IsTruncated` and
//!    `NextPartNumberMarker` (the last part listed) when more follow.
//! 4. **CompleteMultipartUpload** is bound the same way and checks everything before s3s-fs is
//!    asked (`completion`), because s3s-fs drops the upload before it assembles: a refused
//!    completion leaves the upload whole, to be retried. Parts ascending (`InvalidPartOrder`);
//!    each one held, with exactly that ETag and any part checksum given (`InvalidPart`); every part
//!    but the last at least 5 MiB (`EntityTooSmall`); `x-amz-mp-object-size`, when sent, the
//!    parts' total (`InvalidRequest`); a full-object `x-amz-checksum-crc64nvme` (or CRC-32,
//!    CRC-32C) equal to the CRC of the parts' bytes one after the other, combined from the parts'
//!    CRCs without reading the data again (`BadDigest`). Parts the completion leaves out are
//!    discarded. Once s3s-fs has assembled the object, its full-object checksum (CRC-64/NVME, or
//!    the upload's full-object CRC) goes into the object's s3s-fs internal info (`fs_layout`), so
//!    `HeadObject` and a whole `GetObject` report it, also after a restart, and `CopyObject`
//!    carries it; then the upload is forgotten, and completing it again is `NoSuchUpload`.
//! 5. **AbortMultipartUpload** is bound the same way (`NoSuchUpload`), forwards, and forgets the
//!    upload.
//! 6. **ListMultipartUploads** lists the uploads still open in a bucket, by key and then by
//!    initiation, under an optional `prefix`, paged with `max-uploads` (default and ceiling
//!    1,000), `key-marker` and `upload-id-marker`.
//!
//! `HeadObject` and `GetObject` also name the checksum type (`FULL_OBJECT`) whenever they report a
//! checksum: every checksum this server keeps is of the whole object (s3s-fs's own, from
//! `PutObject`, and ours from rule 4).
//!
//! Where it still differs from S3: a completion's part numbers must run 1, 2, 3... without gaps
//! (s3s-fs assembles no others; refused with `NotImplemented` before anything is dropped); a
//! composite checksum is neither checked at completion (`NotImplemented`) nor kept for the
//! object; a part sent with another checksum algorithm than the upload's is accepted; a
//! `delimiter` in `ListMultipartUploads` is `NotImplemented`; and every part and upload is the
//! stack's one user's.

mod body;
mod checksums;
mod completion;
mod fs_layout;
mod uploads;

use std::path::Path;
use std::sync::{Arc, Mutex};

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;

use body::{CheckedBody, Claims, Outcome, SharedOutcome};
use checksums::{Algorithm, Hasher};
use fs_layout::FsLayout;
use uploads::{ChecksumKind, OpenUpload, OpenUploads, StoredPart, UploadsQuery, no_such_upload};

/// The largest part S3 accepts (5 GiB).
const MAX_PART_SIZE: i64 = 5 * 1024 * 1024 * 1024;
/// The most parts or uploads one listing answers, and the default.
const MAX_LISTED: usize = 1000;

/// `s3s-fs` with S3's multipart rules (see the module documentation).
pub(crate) struct StrictS3 {
    fs: FileSystem,
    layout: FsLayout,
    uploads: OpenUploads,
}

impl std::fmt::Debug for StrictS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrictS3")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

/// The error of a [`StrictS3`] that cannot start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StrictStartError {
    /// s3s-fs refused the folder.
    #[error("s3s-fs: {0:?}")]
    Fs(s3s_fs::Error),
    /// The folder cannot be read, or an earlier run's upload files removed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl StrictS3 {
    /// The layer over an s3s-fs store at `root`, with no upload open (an earlier run's are
    /// removed).
    pub(crate) fn new(root: &Path) -> Result<Self, StrictStartError> {
        let fs = FileSystem::new(root).map_err(StrictStartError::Fs)?;
        let layout = FsLayout::new(root)?;
        let removed = layout.remove_uploads()?;
        if removed > 0 {
            tracing::info!(
                removed,
                "removed the files of multipart uploads a previous run left open"
            );
        }
        Ok(Self {
            fs,
            layout,
            uploads: OpenUploads::default(),
        })
    }

    fn bucket_must_exist(&self, bucket: &str) -> S3Result<()> {
        if self.layout.bucket_exists(bucket) {
            Ok(())
        } else {
            Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist."
            ))
        }
    }

    /// Removes a part file that s3s-fs moved into place for an upload that was completed or
    /// aborted meanwhile; nothing else would.
    async fn remove_part_file(&self, id: &str, number: i32) {
        match tokio::fs::remove_file(self.layout.part_path(id, number)).await {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(%error, number, "a discarded part's file stays"),
        }
    }
}

/// The checksum fields of an S3 output, in [`Algorithm::ALL`]'s order.
macro_rules! checksum_fields {
    ($output:expr) => {
        [
            &mut $output.checksum_crc32,
            &mut $output.checksum_crc32c,
            &mut $output.checksum_crc64nvme,
            &mut $output.checksum_sha1,
            &mut $output.checksum_sha256,
        ]
    };
}

/// Sets each field of `fields` that `values` has a value for.
fn set_checksums(
    fields: [&mut Option<String>; 5],
    values: impl IntoIterator<Item = (Algorithm, String)>,
) {
    for (algorithm, value) in values {
        if let Some(at) = Algorithm::ALL.iter().position(|a| *a == algorithm) {
            *fields[at] = Some(value);
        }
    }
}

/// The checksum algorithm and type of a new upload, by S3's rules (rule 1).
fn checksum_mode(
    algorithm: Option<&ChecksumAlgorithm>,
    kind: Option<&ChecksumType>,
) -> S3Result<(Option<Algorithm>, ChecksumKind)> {
    let algorithm = match algorithm {
        None => None,
        Some(named) => Some(
            Algorithm::from_dto(named)
                .ok_or_else(|| s3_error!(InvalidRequest, "Unknown x-amz-checksum-algorithm."))?,
        ),
    };
    let kind = match kind {
        None => None,
        Some(named) => Some(
            ChecksumKind::from_dto(named)
                .ok_or_else(|| s3_error!(InvalidRequest, "Unknown x-amz-checksum-type."))?,
        ),
    };
    match (algorithm, kind) {
        (None, None) => Ok((None, ChecksumKind::FullObject)),
        (None, Some(_)) => Err(s3_error!(
            InvalidRequest,
            "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
        )),
        (Some(Algorithm::Crc64Nvme), Some(ChecksumKind::Composite)) => Err(s3_error!(
            InvalidRequest,
            "The CRC64NVME checksum algorithm supports only the FULL_OBJECT checksum type."
        )),
        (Some(Algorithm::Sha1 | Algorithm::Sha256), Some(ChecksumKind::FullObject)) => {
            Err(s3_error!(
                InvalidRequest,
                "The SHA checksum algorithms support only the COMPOSITE checksum type."
            ))
        }
        (Some(algorithm), Some(kind)) => Ok((Some(algorithm), kind)),
        (Some(Algorithm::Crc64Nvme), None) => {
            Ok((Some(Algorithm::Crc64Nvme), ChecksumKind::FullObject))
        }
        (Some(algorithm), None) => Ok((Some(algorithm), ChecksumKind::Composite)),
    }
}

/// The algorithms a part's request will send a value of in its trailers (`x-amz-trailer`).
fn trailer_algorithms(headers: &http::HeaderMap) -> Vec<Algorithm> {
    headers
        .get_all("x-amz-trailer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(Algorithm::from_header)
        .collect()
}

/// A listing's page size: S3's default and ceiling of 1,000.
fn page_size(asked: Option<i32>, what: &str) -> S3Result<usize> {
    match asked {
        None => Ok(MAX_LISTED),
        Some(n) => usize::try_from(n)
            .map(|n| n.min(MAX_LISTED))
            .map_err(|_| s3_error!(InvalidArgument, "{what} must be a positive integer.")),
    }
}

#[async_trait::async_trait]
impl S3 for StrictS3 {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.fs.copy_object(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.fs.delete_bucket(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.fs.delete_objects(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let mut response = self.fs.get_object(req).await?;
        let output = &mut response.output;
        if output.checksum_type.is_none() && checksum_fields!(output).iter().any(|f| f.is_some()) {
            output.checksum_type = Some(ChecksumKind::FullObject.to_dto());
        }
        Ok(response)
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let mut response = self.fs.head_object(req).await?;
        let output = &mut response.output;
        if output.checksum_type.is_none() && checksum_fields!(output).iter().any(|f| f.is_some()) {
            output.checksum_type = Some(ChecksumKind::FullObject.to_dto());
        }
        Ok(response)
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.fs.put_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = &req.input;
        self.bucket_must_exist(&input.bucket)?;
        let (algorithm, kind) = checksum_mode(
            input.checksum_algorithm.as_ref(),
            input.checksum_type.as_ref(),
        )?;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let mut response = self.fs.create_multipart_upload(req).await?;
        let id = response
            .output
            .upload_id
            .clone()
            .ok_or_else(|| s3_error!(InternalError, "s3s-fs gave the upload no id"))?;
        self.uploads
            .open(OpenUpload::new(id, bucket, key, algorithm, kind));
        response.output.checksum_algorithm = algorithm.map(Algorithm::to_dto);
        response.output.checksum_type = algorithm.map(|_| kind.to_dto());
        Ok(response)
    }

    async fn upload_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = &req.input;
        let upload = self
            .uploads
            .get(&input.upload_id, &input.bucket, &input.key)?;
        let number = input.part_number;
        if !(1..=10_000).contains(&number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive."
            ));
        }
        if input
            .content_length
            .is_some_and(|length| length > MAX_PART_SIZE)
        {
            return Err(s3_error!(EntityTooLarge, "A part may be at most 5 GiB."));
        }
        let claims = Claims::of_headers(input)?;
        let mut wanted = claims.algorithms();
        wanted.extend(trailer_algorithms(&req.headers));
        wanted.extend(
            input
                .checksum_algorithm
                .as_ref()
                .and_then(Algorithm::from_dto),
        );
        wanted.extend(upload.algorithm);
        let hasher = Hasher::new(
            wanted.contains(&Algorithm::Sha1),
            wanted.contains(&Algorithm::Sha256),
        );

        let body = req
            .input
            .body
            .take()
            .ok_or_else(|| s3_error!(IncompleteBody, "A part needs a body."))?;
        let outcome: SharedOutcome = Arc::new(Mutex::new(Outcome::Unfinished));
        let checked = CheckedBody::new(
            body,
            hasher,
            claims,
            req.trailing_headers.clone(),
            Arc::clone(&upload.finishing),
            Arc::clone(&outcome),
        );
        req.input.body = Some(StreamingBlob::new(checked));
        let forwarded = self.fs.upload_part(req).await;

        match (body::take(&outcome), forwarded) {
            (Outcome::Refused(refusal), _) => Err(refusal),
            (_, Err(error)) => Err(error),
            (Outcome::Unfinished, Ok(_)) => Err(s3_error!(
                InternalError,
                "s3s-fs stored a part without reading its body to the end"
            )),
            (
                Outcome::Received {
                    sums,
                    claims,
                    finishing,
                },
                Ok(mut response),
            ) => {
                if !self.uploads.is_open(&upload) {
                    // Completed or aborted while the body arrived: S3 would not keep the part.
                    self.remove_part_file(&upload.id, number).await;
                    return Err(no_such_upload());
                }
                let part = StoredPart::new(number, sums, upload.algorithm, &claims.algorithms());
                let output = &mut response.output;
                output.e_tag = Some(ETag::Strong(part.sums.etag()));
                set_checksums(checksum_fields!(output), part.checksums());
                upload.record(part);
                drop(finishing);
                Ok(response)
            }
        }
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = &req.input;
        let upload = self
            .uploads
            .get(&input.upload_id, &input.bucket, &input.key)?;
        let number = input.part_number;
        if !(1..=10_000).contains(&number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive."
            ));
        }
        // The copy is local work, so the lock is held throughout: the part is read back below
        // exactly as it was moved into place.
        let _finishing = Arc::clone(&upload.finishing).lock_owned().await;
        if !self.uploads.is_open(&upload) {
            return Err(no_such_upload());
        }
        let mut response = self.fs.upload_part_copy(req).await?;
        let path = self.layout.part_path(&upload.id, number);
        let with_sha1 = upload.algorithm == Some(Algorithm::Sha1);
        let with_sha256 = upload.algorithm == Some(Algorithm::Sha256);
        let sums = tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            let mut file = std::fs::File::open(path)?;
            let mut hasher = Hasher::new(with_sha1, with_sha256);
            let mut buffer = vec![0; 1024 * 1024];
            loop {
                let read = file.read(&mut buffer)?;
                if read == 0 {
                    return Ok::<_, std::io::Error>(hasher.finish());
                }
                hasher.update(&buffer[..read]);
            }
        })
        .await
        .map_err(|e| s3_error!(InternalError, "reading a copied part: {e}"))?
        .map_err(|e| s3_error!(InternalError, "reading a copied part: {e}"))?;
        let part = StoredPart::new(number, sums, upload.algorithm, &[]);
        if let Some(result) = &mut response.output.copy_part_result {
            result.e_tag = Some(ETag::Strong(part.sums.etag()));
            set_checksums(checksum_fields!(result), part.checksums());
        }
        upload.record(part);
        Ok(response)
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let upload = self
            .uploads
            .get(&input.upload_id, &input.bucket, &input.key)?;
        let max = page_size(input.max_parts, "max-parts")?;
        let marker = input.part_number_marker.unwrap_or(0);
        let (page, truncated) = upload.page(marker, max);
        let next = if truncated {
            page.last().map(|part| part.number)
        } else {
            None
        };
        let parts = page
            .iter()
            .map(|stored| {
                let mut part = Part {
                    part_number: Some(stored.number),
                    size: i64::try_from(stored.sums.size).ok(),
                    e_tag: Some(ETag::Strong(stored.sums.etag())),
                    last_modified: Some(Timestamp::from(stored.last_modified)),
                    ..Part::default()
                };
                set_checksums(checksum_fields!(part), stored.checksums());
                part
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: i32::try_from(max).ok(),
            is_truncated: Some(truncated),
            parts: Some(parts),
            checksum_algorithm: upload.algorithm.map(Algorithm::to_dto),
            checksum_type: upload.algorithm.map(|_| upload.kind.to_dto()),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..ListPartsOutput::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = &req.input;
        let upload = self
            .uploads
            .get(&input.upload_id, &input.bucket, &input.key)?;
        let _finishing = Arc::clone(&upload.finishing).lock_owned().await;
        if !self.uploads.is_open(&upload) {
            // Completed or aborted by a request this one waited for.
            return Err(no_such_upload());
        }
        let completion = completion::check(&upload, &upload.snapshot(), input)?;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());

        let mut response = match self.fs.complete_multipart_upload(req).await {
            Ok(response) => response,
            Err(error) => {
                // s3s-fs refuses some requests (unmet preconditions) before it drops the upload,
                // and fails others after; the upload stays open exactly when s3s-fs kept it.
                if !self.layout.upload_is_held(&upload.id) {
                    self.uploads.forget(&upload.id);
                }
                return Err(error);
            }
        };
        self.uploads.forget(&upload.id);
        if let Some(assembling) = response.output.future.take() {
            response.output = assembling.await?;
        }
        for number in completion.left_out {
            self.remove_part_file(&upload.id, number).await;
        }
        if let Some((algorithm, value)) = completion.checksum {
            self.layout
                .save_object_checksum(&bucket, &key, algorithm, &value)
                .await
                .map_err(|e| s3_error!(InternalError, "keeping the object's checksum: {e}"))?;
            let output = &mut response.output;
            set_checksums(checksum_fields!(output), [(algorithm, value)]);
            output.checksum_type = Some(ChecksumKind::FullObject.to_dto());
        }
        Ok(response)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = &req.input;
        let upload = self
            .uploads
            .get(&input.upload_id, &input.bucket, &input.key)?;
        let _finishing = Arc::clone(&upload.finishing).lock_owned().await;
        if !self.uploads.is_open(&upload) {
            return Err(no_such_upload());
        }
        let response = self.fs.abort_multipart_upload(req).await?;
        self.uploads.forget(&upload.id);
        Ok(response)
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.bucket_must_exist(&input.bucket)?;
        if input.delimiter.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "The local test server lists uploads without a delimiter only."
            ));
        }
        let max = page_size(input.max_uploads, "max-uploads")?;
        let page = self.uploads.list(
            &input.bucket,
            &UploadsQuery {
                prefix: input.prefix.as_deref().unwrap_or(""),
                key_marker: input.key_marker.as_deref(),
                upload_id_marker: input.upload_id_marker.as_deref(),
                max,
            },
        );
        let uploads = page
            .uploads
            .iter()
            .map(|upload| MultipartUpload {
                key: Some(upload.key.clone()),
                upload_id: Some(upload.id.clone()),
                initiated: Some(Timestamp::from(upload.initiated)),
                checksum_algorithm: upload.algorithm.map(Algorithm::to_dto),
                checksum_type: upload.algorithm.map(|_| upload.kind.to_dto()),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                ..MultipartUpload::default()
            })
            .collect();
        let (next_key_marker, next_upload_id_marker) = page.next.clone().unzip();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            max_uploads: i32::try_from(max).ok(),
            is_truncated: Some(page.next.is_some()),
            next_key_marker,
            next_upload_id_marker,
            encoding_type: input.encoding_type,
            uploads: Some(uploads),
            ..ListMultipartUploadsOutput::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use s3s::S3Error;

    use super::*;

    fn mode(
        algorithm: Option<&'static str>,
        kind: Option<&'static str>,
    ) -> S3Result<(Option<Algorithm>, ChecksumKind)> {
        checksum_mode(
            algorithm.map(ChecksumAlgorithm::from_static).as_ref(),
            kind.map(ChecksumType::from_static).as_ref(),
        )
    }

    #[test]
    fn uploads_take_the_checksum_modes_s3_allows() {
        use ChecksumKind::{Composite, FullObject};
        let allowed = [
            (None, None, (None, FullObject)),
            (
                Some("CRC64NVME"),
                None,
                (Some(Algorithm::Crc64Nvme), FullObject),
            ),
            (
                Some("CRC64NVME"),
                Some("FULL_OBJECT"),
                (Some(Algorithm::Crc64Nvme), FullObject),
            ),
            (Some("CRC32"), None, (Some(Algorithm::Crc32), Composite)),
            (
                Some("CRC32C"),
                Some("FULL_OBJECT"),
                (Some(Algorithm::Crc32c), FullObject),
            ),
            (
                Some("SHA256"),
                Some("COMPOSITE"),
                (Some(Algorithm::Sha256), Composite),
            ),
        ];
        for (algorithm, kind, expected) in allowed {
            assert_eq!(
                mode(algorithm, kind).ok(),
                Some(expected),
                "{algorithm:?} {kind:?}"
            );
        }
        let refused = [
            (None, Some("FULL_OBJECT")),
            (Some("CRC64NVME"), Some("COMPOSITE")),
            (Some("SHA1"), Some("FULL_OBJECT")),
            (Some("MD5"), None),
            (Some("CRC32"), Some("PARTIAL")),
        ];
        for (algorithm, kind) in refused {
            let error = mode(algorithm, kind).err();
            assert_eq!(
                error.as_ref().map(S3Error::code),
                Some(&s3s::S3ErrorCode::InvalidRequest),
                "{algorithm:?} {kind:?}"
            );
        }
    }

    #[test]
    fn trailers_named_in_x_amz_trailer_are_known_before_the_body() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-amz-trailer",
            http::HeaderValue::from_static("x-amz-checksum-sha256, x-amz-checksum-crc32"),
        );
        assert_eq!(
            trailer_algorithms(&headers),
            [Algorithm::Sha256, Algorithm::Crc32]
        );
    }
}
