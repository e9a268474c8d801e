//! Object metadata from S3, behind a trait so the handler's tests run offline and the round-trip
//! tests run against a real S3-compatible server.
//!
//! Architecture invariant: the store answers metadata only (`HeadObject`, `ListObjectsV2`); it
//! never reads bodies.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::SystemTime;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::types::{ChecksumMode, ChecksumType};
use ddn_api::ChecksumAlgorithm;
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

/// Why a metadata request failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// S3 refused: the function's role lacks a permission. With `s3:GetObject` but without
    /// `s3:ListBucket`, S3 answers a missing key with 403 instead of 404, so this is a deployment
    /// error to fix, never a sign that the result is merely not ready.
    #[error(
        "access denied by S3 (check the function role's s3:GetObject and s3:ListBucket on the output bucket)"
    )]
    AccessDenied,
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
}

/// A 403 is a permission missing from the function's role; anything else is reported as it came.
fn store_error<E: std::error::Error + 'static>(
    error: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> StoreError {
    match error {
        SdkError::ServiceError(err) if err.raw().status().as_u16() == 403 => {
            StoreError::AccessDenied
        }
        other => StoreError::Other(aws_sdk_s3::error::DisplayErrorContext(other).to_string()),
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
}
