//! Object metadata from S3, behind a trait so the handler's tests run offline and the round-trip
//! tests run against a real S3-compatible server.
//!
//! Architecture invariant: the store answers metadata only (`HeadObject`, `ListObjectsV2`); it
//! never reads bodies.

use std::future::Future;
use std::time::SystemTime;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use thiserror::Error;

/// What the service needs to know about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
    /// The ETag without quotes, when S3 sent one.
    pub etag: Option<String>,
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
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(ObjectMeta {
                size: output
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                etag: output.e_tag().map(|t| t.trim_matches('"').to_owned()),
            })),
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
