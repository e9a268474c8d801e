//! Helpers shared by the engine's integration tests.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use ddn_transfer::TransferEvent;

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

    /// The reason of every retry, in order.
    pub fn retry_reasons(&self) -> Vec<String> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match e {
                TransferEvent::Retrying { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }
}
