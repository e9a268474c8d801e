//! The job loop: every file in the list goes Waiting → Uploading → Processing → Downloading →
//! Ready (or Failed / Cancelled), one task per file, with at most a few transfers moving at once.
//! The list is saved on every change of status, so after a restart unfinished work picks up where
//! it can: an upload starts again, a file that was already uploaded goes back to waiting for its
//! result: the result of that upload, which each row remembers ([`ResultOf`]), so an older result
//! of the same name is never taken for it.
//!
//! Nothing here knows Tauri: the page's channel, the notifications and the settings arrive through
//! [`Backend`] and [`Sink`], so the loop is tested on its own against the local stack.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use ddn_transfer::{
    CancellationToken, Engine, ResultOf, TransferError, TransferEvent, TransferQueue,
};
use serde::{Deserialize, Serialize};

use crate::error::{CommandError, kind_name};
use crate::files::{FileToSend, Skipped};

/// Transfers moving at once; the others wait their turn. Waiting for results takes no turn.
pub const CONCURRENT_TRANSFERS: usize = 4;

/// A row's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Queued.
    Waiting,
    /// Being sent.
    Uploading,
    /// Sent; the service is working on it and the app waits for the result.
    Processing,
    /// The result is being fetched.
    Downloading,
    /// The result is in the results folder.
    Ready,
    /// Stopped with an error; can be retried.
    Failed,
    /// Stopped by the user; can be retried.
    Cancelled,
}

impl Status {
    /// Whether work is still going on.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Waiting | Self::Uploading | Self::Processing | Self::Downloading
        )
    }
}

/// One row of the list, as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Stable across restarts.
    pub id: String,
    /// The name the file is sent under (and its result fetched by).
    pub name: String,
    /// The file to send; `None` for a result fetched from the results view. Kept exactly, even
    /// when its name is not valid Unicode (see [`saved_path`]).
    #[serde(default, with = "saved_path")]
    pub source: Option<PathBuf>,
    /// The file's size in bytes (the result's, for a fetched result).
    pub size: u64,
    /// Where it stands.
    pub status: Status,
    /// Whether the upload finished, so a retry only waits for the result again.
    pub uploaded: bool,
    /// Which upload the result must answer: set when the upload finishes, and passed to every
    /// wait and download, also after a restart. The default (lists saved before it existed, and
    /// results fetched from the results view) accepts whatever result is stored.
    #[serde(default)]
    pub result_of: ResultOf,
    /// Where the result was saved.
    #[serde(default, with = "saved_path")]
    pub result_path: Option<PathBuf>,
    /// Why it failed.
    pub error: Option<CommandError>,
}

/// What the page is told, one event per change (sent in batches, see [`crate::batching`]).
/// Shapes match `ui/src/transfers.js`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum UiEvent {
    /// A row to show.
    Added {
        /// Row id.
        id: String,
        /// Shown name.
        name: String,
        /// Bytes.
        size: u64,
        /// Current status.
        status: Status,
        /// Why it failed, if it did.
        error: Option<CommandError>,
        /// The saved result, if ready.
        result_path: Option<PathBuf>,
    },
    /// A row left the list.
    Removed {
        /// Row id.
        id: String,
    },
    /// The upload started.
    Uploading {
        /// Row id.
        id: String,
        /// Bytes to send.
        total: u64,
    },
    /// The upload finished; waiting for the result.
    Processing {
        /// Row id.
        id: String,
    },
    /// The result's download started.
    Downloading {
        /// Row id.
        id: String,
        /// Bytes to fetch.
        total: u64,
    },
    /// Bytes moved in the current phase (cumulative).
    Progress {
        /// Row id.
        id: String,
        /// Bytes so far.
        transferred: u64,
        /// Bytes in all.
        total: u64,
        /// Recent speed.
        bytes_per_second: f64,
        /// Estimated seconds left.
        eta_seconds: Option<f64>,
    },
    /// An attempt failed and will be retried after a pause.
    Retrying {
        /// Row id.
        id: String,
        /// The failure's kind, for the page's wording.
        kind: String,
        /// The failure in English.
        reason: String,
        /// Seconds until the next attempt.
        delay_seconds: f64,
    },
    /// The result is saved.
    Ready {
        /// Row id.
        id: String,
        /// Where.
        result_path: PathBuf,
    },
    /// The row stopped with an error.
    Failed {
        /// Row id.
        id: String,
        /// Why.
        error: CommandError,
    },
    /// The user stopped the row.
    Cancelled {
        /// Row id.
        id: String,
    },
    /// The row was put back in the queue.
    Retried {
        /// Row id.
        id: String,
    },
}

impl UiEvent {
    fn added(record: &Record) -> Self {
        Self::Added {
            id: record.id.clone(),
            name: record.name.clone(),
            size: record.size,
            status: record.status,
            error: record.error.clone(),
            result_path: record.result_path.clone(),
        }
    }
}

