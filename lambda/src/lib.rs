//! The DDN presign function.
//!
//! It authenticates a caller, validates the object name they ask for, places it under their own
//! prefix and answers with an S3 presigned URL: a `PUT` into the input bucket or a `GET` from the
//! output bucket. The same [`service::PresignService`] answers AWS Lambda events (through
//! [`event`] and the `bootstrap` binary) and plain HTTP (through `http_server`, for the local
//! stack), so the code that runs on AWS is the code the tests exercise.
//!
//! Large files go up in parts: the multipart routes start the upload on S3, sign a short-lived
//! URL per part, list the parts S3 holds, and complete or abort the upload.
//!
//! Architecture invariant: this crate never reads or writes object bytes. It signs URLs, asks S3
//! for object metadata (`HeadObject`), lists the caller's keys (`ListObjectsV2`) and keeps a
//! multipart upload's books (`CreateMultipartUpload`, `ListParts`, `CompleteMultipartUpload`,
//! `AbortMultipartUpload`: parts travel from the client to S3 through presigned URLs), nothing
//! else.

pub mod auth;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod event;
#[cfg(feature = "http-server")]
pub mod http_server;
pub mod keys;
pub mod logging;
pub mod presign;
pub mod service;
pub mod store;

pub use config::Config;
pub use service::{ApiRequest, ApiResponse, PresignService};
