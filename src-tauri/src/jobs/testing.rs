//! What the jobs' tests share: a backend with nothing configured, rows to restore, and a wait for
//! the list to settle.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ddn_transfer::{Engine, ResultOf};

use super::{Backend, Jobs, Notice, Record, Status};
use crate::clock::SystemClock;
use crate::error::CommandError;

/// A backend with nothing configured: every job fails at once with `not_configured`.
pub struct Unconfigured {
    notices: Mutex<Vec<Notice>>,
}

impl Unconfigured {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            notices: Mutex::new(Vec::new()),
        })
    }

    /// The notices sent so far.
    pub fn notices(&self) -> Vec<Notice> {
        super::lock_ignoring_poison(&self.notices).clone()
    }
}

impl Backend for Unconfigured {
    fn engine(&self) -> Result<Engine, CommandError> {
        Err(CommandError::not_configured())
    }
    fn results_dir(&self) -> PathBuf {
        PathBuf::from("/nonexistent")
    }
    fn notify(&self, notice: Notice) {
        super::lock_ignoring_poison(&self.notices).push(notice);
    }
}

/// [`Unconfigured`], as the jobs take it.
pub fn unconfigured() -> Arc<dyn Backend> {
    Unconfigured::new()
}

/// The list saved in `file`, on the computer's clock.
pub fn open(file: PathBuf, backend: Arc<dyn Backend>) -> Jobs {
    Jobs::open(file, backend, Arc::new(SystemClock))
}

/// A row `id` of the file `/data/<id>.txt`.
pub fn record(id: &str, status: Status, uploaded: bool) -> Record {
    Record {
        id: id.to_owned(),
        name: format!("{id}.txt"),
        source: Some(PathBuf::from(format!("/data/{id}.txt"))),
        size: 10,
        status,
        uploaded,
        result_of: ResultOf::default(),
        result_path: None,
        error: None,
    }
}

/// Waits until no row moves and every row that ended has been announced.
pub async fn until_idle(jobs: &Jobs) {
    let started = std::time::Instant::now();
    while jobs.is_busy() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the list did not settle: {:?}",
            jobs.records()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