/// Where the page's events go (its IPC channel in the app).
pub type Sink = Arc<dyn Fn(&UiEvent) + Send + Sync>;

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
    queue: TransferQueue,
    state: Arc<Mutex<State>>,
    saver: Saver,
    /// Woken whenever the list stops moving (see [`Jobs::until_idle`]).
    idle: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    records: Vec<Record>,
    /// The running job of each row: its run number and its cancellation.
    runs: HashMap<String, (u64, CancellationToken)>,
    last_run: u64,
    sink: Option<Sink>,
    last_id: u64,
    batch_ready: usize,
    batch_failed: usize,
    batch_names: Vec<String>,
    /// Rows that have ended but whose end is still being saved before the page is told.
    announcing: usize,
}

impl State {
    fn record_mut(&mut self, id: &str) -> Option<&mut Record> {
        self.records.iter_mut().find(|record| record.id == id)
    }

    /// Whether a row other than `except` is still moving `name` (both would share one result).
    fn name_on_its_way(&self, name: &str, except: Option<&str>) -> bool {
        self.records.iter().any(|record| {
            Some(record.id.as_str()) != except && record.status.is_active() && record.name == name
        })
    }

    /// Whether a row moves, or has ended and is not announced yet.
    fn is_busy(&self) -> bool {
        self.announcing > 0 || self.records.iter().any(|record| record.status.is_active())
    }

    fn emit(&self, event: &UiEvent) {
        if let Some(sink) = &self.sink {
            sink(event);
        }
    }

    fn new_id(&mut self) -> String {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as u64);
        self.last_id = self.last_id.max(millis.saturating_mul(1000)) + 1;
        format!("t{:x}", self.last_id)
    }
}

impl Jobs {
    /// Opens the list saved in `file` (an empty list when there is none). Rows that were moving
    /// when the app stopped are put back: uploads to Waiting, downloads to Processing. Call
    /// [`Self::resume`] from inside the async runtime to start them.
    pub fn open(file: PathBuf, backend: Arc<dyn Backend>) -> Self {
        let records = load(&file);
        Self::with_writer(
            records,
            backend,
            Box::new(move |bytes| crate::settings::write_atomically(&file, bytes)),
        )
    }

