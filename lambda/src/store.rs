//! Object metadata and multipart bookkeeping from S3, behind a trait so the handler's tests run
//! offline and the round-trip tests run against a real S3-compatible server.
//!
//! Architecture invariant: the store never reads or writes object bytes. It asks for metadata
//! (`HeadObject`, `ListObjectsV2`) and keeps multipart uploads' books (`CreateMultipartUpload`,
//! `ListParts`, `CompleteMultipartUpload`, `AbortMultipartUpload`, which name parts the client
//! sent to S3 itself through presigned URLs); no call carries a body of the object.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::SystemTime;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::types::{
    ChecksumAlgorithm as S3ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload,
    CompletedPart as S3CompletedPart,
};
use ddn_api::ChecksumAlgorithm;
use ddn_api::multipart::CompletedPart;
use thiserror::Error;

/// What the service needs to know about a stored object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
    /// The ETag without quotes, when S3 sent one.
    pub etag: Option<String>,
    /// When it was written (whole seconds, as S3 reports it).
    pub last_modified: Option<SystemTime>,
    /// User metadata: names without `x-amz-meta-`, in lower case.
    pub metadata: BTreeMap<String, String>,
    /// Server-side encryption as S3 names it (`AES256`, `aws:kms`, `aws:kms:dsse`), when reported.
    pub encryption: Option<String>,
    /// Whether the object is encrypted with a key its writer provided (SSE-C).
    pub customer_key: bool,
    /// Checksums of the whole object that S3 reports (base64), in the order S3's headers list
    /// them. Composite (per-part) checksums are left out: they are not a digest of the data.
    pub checksums: Vec<(ChecksumAlgorithm, String)>,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// The full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was written.
    pub last_modified: Option<SystemTime>,
}

/// A page of a listing, in key order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// The objects on this page.
    pub objects: Vec<ListedObject>,
    /// Whether more objects follow.
    pub truncated: bool,
}

/// A part of a multipart upload, as S3 lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPart {
    /// The part number, from 1.
    pub number: u32,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag without quotes, when S3 reports one.
    pub etag: Option<String>,
    /// Its CRC-64/NVME (base64), when S3 reports one.
    pub crc64nvme: Option<String>,
}

/// A page of a multipart upload's parts, in number order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartListing {
    /// The parts on this page.
    pub parts: Vec<ListedPart>,
    /// The part number to continue after, when more parts follow.
    pub next_marker: Option<u32>,
    /// Whether more parts follow.
    pub truncated: bool,
}

/// Why a request to S3 failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// S3 refused: the function's role lacks a permission. With `s3:GetObject` but without
    /// `s3:ListBucket`, S3 answers a missing key with 403 instead of 404, so this is a deployment
    /// error to fix, never a sign that the result is merely not ready.
    #[error(
        "access denied by S3 (check the function role's s3:GetObject and s3:ListBucket on the output bucket)"
    )]
    AccessDenied,
    /// S3 holds no multipart upload of this id for this key: it was completed or aborted, or
    /// it is another key's (S3 binds an upload id to the key it was created for).
    #[error("S3 holds no such multipart upload")]
    NoSuchUpload,
    /// S3 refused a completion for its parts: one is missing, has another ETag or checksum, is
    /// out of order or too small, or the whole object's checksum differs. Text for the log only.
    #[error("S3 refused the parts: {0}")]
    InvalidPart(String),
    /// Any other failure (network, throttling, unexpected status). Text for the log only.
    #[error("S3 request failed: {0}")]
    Other(String),
}

