//! The page's events, scenario by scenario, exactly as the job loop sends them. Each scenario in
//! `ui/tests/fixtures/row-events/` says what to do to the list step by step; it is run here
//! through the real job loop, against the local stack, on fixed clocks (so row ids are exact and
//! progress carries no measured speed), and the events each step sends are compared with the
//! fixture's (of each phase's progress reports only the last: how many come before it is a matter
//! of timing). The page's tests replay the same events through its applier and check the rows the
//! fixture says the page then shows, so neither side's state machine can change without the other
//! noticing. Run with `DDN_BLESS=1` to write the events anew; the rows are the page's to say and
//! are kept as they are.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use ddn_testkit::fault_proxy::{Direction, Fault};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::testing::{Stack, Unconfigured, until_idle};
use super::{Jobs, UiEvent};
use crate::clock::FixedClock;
use crate::files::{FileToSend, Skipped};
use crate::fixtures;

/// One scenario's fixture: what to do, and what is sent and shown at each step.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScenarioFile {
    scenario: String,
    /// Whether the app has a service to talk to; without, every job fails at once.
    configured: bool,
    /// How S3 answers the scenario's first connection to it, instead of storing or serving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refusal: Option<Refusal>,
    /// S3 takes in nothing of the scenario's first connection to it for this many seconds (then
    /// the connection is cut): an upload that stays in flight until the scenario acts on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hold_seconds: Option<u64>,
    steps: Vec<StepFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Refusal {
    status: u16,
    code: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct StepFile {
    step: String,
    #[serde(rename = "do")]
    act: Act,
    until: Until,
    /// What the job loop sends on the page's channel, in order: Rust's to write.
    events: Vec<Value>,
    /// The rows the page shows after applying every event so far: the page's to say.
    rows: Vec<Value>,
}

/// What a step does to the list.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Act {
    /// Adds these files and paths that could not be read.
    Add {
        files: Vec<NewFile>,
        #[serde(default)]
        unreadable: Vec<String>,
    },
    /// Cancels the row added `n`th (from 0).
    Cancel(usize),
    /// Pauses the row added `n`th.
    Pause(usize),
    /// Pauses the row added `n`th once its upload's connection to S3 is open (and held, see
    /// [`ScenarioFile::hold_seconds`]): a pause in the middle of an upload.
    PauseWhenHeld(usize),
    /// Resumes the row added `n`th.
    Resume(usize),
    /// Retries the row added `n`th.
    Retry(usize),
    /// Removes the row added `n`th.
    Remove(usize),
    /// Nothing: the step only waits.
    Wait,
}

#[derive(Debug, Serialize, Deserialize)]
struct NewFile {
    name: String,
    text: String,
    /// The file holds `text` this many times (a file large enough that its upload cannot all be
    /// handed to the network at once).
    #[serde(default = "once", skip_serializing_if = "is_once")]
    repeat: usize,
}

fn once() -> usize {
    1
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_once(repeat: &usize) -> bool {
    *repeat == 1
}

/// Where a step ends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Until {
    /// Once the act is done.
    Now,
    /// Once nothing moves any more and every end is announced.
    Idle,
    /// Just after the first event of this type in the step.
    Seen(String),
}

/// Replaces the scenario's temporary folder `dir` in every string with `{dir}`.
fn without_dir(value: Value, dir: &str) -> Value {
    match value {
        Value::String(text) => Value::String(text.replace(dir, "{dir}")),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| without_dir(item, dir))
                .collect(),
        ),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, item)| (key, without_dir(item, dir)))
                .collect(),
        ),
        other => other,
    }
}

/// `events` with only the last progress report of each phase: those followed by another report,
/// by a retry or by a pause are left out. How many reports come before a phase's last one, and
/// whether an attempt that fails or is paused reports any, depends on how the bytes happened to
/// move (the engine's clock being stopped, its throttle lets through only the first, whenever the
/// first tick falls); the last one, with every byte, always comes.
fn last_progress_only(events: Vec<Value>) -> Vec<Value> {
    let mut kept: Vec<Value> = Vec::with_capacity(events.len());
    for event in events {
        let supersedes = ["progress", "retrying", "paused"]
            .contains(&event["type"].as_str().unwrap_or_default());
        if supersedes
            && let Some(previous) = kept.last()
            && previous["type"] == "progress"
            && previous["id"] == event["id"]
        {
            kept.pop();
        }
        kept.push(event);
    }
    kept
}

