//! The job loop: every file in the list goes Waiting → Uploading → Processing → Downloading →
//! Ready (or Failed / Cancelled), one task per file, with at most a few transfers moving at once.
//! The list is saved on every change of status, so after a restart unfinished work picks up where
//! it can: an upload starts again, a file that was already uploaded goes back to waiting for its
//! result.
//!
//! Nothing here knows Tauri: the page's channel, the notifications and the settings arrive through
//! [`Backend`] and [`Sink`], so the loop is tested on its own against the local stack.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{SystemTime, UNIX_EPOCH};

use ddn_transfer::{CancellationToken, Engine, TransferError, TransferEvent, TransferQueue};
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
    /// The file to send; `None` for a result fetched from the results view.
    pub source: Option<PathBuf>,
    /// The file's size in bytes (the result's, for a fetched result).
    pub size: u64,
    /// Where it stands.
    pub status: Status,
    /// Whether the upload finished, so a retry only waits for the result again.
    pub uploaded: bool,
    /// Where the result was saved.
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
    state: Mutex<State>,
    saver: Saver,
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
        let mut records = load(&file);
        for record in &mut records {
            record.status = match record.status {
                Status::Waiting | Status::Uploading if !record.uploaded => Status::Waiting,
                Status::Waiting | Status::Uploading | Status::Processing | Status::Downloading => {
                    Status::Processing
                }
                done => done,
            };
        }
        let state = State {
            records,
            ..State::default()
        };
        Self {
            inner: Arc::new(Inner {
                backend,
                queue: TransferQueue::new(CONCURRENT_TRANSFERS),
                state: Mutex::new(state),
                saver: Saver::start(file),
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
                    result_path: None,
                    error: Some(CommandError::new("io", skip.reason)),
                };
                state.emit(&UiEvent::added(&record));
                state.records.push(record);
                ids.push(id);
            }
            self.save(&state);
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
                result_path: None,
                error: None,
            };
            state.emit(&UiEvent::added(&record));
            state.records.push(record);
            self.save(&state);
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
        self.save(&state);
        self.end_of_work(&mut state, None);
        Ok(())
    }

    /// Puts a failed or cancelled row back in the queue, from where it stopped: a file already
    /// uploaded only waits for its result again.
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
            self.save(&state);
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
        self.save(&state);
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

    /// Writes the list now and waits for it (at exit).
    pub fn flush(&self) {
        let records = self.lock().records.clone();
        self.inner.saver.save_now(records);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in another holder leaves plain data behind; keep going with it.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn save(&self, state: &State) {
        self.inner.saver.save(state.records.clone());
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
            jobs.finish(&id, run, outcome);
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
            let mut state = self.lock();
            if let Some(record) = state.record_mut(id) {
                record.uploaded = true;
                record.size = uploaded.size;
            }
            drop(state);
            self.transition(
                id,
                Status::Processing,
                UiEvent::Processing { id: id.to_owned() },
            );
        }

        let answer = engine
            .wait_for_result(&record.name, cancel, &events)
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
                    .download_answer(&record.name, answer, &dir, cancel, &events)
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
        self.save(&state);
    }

    /// Records how a job ended.
    fn finish(&self, id: &str, run: u64, outcome: Result<PathBuf, CommandError>) {
        let mut state = self.lock();
        // Only the row's current run may end it: a cancelled run was already accounted for, and
        // a retry started since owns the row now.
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
        let ended = match &event {
            UiEvent::Ready { .. } => Some((true, name)),
            UiEvent::Failed { .. } => Some((false, name)),
            _ => None,
        };
        state.emit(&event);
        self.save(&state);
        self.end_of_work(&mut state, ended);
    }

    /// Counts a finished row into the current batch and, when nothing is moving any more, sends
    /// one notice for the batch.
    fn end_of_work(&self, state: &mut State, ended: Option<(bool, String)>) {
        if let Some((ready, name)) = ended {
            if ready {
                state.batch_ready += 1;
            } else {
                state.batch_failed += 1;
            }
            state.batch_names.push(name);
        }
        let busy = state.records.iter().any(|record| record.status.is_active());
        if busy || state.batch_ready + state.batch_failed == 0 {
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

/// Writes the list on a thread of its own, so a disk that is slow to sync never holds up the
/// list's lock (and with it the page's progress). Only the newest version waiting is written.
struct Saver {
    sender: mpsc::Sender<SaveRequest>,
}

enum SaveRequest {
    Save(Vec<Record>),
    SaveAndAnswer(Vec<Record>, mpsc::Sender<()>),
}

impl Saver {
    fn start(file: PathBuf) -> Self {
        let (sender, receiver) = mpsc::channel::<SaveRequest>();
        let spawned = std::thread::Builder::new()
            .name("transfer-list-saver".into())
            .spawn(move || {
                while let Ok(mut request) = receiver.recv() {
                    // Skip to the newest request; answer every waiter once written.
                    let mut waiters = Vec::new();
                    loop {
                        if let SaveRequest::SaveAndAnswer(_, waiter) = &request {
                            waiters.push(waiter.clone());
                        }
                        match receiver.try_recv() {
                            Ok(next) => request = next,
                            Err(_) => break,
                        }
                    }
                    let (SaveRequest::Save(records) | SaveRequest::SaveAndAnswer(records, _)) =
                        request;
                    let bytes = serde_json::to_vec(&records).unwrap_or_default();
                    if let Err(error) = crate::settings::write_atomically(&file, &bytes) {
                        tracing::error!(%error, "could not save the transfer list");
                    }
                    for waiter in waiters {
                        let _ = waiter.send(());
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start the list saver; the list will not be kept");
        }
        Self { sender }
    }

    fn save(&self, records: Vec<Record>) {
        let _ = self.sender.send(SaveRequest::Save(records));
    }

    fn save_now(&self, records: Vec<Record>) {
        let (done, wait) = mpsc::channel();
        if self
            .sender
            .send(SaveRequest::SaveAndAnswer(records, done))
            .is_ok()
        {
            let _ = wait.recv();
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
            result_path: None,
            error: None,
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
        let started = std::time::Instant::now();
        while jobs
            .records()
            .iter()
            .any(|record| record.status.is_active())
        {
            assert!(started.elapsed() < std::time::Duration::from_secs(10));
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
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
}