/// Reads object metadata.
pub trait ObjectStore: Send + Sync + 'static {
    /// The object's metadata, or `None` when no object has that key.
    fn head_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<ObjectMeta>, StoreError>> + Send;

    /// Up to `limit` objects whose keys start with `prefix` and sort after `start_after`.
    fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Listing, StoreError>> + Send;

    /// Starts a multipart upload of `key` with its content type and user metadata (names
    /// without `x-amz-meta-`), holding a whole-object CRC-64/NVME; answers S3's upload id.
    fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        content_type: Option<&str>,
        metadata: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Up to `max_parts` parts of the upload `upload_id` of `key`, numbered above `after`.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUpload`] when S3 holds no such upload for `key`.
    fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: Option<u32>,
        max_parts: u32,
    ) -> impl Future<Output = Result<PartListing, StoreError>> + Send;

    /// Completes the upload from `parts` (ascending), checked against the whole object's
    /// CRC-64/NVME when given; answers the object's ETag without quotes.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUpload`] when S3 holds no such upload for `key` (also when an earlier
    /// completion of it succeeded), [`StoreError::InvalidPart`] when S3 refuses the parts.
    fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        crc64nvme: Option<&str>,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Aborts the upload and drops its parts.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUpload`] when S3 holds no such upload for `key`.
    fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The real store: an `aws-sdk-s3` client, built once and shared by every request.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
}

impl S3Store {
    /// Wraps a client.
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        Self { client }
    }
}

impl ObjectStore for S3Store {
    async fn head_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let result = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            // Checksums are only reported when asked for. On SSE-KMS objects this needs
            // kms:Decrypt, which presigned downloads of such objects need anyway.
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        match result {
            Ok(output) => {
                let composite = matches!(output.checksum_type(), Some(ChecksumType::Composite));
                let checksums = [
                    (ChecksumAlgorithm::Crc64nvme, output.checksum_crc64_nvme()),
                    (ChecksumAlgorithm::Crc32c, output.checksum_crc32_c()),
                    (ChecksumAlgorithm::Crc32, output.checksum_crc32()),
                    (ChecksumAlgorithm::Sha256, output.checksum_sha256()),
                    (ChecksumAlgorithm::Sha1, output.checksum_sha1()),
                ]
                .into_iter()
                .filter_map(|(algorithm, value)| {
                    let value = value?;
                    // CRC-64/NVME is always a full-object checksum; the others are per-part
                    // checksums of checksums on a composite object (and end in `-N`).
                    let whole = algorithm == ChecksumAlgorithm::Crc64nvme
                        || (!composite && !value.contains('-'));
                    whole.then(|| (algorithm, value.to_owned()))
                })
                .collect();
                Ok(Some(ObjectMeta {
                    size: output
                        .content_length()
                        .and_then(|n| u64::try_from(n).ok())
                        .unwrap_or(0),
                    etag: output.e_tag().map(|t| t.trim_matches('"').to_owned()),
                    last_modified: output
                        .last_modified()
                        .and_then(|t| SystemTime::try_from(*t).ok()),
                    metadata: output
                        .metadata()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    encryption: output
                        .server_side_encryption()
                        .map(|e| e.as_str().to_owned()),
                    customer_key: output.sse_customer_algorithm().is_some(),
                    checksums,
                }))
            }
            Err(SdkError::ServiceError(err))
                if matches!(err.err(), HeadObjectError::NotFound(_)) =>
            {
                Ok(None)
            }
            Err(err) => Err(store_error(&err)),
        }
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
    ) -> Result<Listing, StoreError> {
        let result = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .max_keys(i32::try_from(limit).unwrap_or(1000))
            .send()
            .await;
        match result {
            Ok(output) => Ok(Listing {
                objects: output
                    .contents()
                    .iter()
                    .filter_map(|object| {
                        Some(ListedObject {
                            key: object.key()?.to_owned(),
                            size: object
                                .size()
                                .and_then(|n| u64::try_from(n).ok())
                                .unwrap_or(0),
                            last_modified: object
                                .last_modified()
                                .and_then(|t| SystemTime::try_from(*t).ok()),
                        })
                    })
                    .collect(),
                truncated: output.is_truncated().unwrap_or(false),
            }),
            Err(err) => Err(store_error(&err)),
        }
    }

    async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        content_type: Option<&str>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<String, StoreError> {
        let mut request = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .set_content_type(content_type.map(str::to_owned))
            // A full-object CRC-64/NVME is checked by S3 at completion against the client's
            // checksum of the whole file, and stays on the object as a checksum of its bytes
            // (a multipart ETag is not one).
            .checksum_algorithm(S3ChecksumAlgorithm::Crc64Nvme)
            .checksum_type(ChecksumType::FullObject);
        for (name, value) in metadata {
            request = request.metadata(name, value);
        }
        let output = request.send().await.map_err(|err| store_error(&err))?;
        output
            .upload_id()
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Other("CreateMultipartUpload answered no upload id".into()))
    }

    async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: Option<u32>,
        max_parts: u32,
    ) -> Result<PartListing, StoreError> {
        let output = self
            .client
            .list_parts()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .set_part_number_marker(after.map(|n| n.to_string()))
            .max_parts(i32::try_from(max_parts).unwrap_or(1000))
            .send()
            .await
            .map_err(|err| store_error(&err))?;
        let parts = output
            .parts()
            .iter()
            .filter_map(|part| {
                Some(ListedPart {
                    number: u32::try_from(part.part_number()?).ok()?,
                    size: part.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    etag: part
                        .e_tag()
                        .map(|t| t.trim_matches('"').to_owned())
                        .filter(|t| !t.is_empty()),
                    crc64nvme: part.checksum_crc64_nvme().map(str::to_owned),
                })
            })
            .collect();
        let truncated = output.is_truncated().unwrap_or(false);
        Ok(PartListing {
            parts,
            next_marker: output
                .next_part_number_marker()
                .and_then(|m| m.parse().ok())
                .filter(|_| truncated),
            truncated,
        })
    }

    async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        crc64nvme: Option<&str>,
    ) -> Result<String, StoreError> {
        let parts = parts
            .iter()
            .map(|part| {
                S3CompletedPart::builder()
                    .part_number(i32::try_from(part.part_number).unwrap_or(i32::MAX))
                    // S3 lists and answers ETags in quotes; it takes them back the same way.
                    .e_tag(format!("\"{}\"", part.etag))
                    .set_checksum_crc64_nvme(part.crc64nvme.clone())
                    .build()
            })
            .collect();
        let output = self
            .client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .set_checksum_crc64_nvme(crc64nvme.map(str::to_owned))
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await
            .map_err(|err| store_error(&err))?;
        Ok(output
            .e_tag()
            .map(|t| t.trim_matches('"').to_owned())
            .unwrap_or_default())
    }

    async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|err| store_error(&err))?;
        Ok(())
    }
}

/// S3's answer as the service tells them apart: a multipart upload S3 does not hold, parts it
/// refuses to complete from, a permission missing from the function's role (any 403), or
/// anything else, reported as it came.
fn store_error<E: std::error::Error + ProvideErrorMetadata + 'static>(
    error: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> StoreError {
    let text = || aws_sdk_s3::error::DisplayErrorContext(error).to_string();
    let SdkError::ServiceError(err) = error else {
        return StoreError::Other(text());
    };
    let code = err.err().code().unwrap_or_default();
    let message = err.err().message().unwrap_or_default();
    match code {
        "NoSuchUpload" => StoreError::NoSuchUpload,
        "InvalidPart" | "InvalidPartOrder" | "EntityTooSmall" | "BadDigest" => {
            StoreError::InvalidPart(text())
        }
        // A whole-object checksum that differs from what the parts add up to.
        "InvalidRequest" | "InvalidArgument"
            if message.to_ascii_lowercase().contains("checksum") =>
        {
            StoreError::InvalidPart(text())
        }
        _ if err.raw().status().as_u16() == 403 => StoreError::AccessDenied,
        _ => StoreError::Other(text()),
    }
}

impl<T: ObjectStore> ObjectStore for std::sync::Arc<T> {
    fn head_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<ObjectMeta>, StoreError>> + Send {
        (**self).head_object(bucket, key)
    }

    fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Listing, StoreError>> + Send {
        (**self).list_objects(bucket, prefix, start_after, limit)
    }

    fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        content_type: Option<&str>,
        metadata: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<String, StoreError>> + Send {
        (**self).create_multipart_upload(bucket, key, content_type, metadata)
    }

    fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: Option<u32>,
        max_parts: u32,
    ) -> impl Future<Output = Result<PartListing, StoreError>> + Send {
        (**self).list_parts(bucket, key, upload_id, after, max_parts)
    }

    fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        crc64nvme: Option<&str>,
    ) -> impl Future<Output = Result<String, StoreError>> + Send {
        (**self).complete_multipart_upload(bucket, key, upload_id, parts, crc64nvme)
    }

    fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).abort_multipart_upload(bucket, key, upload_id)
    }
}