    /// [`Self::open`] for `records` already read, saved through `write`.
    fn with_writer(mut records: Vec<Record>, backend: Arc<dyn Backend>, write: WriteList) -> Self {
        for record in &mut records {
            record.status = match record.status {
                Status::Waiting | Status::Uploading if !record.uploaded => Status::Waiting,
                Status::Waiting | Status::Uploading | Status::Processing | Status::Downloading => {
                    Status::Processing
                }
                done => done,
            };
        }
        let state = Arc::new(Mutex::new(State {
            records,
            ..State::default()
        }));
        Self {
            inner: Arc::new(Inner {
                backend,
                queue: TransferQueue::new(CONCURRENT_TRANSFERS),
                saver: Saver::start(Arc::clone(&state), write),
                state,
                idle: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Starts the unfinished rows of a restored list.
    pub fn resume(&self) {
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

    /// Adds files to send and starts them; paths that could not be expanded become failed rows
    /// that say why. A name already on its way in another row fails at once, since both would
    /// share one result. Answers the new rows' ids.
    pub fn add_files(&self, files: Vec<FileToSend>, skipped: Vec<Skipped>) -> Vec<String> {
        let mut started = Vec::new();
        let mut ids = Vec::new();
        {
            let mut state = self.lock();
            for file in files {
                let id = state.new_id();
                let busy = state.name_on_its_way(&file.name, None);
                let error = busy.then(duplicate_name);
                let record = Record {
                    id: id.clone(),
                    name: file.name,
                    source: Some(file.path),
                    size: file.size,
                    status: if busy {
                        Status::Failed
                    } else {
                        Status::Waiting
                    },
                    uploaded: false,
                    result_of: ResultOf::default(),
                    result_path: None,
                    error,
                };
                if !busy {
                    started.push(id.clone());
                }
                state.emit(&UiEvent::added(&record));
                state.records.push(record);
                ids.push(id);
            }
            for skip in skipped {
                let id = state.new_id();
                let name = skip.path.file_name().map_or_else(
                    || skip.path.display().to_string(),
                    |name| name.to_string_lossy().into_owned(),
                );
                let record = Record {
                    id: id.clone(),
                    name,
                    source: Some(skip.path),
                    size: 0,
                    status: Status::Failed,
                    uploaded: false,
                    result_of: ResultOf::default(),
                    result_path: None,
                    error: Some(CommandError::new("io", skip.reason)),
                };
                state.emit(&UiEvent::added(&record));
                state.records.push(record);
                ids.push(id);
            }
            self.save();
        }
        for id in started {
            self.spawn(id);
        }
        ids
    }

    /// Adds a result from the server (the results view) to fetch into the results folder.
    pub fn add_result(&self, name: String, size: u64) -> String {
        let id = {
            let mut state = self.lock();
            let id = state.new_id();
            let record = Record {
                id: id.clone(),
                name,
                source: None,
                size,
                status: Status::Processing,
                uploaded: true,
                // Fetched by name: whatever result is stored is the one wanted.
                result_of: ResultOf::default(),
                result_path: None,
                error: None,
            };
            state.emit(&UiEvent::added(&record));
            state.records.push(record);
            self.save();
            id
        };
        self.spawn(id.clone());
        id
    }

    /// Stops a row that is still moving.
    ///
    /// # Errors
    /// `not_found` for an unknown row.
    pub fn cancel(&self, id: &str) -> Result<(), CommandError> {
        let mut state = self.lock();
        let record = state.record_mut(id).ok_or_else(CommandError::not_found)?;
        if !record.status.is_active() {
            return Ok(());
        }
        record.status = Status::Cancelled;
        if let Some((_, cancel)) = state.runs.remove(id) {
            cancel.cancel();
        }
        state.emit(&UiEvent::Cancelled { id: id.to_owned() });
        self.save();
        self.end_of_work(&mut state);
        Ok(())
    }

    /// Puts a failed or cancelled row back in the queue, from where it stopped: a file already
    /// uploaded only waits for its result again, unless its processing failed: then there is no
    /// result to wait for, and the file is uploaded again.
    ///
    /// # Errors
    /// `not_found` for an unknown row; `duplicate` when another row is sending the same name.
    pub fn retry(&self, id: &str) -> Result<(), CommandError> {
        {
            let mut state = self.lock();
            let record = state.record_mut(id).ok_or_else(CommandError::not_found)?;
            if record.status != Status::Failed && record.status != Status::Cancelled {
                return Ok(());
            }
            let name = record.name.clone();
            if state.name_on_its_way(&name, Some(id)) {
                return Err(duplicate_name());
            }
            let record = state.record_mut(id).ok_or_else(CommandError::not_found)?;
            let processing_failed = record
                .error
                .as_ref()
                .is_some_and(|error| error.kind == PROCESSING_FAILED);
            if processing_failed && record.source.is_some() {
                record.uploaded = false;
                record.result_of = ResultOf::default();
            }
            record.error = None;
            record.status = if record.uploaded {
                Status::Processing
            } else {
                Status::Waiting
            };
            let uploaded = record.uploaded;
            state.emit(&UiEvent::Retried { id: id.to_owned() });
            if uploaded {
                state.emit(&UiEvent::Processing { id: id.to_owned() });
            }
            self.save();
        }
        self.spawn(id.to_owned());
        Ok(())
    }

    /// Takes a finished row off the list (its result stays where it is).
    ///
    /// # Errors
    /// `not_found` for an unknown row; `busy` while it is still moving.
    pub fn remove(&self, id: &str) -> Result<(), CommandError> {
        let mut state = self.lock();
        let index = state
            .records
            .iter()
            .position(|record| record.id == id)
            .ok_or_else(CommandError::not_found)?;
        if state.records[index].status.is_active() {
            return Err(CommandError::new(
                "busy",
                "Cancel the transfer before removing it.",
            ));
        }
        state.records.remove(index);
        state.emit(&UiEvent::Removed { id: id.to_owned() });
        self.save();
        Ok(())
    }

    /// Where a ready row's result is.
    ///
    /// # Errors
    /// `not_found` for an unknown row or one without a result.
    pub fn result_path(&self, id: &str) -> Result<PathBuf, CommandError> {
        let state = self.lock();
        state
            .records
            .iter()
            .find(|record| record.id == id)
            .and_then(|record| record.result_path.clone())
            .ok_or_else(CommandError::not_found)
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

    fn spawn(&self, id: String) {
        let cancel = CancellationToken::new();
        let run = {
            let mut state = self.lock();
            state.last_run += 1;
            let run = state.last_run;
            if let Some((_, previous)) = state.runs.insert(id.clone(), (run, cancel.clone())) {
                previous.cancel();
            }
            run
        };
        let jobs = self.clone();
        tokio::spawn(async move {
            let outcome = jobs.run(&id, &cancel).await;
            jobs.finish(&id, run, outcome).await;
        });
    }

    /// One row's journey from where it stands to its result.
    async fn run(&self, id: &str, cancel: &CancellationToken) -> Result<PathBuf, CommandError> {
        let record = self
            .lock()
            .records
            .iter()
            .find(|record| record.id == id)
            .cloned()
            .ok_or_else(CommandError::not_found)?;
        let engine = self.inner.backend.engine()?;
        let events = |event: TransferEvent| self.forward(id, event);

        let mut result_of = record.result_of.clone();
        if !record.uploaded {
            let source = record.source.clone().ok_or_else(CommandError::not_found)?;
            let uploaded = self
                .in_turn(cancel, async {
                    // The file may have changed (or appeared) since it was added.
                    let size = tokio::fs::metadata(&source)
                        .await
                        .map_or(record.size, |metadata| metadata.len());
                    self.transition(
                        id,
                        Status::Uploading,
                        UiEvent::Uploading {
                            id: id.to_owned(),
                            total: size,
                        },
                    );
                    engine.upload(&source, &record.name, cancel, &events).await
                })
                .await?;
            result_of = uploaded.result_of();
            let mut state = self.lock();
            if let Some(record) = state.record_mut(id) {
                record.uploaded = true;
                record.size = uploaded.size;
                record.result_of = result_of.clone();
            }
            drop(state);
            self.transition(
                id,
                Status::Processing,
                UiEvent::Processing { id: id.to_owned() },
            );
        }

        let answer = engine
            .wait_for_result(&record.name, &result_of, cancel, &events)
            .await?;
        let dir = self.inner.backend.results_dir();
        let downloaded = self
            .in_turn(cancel, async {
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(|source| TransferError::Io {
                        action: "create",
                        path: dir.clone(),
                        source,
                    })?;
                self.transition(
                    id,
                    Status::Downloading,
                    UiEvent::Downloading {
                        id: id.to_owned(),
                        total: answer.size.unwrap_or(0),
                    },
                );
                engine
                    .download_answer(&record.name, &result_of, answer, &dir, cancel, &events)
                    .await
            })
            .await?;
        Ok(downloaded.path)
    }

    /// Runs `work` when a transfer slot is free, unless cancelled first.
    async fn in_turn<T>(
        &self,
        cancel: &CancellationToken,
        work: impl Future<Output = Result<T, TransferError>>,
    ) -> Result<T, CommandError> {
        tokio::select! {
            result = self.inner.queue.run(work) => result.map_err(CommandError::from),
            () = cancel.cancelled() => Err(TransferError::Cancelled.into()),
        }
    }

    /// Passes the engine's progress and retries to the page (not saved: they change too often).
    fn forward(&self, id: &str, event: TransferEvent) {
        let event = match event {
            TransferEvent::Progress(progress) => UiEvent::Progress {
                id: id.to_owned(),
                transferred: progress.transferred,
                total: progress.total,
                bytes_per_second: progress.bytes_per_second,
                eta_seconds: progress.eta.map(|eta| eta.as_secs_f64()),
            },
            TransferEvent::Retrying {
                delay,
                kind,
                reason,
                ..
            } => UiEvent::Retrying {
                id: id.to_owned(),
                kind: kind_name(kind),
                reason,
                delay_seconds: delay.as_secs_f64(),
            },
            TransferEvent::WaitingForResult { .. } => return,
        };
        let state = self.lock();
        if state
            .records
            .iter()
            .any(|record| record.id == id && record.status.is_active())
        {
            state.emit(&event);
        }
    }

    /// Moves an active row to `status`, telling the page and saving the list. A row that was
    /// cancelled meanwhile stays cancelled.
    fn transition(&self, id: &str, status: Status, event: UiEvent) {
        let mut state = self.lock();
        let Some(record) = state.record_mut(id) else {
            return;
        };
        if !record.status.is_active() {
            return;
        }
        record.status = status;
        state.emit(&event);
        self.save();
    }

    /// Records how a job ended. The row's new state is on disk before the page hears of it, so a
    /// row the user saw finish is never found unfinished (and sent again) after a crash.
    async fn finish(&self, id: &str, run: u64, outcome: Result<PathBuf, CommandError>) {
        let (event, status) = {
            let mut state = self.lock();
            // Only the row's current run may end it: a cancelled run was already accounted for,
            // and a retry started since owns the row now.
            if state.runs.get(id).map(|(current, _)| *current) != Some(run) {
                return;
            }
            state.runs.remove(id);
            let Some(record) = state.record_mut(id) else {
                return;
            };
            if !record.status.is_active() {
                return;
            }
            let name = record.name.clone();
            let event = match outcome {
                Ok(path) => {
                    record.status = Status::Ready;
                    record.result_path = Some(path.clone());
                    UiEvent::Ready {
                        id: id.to_owned(),
                        result_path: path,
                    }
                }
                Err(error) if error.kind == "cancelled" => {
                    record.status = Status::Cancelled;
                    UiEvent::Cancelled { id: id.to_owned() }
                }
                Err(error) => {
                    record.status = Status::Failed;
                    record.error = Some(error.clone());
                    UiEvent::Failed {
                        id: id.to_owned(),
                        error,
                    }
                }
            };
            let status = record.status;
            match &event {
                UiEvent::Ready { .. } => state.batch_ready += 1,
                UiEvent::Failed { .. } => state.batch_failed += 1,
                _ => {}
            }
            if matches!(event, UiEvent::Ready { .. } | UiEvent::Failed { .. }) {
                state.batch_names.push(name);
            }
            // Until it is announced, the row still counts as busy for the batch's notice.
            state.announcing += 1;
            self.save();
            (event, status)
        };
        let jobs = self.clone();
        if let Err(error) = tokio::task::spawn_blocking(move || jobs.flush()).await {
            tracing::error!(%error, "the transfer list could not be saved before a row ended");
        }
        let mut state = self.lock();
        state.announcing -= 1;
        // A retry or a removal while the list was written has told the page already.
        let unchanged = !state.runs.contains_key(id)
            && state
                .records
                .iter()
                .any(|record| record.id == id && record.status == status);
        if unchanged {
            state.emit(&event);
        }
        self.end_of_work(&mut state);
    }

    /// When nothing is moving any more, wakes [`Self::until_idle`] and sends one notice for the
    /// rows that ended since the last.
    fn end_of_work(&self, state: &mut State) {
        if state.is_busy() {
            return;
        }
        self.inner.idle.notify_waiters();
        if state.batch_ready + state.batch_failed == 0 {
            return;
        }
        let names = std::mem::take(&mut state.batch_names);
        let notice = Notice {
            ready: std::mem::take(&mut state.batch_ready),
            failed: std::mem::take(&mut state.batch_failed),
            name: (names.len() == 1)
                .then(|| names.into_iter().next())
                .flatten(),
        };
        self.inner.backend.notify(notice);
    }
}

/// The kind of a failure the processor reported for the upload (its reason in the error's
/// `detail`).
const PROCESSING_FAILED: &str = "processing_failed";

fn duplicate_name() -> CommandError {
    CommandError::new(
        "duplicate",
        "A file with this name is already on its way; retry once it is done.",
    )
}

fn load(file: &Path) -> Vec<Record> {
    match std::fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            tracing::warn!(%error, "the saved list is damaged; set aside, starting empty");
            let _ = std::fs::rename(file, file.with_extension("json.damaged"));
            Vec::new()
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => {
            tracing::warn!(%error, "could not read the saved list; starting empty");
            Vec::new()
        }
    }
}

/// How the saver puts the list's bytes on disk (atomically into `transfers.json` in the app).
type WriteList = Box<dyn Fn(&[u8]) -> std::io::Result<()> + Send>;

/// Writes the list on a thread of its own, so a disk that is slow to sync never holds up the
/// list's lock (and with it the page's progress). A change only marks the list as changed; the
/// thread takes one copy of the list when it wakes and writes that, so a burst of changes costs one
/// copy and one write, and at most one save is ever waiting. A list that cannot be serialized is
/// not written at all: the file on disk keeps the last good list.
struct Saver {
    shared: Arc<SaverShared>,
}

struct SaverShared {
    progress: Mutex<SaveProgress>,
    /// The thread waits on it for a change.
    changed: Condvar,
    /// [`Saver::flush`] waits on it for a write.
    written: Condvar,
}

#[derive(Default)]
struct SaveProgress {
    /// Counts the changes asked to be saved.
    requested: u64,
    /// The newest `requested` that a finished write covered.
    written: u64,
    /// Lists written, for the tests.
    writes: u64,
    /// Whether the thread runs (false when it could not start).
    running: bool,
    /// Set when the list goes away: the thread writes what is pending, then ends.
    stop: bool,
}

impl Saver {
    fn start(state: Arc<Mutex<State>>, write: WriteList) -> Self {
        let shared = Arc::new(SaverShared {
            progress: Mutex::new(SaveProgress {
                running: true,
                ..SaveProgress::default()
            }),
            changed: Condvar::new(),
            written: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("transfer-list-saver".into())
            .spawn(move || save_changes(&thread_shared, &state, &write));
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start the list saver; the list will not be kept");
            lock_ignoring_poison(&shared.progress).running = false;
        }
        Self { shared }
    }

    /// Marks the list as changed; the thread writes it soon.
    fn save(&self) {
        lock_ignoring_poison(&self.shared.progress).requested += 1;
        self.shared.changed.notify_one();
    }

    /// Writes the list as it is now and waits until it is on disk.
    fn flush(&self) {
        let mut progress = lock_ignoring_poison(&self.shared.progress);
        progress.requested += 1;
        let target = progress.requested;
        self.shared.changed.notify_one();
        while progress.running && progress.written < target {
            progress = self
                .shared
                .written
                .wait(progress)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    #[cfg(test)]
    fn writes(&self) -> u64 {
        lock_ignoring_poison(&self.shared.progress).writes
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        lock_ignoring_poison(&self.shared.progress).stop = true;
        self.shared.changed.notify_one();
    }
}

/// The saver thread: waits for a change, copies the list, writes it; until told to stop.
fn save_changes(shared: &SaverShared, state: &Mutex<State>, write: &WriteList) {
    loop {
        let target = {
            let mut progress = lock_ignoring_poison(&shared.progress);
            while progress.requested == progress.written && !progress.stop {
                progress = shared
                    .changed
                    .wait(progress)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if progress.requested == progress.written {
                break;
            }
            progress.requested
        };
        // Every change counted in `target` was made before it was counted, under the list's
        // lock, so this copy holds them all.
        let records = lock_ignoring_poison(state).records.clone();
        match serde_json::to_vec(&records) {
            Ok(bytes) => {
                if let Err(error) = write(&bytes) {
                    tracing::error!(%error, "could not save the transfer list");
                }
            }
            Err(error) => {
                tracing::error!(%error, "the transfer list could not be serialized; not saved");
            }
        }
        let mut progress = lock_ignoring_poison(&shared.progress);
        progress.written = target;
        progress.writes += 1;
        shared.written.notify_all();
    }
    lock_ignoring_poison(&shared.progress).running = false;
    shared.written.notify_all();
}

/// A panic in another holder leaves plain data behind; keep going with it.
fn lock_ignoring_poison<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Paths in the saved list, kept exactly: as text when they are valid Unicode (as in every list
/// saved before), else as `{ "bytes": [...] }` (Unix) or `{ "wide": [...] }` (Windows' UTF-16
/// units), so one file name that is not Unicode can neither make the list unsavable nor be
/// changed on its way through the file.
mod saved_path {
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum SavedPath {
        Text(String),
        Bytes { bytes: Vec<u8> },
        Wide { wide: Vec<u16> },
    }

    pub fn serialize<S: Serializer>(
        path: &Option<PathBuf>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        path.as_deref().map(to_saved).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<PathBuf>, D::Error> {
        Ok(Option::<SavedPath>::deserialize(deserializer)?.map(from_saved))
    }

    fn to_saved(path: &Path) -> SavedPath {
        if let Some(text) = path.to_str() {
            return SavedPath::Text(text.to_owned());
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt as _;
            SavedPath::Bytes {
                bytes: path.as_os_str().as_bytes().to_vec(),
            }
        }
        #[cfg(windows)]
        {
            use std::os::windows::ffi::OsStrExt as _;
            SavedPath::Wide {
                wide: path.as_os_str().encode_wide().collect(),
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            SavedPath::Text(path.to_string_lossy().into_owned())
        }
    }

    fn from_saved(saved: SavedPath) -> PathBuf {
        match saved {
            SavedPath::Text(text) => PathBuf::from(text),
            #[cfg(unix)]
            SavedPath::Bytes { bytes } => {
                use std::os::unix::ffi::OsStringExt as _;
                PathBuf::from(std::ffi::OsString::from_vec(bytes))
            }
            #[cfg(windows)]
            SavedPath::Wide { wide } => {
                use std::os::windows::ffi::OsStringExt as _;
                PathBuf::from(std::ffi::OsString::from_wide(&wide))
            }
            // A list carried to another kind of system: the nearest readable name.
            #[cfg(not(unix))]
            SavedPath::Bytes { bytes } => {
                PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
            }
            #[cfg(not(windows))]
            SavedPath::Wide { wide } => PathBuf::from(String::from_utf16_lossy(&wide)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend with nothing configured: every job fails at once with `not_configured`.
    struct Unconfigured {
        notices: Mutex<Vec<Notice>>,
    }

    impl Backend for Unconfigured {
        fn engine(&self) -> Result<Engine, CommandError> {
            Err(CommandError::not_configured())
        }
        fn results_dir(&self) -> PathBuf {
            PathBuf::from("/nonexistent")
        }
        fn notify(&self, notice: Notice) {
            self.notices
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(notice);
        }
    }

    fn record(id: &str, status: Status, uploaded: bool) -> Record {
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

    fn unconfigured() -> Arc<Unconfigured> {
        Arc::new(Unconfigured {
            notices: Mutex::new(Vec::new()),
        })
    }

    /// Waits until no row moves and every row that ended has been announced.
    async fn until_idle(jobs: &Jobs) {
        let started = std::time::Instant::now();
        while jobs
            .records()
            .iter()
            .any(|record| record.status.is_active())
            || jobs.lock().announcing > 0
        {
            assert!(started.elapsed() < std::time::Duration::from_secs(10));
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

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
        ];
        std::fs::write(&file, serde_json::to_vec(&saved).expect("json")).expect("write");
        let backend = Arc::new(Unconfigured {
            notices: Mutex::new(Vec::new()),
        });
        let jobs = Jobs::open(file, backend);
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
            ]
        );
    }

    #[tokio::test]
    async fn every_change_is_saved_and_a_batch_ends_in_one_notice() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("transfers.json");
        let backend = Arc::new(Unconfigured {
            notices: Mutex::new(Vec::new()),
        });
        let jobs = Jobs::open(file.clone(), Arc::clone(&backend) as Arc<dyn Backend>);
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
            assert_eq!(
                record.error.map(|e| e.kind).as_deref(),
                Some("not_configured")
            );
        }
        assert_eq!(
            *backend.notices.lock().expect("notices"),
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
        let reopened = Jobs::open(file, backend);
        assert_eq!(reopened.records(), jobs.records());
    }

    #[tokio::test]
    async fn a_row_is_saved_as_ended_before_the_page_hears_it() {
        let written = Arc::new(Mutex::new(Vec::<u8>::new()));
        let disk = Arc::clone(&written);
        let jobs = Jobs::with_writer(
            Vec::new(),
            unconfigured(),
            // A slow disk, so that a page told before the write would see the old list.
            Box::new(move |bytes| {
                std::thread::sleep(std::time::Duration::from_millis(30));
                *lock_ignoring_poison(&disk) = bytes.to_vec();
                Ok(())
            }),
        );
        // For each ended row the page hears of: its status in the list on disk at that moment.
        let on_disk_when_told = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&on_disk_when_told);
        jobs.attach(Arc::new(move |event: &UiEvent| {
            if let UiEvent::Failed { id, .. } = event {
                let saved: Vec<Record> =
                    serde_json::from_slice(&lock_ignoring_poison(&written)).unwrap_or_default();
                let status = saved
                    .iter()
                    .find(|record| &record.id == id)
                    .map(|record| record.status);
                lock_ignoring_poison(&seen).push(status);
            }
        }));
        let files = (0..4)
            .map(|i| FileToSend {
                path: PathBuf::from(format!("/data/{i}.txt")),
                name: format!("{i}.txt"),
                size: 1,
            })
            .collect();
        jobs.add_files(files, Vec::new());
        until_idle(&jobs).await;
        assert_eq!(
            *lock_ignoring_poison(&on_disk_when_told),
            [Some(Status::Failed); 4]
        );
    }

    #[test]
    fn a_name_already_on_its_way_fails_instead_of_sharing_a_result() {
        let dir = tempfile::tempdir().expect("temp dir");
        let saved = vec![record("a", Status::Processing, true)];
        let file = dir.path().join("transfers.json");
        std::fs::write(&file, serde_json::to_vec(&saved).expect("json")).expect("write");
        let jobs = Jobs::open(
            file,
            Arc::new(Unconfigured {
                notices: Mutex::new(Vec::new()),
            }),
        );
        // Not resumed, so "a" stays active.
        let ids = jobs.add_files(
            vec![FileToSend {
                path: dir.path().join("a.txt"),
                name: "a.txt".to_owned(),
                size: 1,
            }],
            Vec::new(),
        );
        let added = jobs
            .records()
            .into_iter()
            .find(|record| record.id == ids[0])
            .expect("added");
        assert_eq!(added.status, Status::Failed);
        assert_eq!(added.error.map(|e| e.kind).as_deref(), Some("duplicate"));
    }

    /// A file name that is not valid Unicode (Linux allows any bytes but `/` and NUL).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_file_name_that_is_not_unicode_keeps_the_list_whole() {
        use std::os::unix::ffi::OsStrExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let folder = dir.path().join("drop");
        std::fs::create_dir(&folder).expect("folder");
        let odd = folder.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
        std::fs::write(&odd, b"latin-1 name").expect("a file with a Latin-1 name");
        std::fs::write(folder.join("plain.txt"), b"plain").expect("write");
        let file = dir.path().join("transfers.json");
        let earlier = vec![record("earlier", Status::Ready, true)];
        std::fs::write(&file, serde_json::to_vec(&earlier).expect("json")).expect("write");

        let jobs = Jobs::open(file.clone(), unconfigured());
        let (found, skipped) = crate::files::expand(std::slice::from_ref(&folder));
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        jobs.add_files(found, skipped);
        until_idle(&jobs).await;
        jobs.flush();

        let odd_row = jobs
            .records()
            .into_iter()
            .find(|record| record.name == "caf\u{fffd}.txt")
            .expect("the row of the odd name, shown as well as it can be");
        assert_eq!(odd_row.status, Status::Failed);
        assert_eq!(odd_row.source.as_deref(), Some(odd.as_path()));
        let reopened = Jobs::open(file.clone(), unconfigured());
        assert_eq!(
            reopened.records(),
            jobs.records(),
            "the whole list came back"
        );
        assert_eq!(reopened.records().len(), 3);
        assert!(
            !dir.path().join("transfers.json.damaged").exists(),
            "nothing was set aside"
        );
        let reopened_odd = reopened
            .records()
            .into_iter()
            .find(|record| record.id == odd_row.id)
            .expect("the odd row");
        assert_eq!(
            reopened_odd
                .source
                .expect("its path")
                .as_os_str()
                .as_bytes(),
            odd.as_os_str().as_bytes(),
            "the path is kept byte for byte"
        );
    }

    #[test]
    fn lists_saved_before_the_upload_was_remembered_still_load() {
        let old = r#"[{"id":"t1","name":"a.txt","source":"/data/a.txt","size":3,
            "status":"processing","uploaded":true,"resultPath":null,
            "error":{"kind":"io","message":"x"}}]"#;
        let records: Vec<Record> = serde_json::from_str(old).expect("an old list");
        assert_eq!(records[0].result_of, ResultOf::default());
        assert_eq!(records[0].source.as_deref(), Some(Path::new("/data/a.txt")));
        // And what is saved now reads back the same.
        let mut now = record("b", Status::Processing, true);
        now.result_of = ResultOf {
            upload_id: Some("u-123".into()),
            uploaded_at: Some("2026-12-01T10:00:00Z".into()),
        };
        let json = serde_json::to_string(&vec![now.clone()]).expect("json");
        assert!(
            json.contains(r#""source":"/data/b.txt""#),
            "paths stay text: {json}"
        );
        assert_eq!(
            serde_json::from_str::<Vec<Record>>(&json).expect("read"),
            [now]
        );
    }

    #[test]
    fn a_burst_of_changes_is_saved_in_few_writes_ending_with_the_last_state() {
        const CHANGES: usize = 500;
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("transfers.json");
        // The first write is held until the burst is over, as a slow disk would.
        let (entered, first_write_started) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let hold = Mutex::new(Some((entered, released)));
        let target = file.clone();
        let write: WriteList = Box::new(move |bytes| {
            let first = hold.lock().expect("hold").take();
            if let Some((entered, released)) = first {
                let _ = entered.send(());
                let _ = released.recv();
            }
            crate::settings::write_atomically(&target, bytes)
        });
        let jobs = Jobs::with_writer(Vec::new(), unconfigured(), write);
        let skipped = |i: usize| Skipped {
            path: dir.path().join(format!("missing-{i}.txt")),
            reason: "It could not be read.".to_owned(),
        };
        jobs.add_files(Vec::new(), vec![skipped(0)]);
        first_write_started
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the first change is being written");
        for i in 1..CHANGES {
            jobs.add_files(Vec::new(), vec![skipped(i)]);
        }
        release.send(()).expect("release");
        jobs.flush();

        let writes = jobs.inner.saver.writes();
        // The first write, at most one for the whole burst, and the flush's.
        assert!(writes <= 3, "{CHANGES} changes took {writes} writes");
        let on_disk: Vec<Record> =
            serde_json::from_slice(&std::fs::read(&file).expect("the list")).expect("json");
        assert_eq!(on_disk.len(), CHANGES);
        assert_eq!(on_disk, jobs.records());
    }

    #[tokio::test]
    async fn retry_after_a_processing_failure_uploads_the_file_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("transfers.json");
        let mut failed = record("a", Status::Failed, true);
        failed.result_of = ResultOf {
            upload_id: Some("u-1".into()),
            uploaded_at: None,
        };
        failed.error = Some(CommandError::from(TransferError::ProcessingFailed(
            "unreadable scan".into(),
        )));
        let mut cancelled = record("b", Status::Cancelled, true);
        cancelled.result_of = failed.result_of.clone();
        std::fs::write(
            &file,
            serde_json::to_vec(&[failed, cancelled]).expect("json"),
        )
        .expect("write");
        let jobs = Jobs::open(file, unconfigured());
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&events);
        jobs.attach(Arc::new(move |event: &UiEvent| {
            seen.lock().expect("events").push(event.clone());
        }));

        jobs.retry("a").expect("retried");
        jobs.retry("b").expect("retried");
        let rows = jobs.records();
        // No result will come for the failed upload: the file goes up again.
        assert_eq!(
            (rows[0].status, rows[0].uploaded, &rows[0].result_of),
            (Status::Waiting, false, &ResultOf::default())
        );
        // A row cancelled while waiting only waits again, for the same upload.
        assert_eq!(
            (
                rows[1].status,
                rows[1].uploaded,
                rows[1].result_of.upload_id.as_deref()
            ),
            (Status::Processing, true, Some("u-1"))
        );
        assert!(
            !events
                .lock()
                .expect("events")
                .contains(&UiEvent::Processing { id: "a".into() }),
            "the page is not told the failed row is processing"
        );
        until_idle(&jobs).await;
    }
}
