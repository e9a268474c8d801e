//! The job loop: every file in the list goes Waiting → Uploading → Processing → Downloading →
//! Ready (or Failed / Cancelled), one task per file, with at most a few transfers moving at once.
//! The list is saved on every change of status, so after a restart unfinished work picks up where
//! it can: an upload starts again, a file that was already uploaded goes back to waiting for its
//! result: the result of that upload, which each row remembers ([`ResultOf`]), so an older result
//! of the same name is never taken for it.
//!
//! Nothing here knows Tauri: the page's channel, the notifications and the settings arrive through
//! [`Backend`] and [`Sink`], so the loop is tested on its own against the local stack.
//!
//! - [`record`]: the rows as saved ([`Status`], [`Record`]) and how a job ends ([`Ending`]).
//! - [`events`] and [`batching`]: what the page is told ([`UiEvent`]), and in what batches.
//! - `list`: what the page asks of the list (add, pause, resume, cancel, retry, remove).
//! - `runner`: one task per row, from where it stands to its end.
//! - `batch`: one [`Notice`] when a batch of rows has ended.
//! - `persistence`: the list loaded at start and saved by a thread of its own.
//!
//! [`ResultOf`]: ddn_transfer::ResultOf

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use ddn_transfer::{Engine, TransferQueue};

pub mod batching;
pub mod events;
pub mod record;

mod batch;
mod list;
mod persistence;
mod runner;
mod state;

#[cfg(test)]
mod row_events;
#[cfg(test)]
mod testing;

pub use batch::Notice;
pub use events::{Sink, StartOverReason, UiEvent};
pub use record::{Ending, Leftover, Record, Status};

use crate::clock::Clock;
use crate::error::CommandError;
use crate::json_file::JsonFile;
use persistence::{Saver, WriteList};
use state::State;

/// Transfers moving at once; the others wait their turn. Waiting for results takes no turn.
pub const CONCURRENT_TRANSFERS: usize = 4;

/// What the jobs run on.
pub trait Backend: Send + Sync + 'static {
    /// The engine for the current settings.
    ///
    /// # Errors
    /// `not_configured` when there is no address or token.
    fn engine(&self) -> Result<Engine, CommandError>;
    /// The folder results are saved in.
    fn results_dir(&self) -> PathBuf;
    /// Tells the user a batch ended.
    fn notify(&self, notice: Notice);
}

/// The list and its running jobs. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    /// Where new rows' ids take their time from.
    clock: Arc<dyn Clock>,
    queue: TransferQueue,
    state: Arc<Mutex<State>>,
    saver: Saver,
    /// Woken whenever the list stops moving (see [`Jobs::until_idle`]).
    idle: tokio::sync::Notify,
}

impl Jobs {
    /// Opens the list saved in `file` (an empty list when there is none; a damaged one is set
    /// aside). Rows that were moving when the app stopped are put back: uploads to Waiting,
    /// downloads to Processing; paused rows stay paused. New rows' ids take their time from
    /// `clock`. Call [`Self::start_unfinished`] from inside the async runtime to start them.
    pub fn open(file: PathBuf, backend: Arc<dyn Backend>, clock: Arc<dyn Clock>) -> Self {
        let file = JsonFile::new(file, "the transfer list");
        let records = file.load();
        Self::with_writer(
            records,
            backend,
            clock,
            Box::new(move |bytes| file.save(bytes)),
        )
    }

