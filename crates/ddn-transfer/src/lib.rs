//! The DDN transfer engine: uploads files through presigned URLs, waits for the processed results
//! and downloads them safely, with retries, progress and cancellation.
//!
//! The desktop app and the `ddn` command line are faces on this crate.
//!
//! Architecture invariant: this crate knows nothing of Tauri or of any user interface; it reports
//! through [`engine::EventSink`] and typed [`error::TransferError`]s.

pub mod address;
pub mod api;
mod body;
mod chunk_reader;
mod chunk_writer;
pub mod engine;
pub mod error;
mod integrity;
pub mod journal;
pub mod names;
pub mod progress;
pub mod queue;
pub mod retry;

pub use api::{ApiClient, Token, http_client};
pub use engine::{
    Downloaded, Engine, EngineOptions, EventSink, ResultOf, StartOverReason, TransferEvent,
    Uploaded,
};
pub use error::{ErrorKind, TransferError};
pub use queue::TransferQueue;
pub use tokio_util::sync::CancellationToken;