/// Runs `scenario` as its fixture says, writing each step's events into it, and answers the rows
/// the list holds at the end.
async fn run(scenario: &mut ScenarioFile, stack: &Stack) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir_name = dir.path().to_string_lossy().into_owned();
    let backend = if scenario.configured {
        stack.backend(dir.path().join("results"))
    } else {
        Unconfigured::new()
    };
    if let Some(Refusal { status, code }) = scenario.refusal.clone() {
        stack.proxy.plan([Fault::Respond { status, code }]);
    }
    if let Some(seconds) = scenario.hold_seconds {
        stack.proxy.plan([Fault::StallAfter {
            direction: Direction::Upstream,
            bytes: 0,
            pause: Duration::from_secs(seconds),
        }]);
    }
    let clock = FixedClock(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let jobs = Jobs::open(dir.path().join("transfers.json"), backend, Arc::new(clock));
    let log = Arc::new(Mutex::new(Vec::<Value>::new()));
    let sent = Arc::clone(&log);
    jobs.attach(Arc::new(move |event: &UiEvent| {
        let json = serde_json::to_value(event).expect("events serialize");
        super::lock_ignoring_poison(&sent).push(json);
    }));
    let logged = || super::lock_ignoring_poison(&log).clone();
    let connections_before = stack.proxy.connections();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).expect("the files' folder");

    let mut ids = Vec::new();
    let mut from = 0;
    for step in &mut scenario.steps {
        match &step.act {
            Act::Add {
                files: added,
                unreadable,
            } => {
                let mut to_send = Vec::new();
                for file in added {
                    let path = files.join(&file.name);
                    let content = file.text.repeat(file.repeat);
                    std::fs::write(&path, &content).expect("a file to send");
                    to_send.push(FileToSend {
                        path,
                        name: file.name.clone(),
                        size: content.len() as u64,
                    });
                }
                let skipped = unreadable
                    .iter()
                    .map(|name| Skipped {
                        path: files.join(name),
                        reason: "It could not be read.".to_owned(),
                    })
                    .collect();
                ids.extend(jobs.add_files(to_send, skipped));
            }
            Act::Cancel(row) => jobs.cancel(&ids[*row]).expect("cancelled"),
            Act::Pause(row) => jobs.pause(&ids[*row]).expect("paused"),
            Act::PauseWhenHeld(row) => {
                let started = Instant::now();
                while stack.proxy.connections() == connections_before {
                    assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "{}: the upload never reached S3",
                        step.step
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                jobs.pause(&ids[*row]).expect("paused");
            }
            Act::Resume(row) => jobs.resume(&ids[*row]).expect("resumed"),
            Act::Retry(row) => jobs.retry(&ids[*row]).expect("retried"),
            Act::Remove(row) => jobs.remove(&ids[*row]).expect("removed"),
            Act::Wait => {}
        }
        let to = match &step.until {
            Until::Now => logged().len(),
            Until::Idle => {
                until_idle(&jobs).await;
                logged().len()
            }
            Until::Seen(kind) => {
                let started = Instant::now();
                loop {
                    let seen = logged()[from..]
                        .iter()
                        .position(|event| event["type"] == kind.as_str());
                    if let Some(at) = seen {
                        break from + at + 1;
                    }
                    assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "{}: no {kind} event in {:?}",
                        step.step,
                        &logged()[from..]
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        let events = logged()[from..to]
            .iter()
            .map(|event| without_dir(event.clone(), &dir_name))
            .collect();
        step.events = last_progress_only(events);
        from = to;
    }
    // Nothing more comes once the scenario is over.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(logged().len(), from, "{}: late events", scenario.scenario);
    jobs.records()
        .iter()
        .map(|record| {
            let json = serde_json::to_value(record).expect("records serialize");
            without_dir(json, &dir_name)
        })
        .collect()
}

/// The page's last rows agree with the list Rust ends with: the same rows, in the same order,
/// with the same status, error kind and result.
fn check_final_rows(name: &str, file: &ScenarioFile, records: &[Value]) {
    let Some(last) = file.steps.last() else {
        return;
    };
    if fixtures::blessing() && last.rows.is_empty() {
        // A new scenario: the page's rows are still to be written.
        return;
    }
    let pick = |row: &Value| {
        (
            row["id"].clone(),
            row["status"].clone(),
            row["error"]["kind"].clone(),
            row["resultPath"].clone(),
        )
    };
    assert_eq!(
        last.rows.iter().map(pick).collect::<Vec<_>>(),
        records.iter().map(pick).collect::<Vec<_>>(),
        "{name}: the page's rows after the last step disagree with the list Rust keeps"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_sent_what_the_row_event_fixtures_say() {
    let folder = fixtures::path("row-events");
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .expect("the row event fixtures")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 4,
        "the scenarios are in {}",
        folder.display()
    );
    let stack = Stack::start().await;
    for name in names {
        let fixture = format!("row-events/{name}");
        let written = fixtures::read(&fixture).expect("a scenario's JSON");
        let mut scenario: ScenarioFile =
            serde_json::from_value(written).unwrap_or_else(|error| panic!("{name}: {error}"));
        let records = run(&mut scenario, &stack).await;
        check_final_rows(&name, &scenario, &records);
        fixtures::check(&fixture, &scenario);
    }
}
