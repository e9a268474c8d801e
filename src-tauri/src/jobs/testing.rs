//! What the jobs' tests share: a backend with nothing configured and one on the local stack, rows
//! to restore, and a wait for the list to settle.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::fault_proxy::FaultProxy;
use ddn_transfer::{ApiClient, Engine, EngineOptions, ResultOf, Token};

use super::{Backend, Jobs, Notice, Record, Status};
use crate::clock::SystemClock;
use crate::error::CommandError;

/// A backend with nothing configured: every job fails at once with `not_configured`.
pub struct Unconfigured {
    notices: Mutex<Vec<Notice>>,
    engines_asked: AtomicUsize,
}

impl Unconfigured {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            notices: Mutex::new(Vec::new()),
            engines_asked: AtomicUsize::new(0),
        })
    }

    /// How many times an engine was asked for: once by every run that started.
    pub fn engines_asked(&self) -> usize {
        self.engines_asked.load(Ordering::Relaxed)
    }

    /// The notices sent so far.
    pub fn notices(&self) -> Vec<Notice> {
        super::lock_ignoring_poison(&self.notices).clone()
    }
}

impl Backend for Unconfigured {
    fn engine(&self) -> Result<Engine, CommandError> {
        self.engines_asked.fetch_add(1, Ordering::Relaxed);
        Err(CommandError::not_configured())
    }
    fn results_dir(&self) -> PathBuf {
        PathBuf::from("/nonexistent")
    }
    fn notify(&self, notice: Notice) {
        super::lock_ignoring_poison(&self.notices).push(notice);
    }
}

/// The engine's clock, stopped: progress is throttled to the first and the final report of each
/// phase, with no measured speed, so the events are the same on every run.
struct Stopped(Instant);

impl ddn_transfer::progress::Clock for Stopped {
    fn now(&self) -> Instant {
        self.0
    }
}

/// A backend on the local stack, notifying no one.
struct StackBackend {
    engine: Engine,
    results: PathBuf,
}

impl Backend for StackBackend {
    fn engine(&self) -> Result<Engine, CommandError> {
        Ok(self.engine.clone())
    }
    fn results_dir(&self) -> PathBuf {
        self.results.clone()
    }
    fn notify(&self, _: Notice) {}
}

/// The local stack, whose processor fails the files named `*.bad`, with S3 reached through a
/// fault proxy.
pub struct Stack {
    stack: LocalStack,
    /// Between the app and S3: a fault planned on it meets the next new connection.
    pub proxy: FaultProxy,
}

impl Stack {
    pub async fn start() -> Self {
        let proxy = FaultProxy::start().await.expect("the fault proxy");
        let stack = LocalStack::start(LocalStackOptions {
            s3_public_url: Some(proxy.url()),
            fail_matching: Some("*.bad".parse().expect("a pattern")),
            ..LocalStackOptions::default()
        })
        .await
        .expect("the local stack");
        proxy.set_upstream(stack.s3_url());
        Self { stack, proxy }
    }

    /// A backend with its own connections (so a planned fault meets a new one) and results
    /// folder.
    pub fn backend(&self, results: PathBuf) -> Arc<dyn Backend> {
        self.backend_with(results, None)
    }

    /// [`Self::backend`] whose engine keeps the journals of unfinished transfers in `resume`, as
    /// the app's does, and downloads results from 1 MiB up in ranges of 1 MiB, two at once.
    pub fn resumable_backend(&self, results: PathBuf, resume: PathBuf) -> Arc<dyn Backend> {
        self.backend_with(results, Some(resume))
    }

    /// The stack itself, to put results on its S3.
    pub fn local(&self) -> &LocalStack {
        &self.stack
    }

    fn backend_with(&self, results: PathBuf, resume_dir: Option<PathBuf>) -> Arc<dyn Backend> {
        const MIB: u64 = 1024 * 1024;
        let resumable = resume_dir.is_some();
        let api = ApiClient::new(
            ddn_transfer::http_client().expect("an HTTP client"),
            self.stack.api_url(),
            Some(Token::new(self.stack.token())),
        );
        let mut options = EngineOptions {
            wait_initial: Duration::from_millis(100),
            wait_max_interval: Duration::from_millis(200),
            resume_dir,
            // Files from the service's smallest multipart size up go in parts, so a test needs
            // no file of the app's 64 MiB.
            multipart_threshold: 0,
            ..EngineOptions::default()
        };
        if resumable {
            options.ranged_threshold = MIB;
            options.range_size = MIB;
            options.ranges_in_flight = 2;
        }
        // No pause before a retry, so its event says the same on every run.
        options.retry.initial_delay = Duration::ZERO;
        let engine = Engine::with_clock(api, options, Arc::new(Stopped(Instant::now())));
        Arc::new(StackBackend { engine, results })
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

/// The journal files the engine keeps in `dir` and the folders inside it.
pub fn journals(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for path in entries.filter_map(Result::ok).map(|entry| entry.path()) {
            if path.is_dir() {
                folders.push(path);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "journal")
            {
                found.push(path);
            }
        }
    }
    found
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
