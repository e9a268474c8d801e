//! How the command line shows progress and outcomes: progress bars on a terminal, plain lines
//! otherwise, or JSON lines for programs (`--json`). Outcomes go to standard output, progress to
//! standard error (except with `--json`, where everything is a JSON line on standard output).

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ddn_transfer::{ErrorKind, EventSink, StartOverReason, TransferError, TransferEvent};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;

/// Plain progress lines come at most this often per transfer.
const LINE_INTERVAL: Duration = Duration::from_secs(2);

/// The output style.
pub enum Reporter {
    /// Live progress bars (standard error is a terminal).
    Bars(MultiProgress),
    /// Occasional plain lines on standard error.
    Lines,
    /// One JSON object per line on standard output.
    Json,
}

impl Reporter {
    /// Chooses bars on a terminal, plain lines otherwise, JSON when asked.
    pub fn new(json: bool) -> Self {
        if json {
            Self::Json
        } else if std::io::stderr().is_terminal() {
            Self::Bars(MultiProgress::new())
        } else {
            Self::Lines
        }
    }

    /// A display for one transfer; `verb` says what it does ("upload", "download").
    pub fn transfer(&self, verb: &'static str, name: &str) -> TransferDisplay {
        let bar = match self {
            Self::Bars(multi) => {
                let bar = multi.add(ProgressBar::new(0));
                let style = ProgressStyle::with_template(
                    "{prefix:>10} {wide_msg} {bytes:>10}/{total_bytes:<10} {bar:24} {binary_bytes_per_sec:>12} {eta:>4}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar.set_prefix(verb);
                bar.set_message(name.to_owned());
                Some(bar)
            }
            _ => None,
        };
        TransferDisplay {
            verb,
            name: name.to_owned(),
            json: matches!(self, Self::Json),
            bar,
            last_line: Mutex::new(None),
        }
    }

    /// Reports a success: `record` for programs, `line` for people.
    pub fn success(&self, record: serde_json::Value, line: &str) {
        match self {
            Self::Json => println!("{record}"),
            Self::Bars(multi) => {
                let _ = multi.println(line);
            }
            Self::Lines => println!("{line}"),
        }
    }

    /// Tells people something worth knowing that is neither a success nor a failure. Always on
    /// standard error, so `--json` output stays one record per line.
    pub fn note(&self, line: &str) {
        match self {
            Self::Bars(multi) => {
                let _ = multi.println(format!("note: {line}"));
            }
            Self::Json | Self::Lines => eprintln!("note: {line}"),
        }
    }

    /// Reports a failure of the item `name`.
    pub fn failure(&self, name: &str, error: &TransferError, hint: Option<&str>) {
        let hint = hint
            .or((error.kind() == ErrorKind::Unauthorized)
                .then_some("Save a token with `ddn login`, or set DDN_API_TOKEN."))
            .map(|h| format!(" {h}"))
            .unwrap_or_default();
        match self {
            Self::Json => println!(
                "{}",
                json!({"type": "failed", "name": name, "kind": error.kind(), "message": error.to_string()})
            ),
            Self::Bars(multi) => {
                let _ = multi.println(format!("{name}: {error}{hint}"));
            }
            Self::Lines => eprintln!("{name}: {error}{hint}"),
        }
    }
}

/// One transfer's display; receives the engine's events.
pub struct TransferDisplay {
    verb: &'static str,
    name: String,
    json: bool,
    bar: Option<ProgressBar>,
    last_line: Mutex<Option<(Instant, u64)>>,
}

impl TransferDisplay {
    /// Removes the bar (the outcome is reported separately).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// A line worth knowing about this transfer, above the bar or on standard error.
    fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("note: {line}")),
            None => eprintln!("note: {line}"),
        }
    }

    /// Whether a plain line is due: the final one, or the first in [`LINE_INTERVAL`]; never the
    /// same count twice.
    fn line_due(&self, transferred: u64, last: bool) -> bool {
        let Ok(mut previous) = self.last_line.lock() else {
            return false;
        };
        let now = Instant::now();
        let due = match *previous {
            None => true,
            Some((_, count)) if count == transferred && transferred > 0 => false,
            Some((at, _)) => last || now.duration_since(at) >= LINE_INTERVAL,
        };
        if due {
            *previous = Some((now, transferred));
        }
        due
    }
}

impl EventSink for TransferDisplay {
    fn send(&self, event: TransferEvent) {
        if self.json {
            let mut record = serde_json::to_value(&event).unwrap_or_default();
            if let Some(object) = record.as_object_mut() {
                object.insert("type".into(), json!("event"));
                object.insert("name".into(), json!(self.name));
                object.insert("action".into(), json!(self.verb));
            }
            println!("{record}");
            return;
        }
        match &event {
            TransferEvent::Resumed {
                already_sent,
                total,
            } => {
                self.note(&format!(
                    "Resuming {}: {} of {} already sent",
                    self.name,
                    HumanBytes(*already_sent),
                    HumanBytes(*total)
                ));
                return;
            }
            TransferEvent::StartedOver { reason } => {
                let why = match reason {
                    StartOverReason::FileChanged => "the file changed since the last attempt",
                    StartOverReason::Expired => {
                        "the server no longer holds what the last attempt sent"
                    }
                    StartOverReason::RecordDamaged => "the record of the last attempt was damaged",
                };
                self.note(&format!(
                    "{}: starting from the first byte: {why}",
                    self.name
                ));
                return;
            }
            _ => {}
        }
        match (&self.bar, event) {
            (Some(bar), TransferEvent::Progress(progress)) => {
                bar.set_length(progress.total);
                bar.set_position(progress.transferred);
                bar.set_message(self.name.clone());
            }
            (Some(bar), TransferEvent::Retrying { delay, reason, .. }) => {
                bar.set_message(format!(
                    "{}: {reason} Retrying in {} s",
                    self.name,
                    delay.as_secs().max(1)
                ));
            }
            (Some(bar), TransferEvent::WaitingForResult { .. }) => {
                bar.set_message(format!("{}: waiting for the result", self.name));
            }
            (None, TransferEvent::Progress(progress)) => {
                let last = progress.transferred == progress.total;
                if self.line_due(progress.transferred, last) {
                    let percent = (progress.transferred * 100)
                        .checked_div(progress.total)
                        .unwrap_or(100);
                    eprintln!(
                        "{} {}: {percent}% of {}",
                        self.verb,
                        self.name,
                        HumanBytes(progress.total)
                    );
                }
            }
            (None, TransferEvent::Retrying { delay, reason, .. }) => {
                eprintln!(
                    "{} {}: {reason} Retrying in {} s.",
                    self.verb,
                    self.name,
                    delay.as_secs().max(1)
                );
            }
            (None, TransferEvent::WaitingForResult { .. }) => {
                if self.line_due(0, false) {
                    eprintln!("{}: waiting for the result", self.name);
                }
            }
            // Told above, as notes.
            (_, TransferEvent::Resumed { .. } | TransferEvent::StartedOver { .. }) => {}
        }
    }
}
