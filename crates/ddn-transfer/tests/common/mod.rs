//! Helpers shared by the engine's integration tests.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ddn_api::PresignResponse;
use ddn_testkit::http::TestServer;
use ddn_transfer::{CancellationToken, ErrorKind, TransferEvent};

/// A fake presign API that serves `answer` to every request; answers its base address. For
/// answers the real service never gives (hostile keys, checksums that do not match).
pub async fn fake_api(answer: &PresignResponse) -> String {
    TestServer::answering(serde_json::to_string(answer).unwrap())
        .await
        .unwrap()
        .detach()
}

/// A token that fires by itself after `delay`, as a user pressing Cancel mid-transfer.
pub fn cancel_after(delay: Duration) -> CancellationToken {
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        trigger.cancel();
    });
    cancel
}

/// Keeps every event the engine reports, for assertions afterwards.
#[derive(Default, Clone)]
pub struct Recorder(pub Arc<Mutex<Vec<TransferEvent>>>);

impl Recorder {
    /// A sink that records into this recorder.
    pub fn sink(&self) -> impl Fn(TransferEvent) + Send + Sync + use<> {
        let events = Arc::clone(&self.0);
        move |event| events.lock().unwrap().push(event)
    }

    /// Every progress report, as (transferred, total).
    pub fn progress(&self) -> Vec<(u64, u64)> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match e {
                TransferEvent::Progress(p) => Some((p.transferred, p.total)),
                _ => None,
            })
            .collect()
    }

    /// The kind of failure behind every retry, in order.
    pub fn retry_kinds(&self) -> Vec<ErrorKind> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match e {
                TransferEvent::Retrying { kind, .. } => Some(*kind),
                _ => None,
            })
            .collect()
    }
}