    /// [`Self::open`] for `records` already read, saved through `write`.
    fn with_writer(
        mut records: Vec<Record>,
        backend: Arc<dyn Backend>,
        clock: Arc<dyn Clock>,
        write: WriteList,
    ) -> Self {
        for record in &mut records {
            record.status = record.status.after_restart(record.uploaded);
        }
        let state = Arc::new(Mutex::new(State::new(records)));
        Self {
            inner: Arc::new(Inner {
                backend,
                clock,
                queue: TransferQueue::new(CONCURRENT_TRANSFERS),
                saver: Saver::start(Arc::clone(&state), write),
                state,
                idle: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Starts the rows of a restored list that were on their way; paused rows wait for the user.
    pub fn start_unfinished(&self) {
        let ids: Vec<String> = {
            let state = self.lock();
            state
                .records
                .iter()
                .filter(|record| record.status.is_active())
                .map(|record| record.id.clone())
                .collect()
        };
        for id in ids {
            self.spawn(id);
        }
    }

    /// Sends this list's events to `sink` from now on (replacing an earlier page's), answering the
    /// rows as they are now.
    pub fn attach(&self, sink: Sink) -> Vec<UiEvent> {
        let mut state = self.lock();
        state.sink = Some(sink);
        state.records.iter().map(UiEvent::added).collect()
    }

    /// The rows as they are now.
    pub fn records(&self) -> Vec<Record> {
        self.lock().records.clone()
    }

    /// Whether any row is still moving (or has ended and is being saved before the page is told).
    pub fn is_busy(&self) -> bool {
        self.lock().is_busy()
    }

    /// Waits until no row is moving; at once when none is.
    pub async fn until_idle(&self) {
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            // Registered before looking, so a change between the look and the wait still wakes it.
            idle.as_mut().enable();
            if !self.is_busy() {
                return;
            }
            idle.await;
        }
    }

    /// Writes the list now and waits for it (at exit).
    pub fn flush(&self) {
        self.inner.saver.flush();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock_ignoring_poison(&self.inner.state)
    }

    /// Asks for the list to be saved (the saver copies it when it gets to it).
    fn save(&self) {
        self.inner.saver.save();
    }

    /// When nothing is moving any more, wakes [`Self::until_idle`] and sends one notice for the
    /// rows that ended since the last.
    fn end_of_work(&self, state: &mut State) {
        if state.is_busy() {
            return;
        }
        self.inner.idle.notify_waiters();
        if let Some(notice) = state.batch.take_notice() {
            self.inner.backend.notify(notice);
        }
    }
}

/// A panic in another holder leaves plain data behind; keep going with it.
fn lock_ignoring_poison<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::testing::{open, record, unconfigured};
    use super::*;

    #[test]
    fn a_restored_list_resumes_each_row_from_where_it_can() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("transfers.json");
        let saved = vec![
            record("a", Status::Uploading, false),
            record("b", Status::Downloading, true),
            record("c", Status::Processing, true),
            record("d", Status::Ready, true),
            record("e", Status::Failed, false),
            record("f", Status::Waiting, false),
            record("g", Status::Paused, false),
            record("h", Status::Paused, true),
        ];
        std::fs::write(&file, serde_json::to_vec(&saved).expect("json")).expect("write");
        let jobs = open(file, unconfigured());
        let statuses: Vec<(String, Status)> = jobs
            .records()
            .into_iter()
            .map(|record| (record.id, record.status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("a".to_owned(), Status::Waiting),
                ("b".to_owned(), Status::Processing),
                ("c".to_owned(), Status::Processing),
                ("d".to_owned(), Status::Ready),
                ("e".to_owned(), Status::Failed),
                ("f".to_owned(), Status::Waiting),
                ("g".to_owned(), Status::Paused),
                ("h".to_owned(), Status::Paused),
            ]
        );
    }

    #[tokio::test]
    async fn a_paused_row_stays_paused_after_a_restart_until_the_user_resumes_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("transfers.json");
        let saved = vec![record("a", Status::Paused, false)];
        std::fs::write(&file, serde_json::to_vec(&saved).expect("json")).expect("write");
        let backend = super::testing::Unconfigured::new();
        let jobs = open(file, Arc::clone(&backend) as Arc<dyn Backend>);
        jobs.start_unfinished();
        assert!(!jobs.is_busy(), "a paused row keeps nothing busy");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(jobs.records()[0].status, Status::Paused, "not started");
        assert!(backend.engines_asked() == 0, "no run asked for an engine");

        // Resume starts its run: with nothing configured, that run fails at once.
        jobs.resume("a").expect("resumed");
        super::testing::until_idle(&jobs).await;
        let row = &jobs.records()[0];
        assert_eq!(
            (row.status, row.error.as_ref().map(|error| error.kind)),
            (Status::Failed, Some(crate::error::ErrorKind::NotConfigured))
        );
        assert_eq!(backend.engines_asked(), 1);
    }

    #[test]
    fn a_damaged_list_is_set_aside_and_the_app_starts_empty() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("transfers.json");
        std::fs::write(&file, b"[{\"id\": ").expect("write");
        let jobs = open(file, unconfigured());
        assert!(jobs.records().is_empty());
        assert_eq!(
            std::fs::read(dir.path().join("transfers.json.damaged")).expect("kept"),
            b"[{\"id\": "
        );
    }
}
