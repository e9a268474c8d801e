//! Object metadata from S3, behind a trait so the handler's tests run offline and the round-trip
//! tests run against a real S3-compatible server.
//!
//! Architecture invariant: the store answers metadata only (`HeadObject`); it never reads bodies.

use std::future::Future;

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
            Err(SdkError::ServiceError(err)) if err.raw().status().as_u16() == 403 => {
                Err(StoreError::AccessDenied)
            }
            Err(err) => Err(StoreError::Other(
                aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
            )),
        }
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
}
