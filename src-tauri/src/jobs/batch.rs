//! One notice per batch: the rows that end while others still move are counted, and when the
//! last one ends the user is told once ("12 results are ready"), not once per row.

use super::record::Ending;

/// A summary for the system's notifications, sent when the last active transfer of a batch ends
/// (one notification for a batch of 200 files, not 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Results saved since the last notice.
    pub ready: usize,
    /// Transfers failed since the last notice.
    pub failed: usize,
    /// The single file concerned, when the batch was one file.
    pub name: Option<String>,
}

/// The rows that ended since the last notice.
#[derive(Debug, Default)]
pub(super) struct Batch {
    ready: usize,
    failed: usize,
    names: Vec<String>,
}

impl Batch {
    /// Counts the row `name` that ended so. A cancelled row is not news: the user did it.
    pub(super) fn count(&mut self, name: &str, ending: &Ending) {
        match ending {
            Ending::Ready(_) => self.ready += 1,
            Ending::Failed(_) => self.failed += 1,
            Ending::Cancelled => return,
        }
        self.names.push(name.to_owned());
    }

    /// The notice for the rows counted since the last (none when none ended), and a fresh
    /// count.
    pub(super) fn take_notice(&mut self) -> Option<Notice> {
        let Self {
            ready,
            failed,
            names,
        } = std::mem::take(self);
        if ready + failed == 0 {
            return None;
        }
        Some(Notice {
            ready,
            failed,
            name: (names.len() == 1)
                .then(|| names.into_iter().next())
                .flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::error::{CommandError, ErrorKind};
    use crate::files::FileToSend;
    use crate::jobs::testing::{Unconfigured, open, until_idle};
    use crate::jobs::{Backend, Status, UiEvent};

    fn ready() -> Ending {
        Ending::Ready(PathBuf::from("/results/x"))
    }

    fn failed() -> Ending {
        Ending::Failed(CommandError::not_configured())
    }

    #[test]
    fn a_notice_counts_the_rows_that_ended_and_names_a_single_one() {
        let mut batch = Batch::default();
        assert_eq!(batch.take_notice(), None, "nothing ended");
        batch.count("a.txt", &ready());
        assert_eq!(
            batch.take_notice(),
            Some(Notice {
                ready: 1,
                failed: 0,
                name: Some("a.txt".into())
            })
        );
        assert_eq!(batch.take_notice(), None, "each row is told once");
        batch.count("a.txt", &ready());
        batch.count("b.txt", &failed());
        batch.count("c.txt", &failed());
        batch.count("d.txt", &Ending::Cancelled);
        assert_eq!(
            batch.take_notice(),
            Some(Notice {
                ready: 1,
                failed: 2,
                name: None
            })
        );
        batch.count("d.txt", &Ending::Cancelled);
        assert_eq!(batch.take_notice(), None, "a cancellation is not news");
    }

    #[tokio::test]
    async fn every_change_is_saved_and_a_batch_ends_in_one_notice() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("transfers.json");
        let backend = Unconfigured::new();
        let jobs = open(file.clone(), Arc::clone(&backend) as Arc<dyn Backend>);
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&events);
        assert!(
            jobs.attach(Arc::new(move |event: &UiEvent| {
                seen.lock().expect("events").push(event.clone());
            }))
            .is_empty()
        );
        let files = (0..3)
            .map(|i| FileToSend {
                path: dir.path().join(format!("{i}.txt")),
                name: format!("{i}.txt"),
                size: 1,
            })
            .collect();
        let ids = jobs.add_files(files, Vec::new());
        assert_eq!(ids.len(), 3);
        until_idle(&jobs).await;
        for record in jobs.records() {
            assert_eq!(record.status, Status::Failed);
            assert_eq!(record.error.map(|e| e.kind), Some(ErrorKind::NotConfigured));
        }
        assert_eq!(
            backend.notices(),
            [Notice {
                ready: 0,
                failed: 3,
                name: None
            }]
        );
        let failed = events
            .lock()
            .expect("events")
            .iter()
            .filter(|event| matches!(event, UiEvent::Failed { .. }))
            .count();
        assert_eq!(failed, 3);

        jobs.flush();
        let reopened = open(file, backend);
        assert_eq!(reopened.records(), jobs.records());
    }
}
