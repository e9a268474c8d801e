//! The list as the jobs share it, behind one lock: the rows, the job running for each, each row's
//! turn, the page's sink, and the rows that ended since the last notice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use ddn_transfer::CancellationToken;

use super::batch::Batch;
use super::events::{Sink, UiEvent};
use super::record::Record;
use crate::clock::Clock;

/// Everything behind the list's lock.
#[derive(Default)]
pub(super) struct State {
    pub(super) records: Vec<Record>,
    /// The running job of each row: its run number and its cancellation.
    pub(super) runs: HashMap<String, (u64, CancellationToken)>,
    pub(super) last_run: u64,
    /// Each row's turn: held by its run from start to end and by a task giving up what the
    /// engine kept of it, so that they take their turns in the order they began. A paused,
    /// resumed row's new run waits until the old one has let go of the engine's journal; a
    /// cancelled row's discard waits until its run has stopped writing to it, and a retry until
    /// the discard is done.
    turns: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    pub(super) sink: Option<Sink>,
    last_id: u64,
    pub(super) batch: Batch,
    /// Rows that have ended but whose end is still being saved before the page is told.
    pub(super) announcing: usize,
    /// Rows stopped for good whose engine state is still being given up (see `runner`'s
    /// `give_up`).
    pub(super) giving_up: usize,
}

impl State {
    /// The rows `records`, restored.
    pub(super) fn new(records: Vec<Record>) -> Self {
        Self {
            records,
            ..Self::default()
        }
    }

    pub(super) fn record(&self, id: &str) -> Option<&Record> {
        self.records.iter().find(|record| record.id == id)
    }

    pub(super) fn record_mut(&mut self, id: &str) -> Option<&mut Record> {
        self.records.iter_mut().find(|record| record.id == id)
    }

    /// Whether a row other than `except` is still moving `name`, or has paused it (both would
    /// share one result).
    pub(super) fn name_on_its_way(&self, name: &str, except: Option<&str>) -> bool {
        self.records.iter().any(|record| {
            Some(record.id.as_str()) != except
                && record.status.is_unfinished()
                && record.name == name
        })
    }

    /// Row `id`'s turn (see [`State::turns`]).
    pub(super) fn turn(&mut self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(self.turns.entry(id.to_owned()).or_default())
    }

    /// Forgets row `id`'s turn once the row is gone (whoever holds it keeps it until done).
    pub(super) fn forget_turn(&mut self, id: &str) {
        self.turns.remove(id);
    }

    /// Whether a row moves, has ended and is not announced yet, or is still giving up what the
    /// engine kept of it.
    pub(super) fn is_busy(&self) -> bool {
        self.announcing > 0
            || self.giving_up > 0
            || self.records.iter().any(|record| record.status.is_active())
    }

    /// Tells the page, when one listens.
    pub(super) fn emit(&self, event: &UiEvent) {
        if let Some(sink) = &self.sink {
            sink(event);
        }
    }

    /// A new row's id: the time from `clock` in microseconds, counted on from the last id when
    /// that is later, so ids never repeat within a run and sort in the order rows were added.
    pub(super) fn new_id(&mut self, clock: &dyn Clock) -> String {
        let millis = clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as u64);
        self.last_id = self.last_id.max(millis.saturating_mul(1000)) + 1;
        format!("t{:x}", self.last_id)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::FixedClock;

    #[test]
    fn ids_come_from_the_clock_passed_in() {
        let at = |millis| FixedClock(UNIX_EPOCH + Duration::from_millis(millis));
        let mut state = State::default();
        assert_eq!(state.new_id(&at(1)), "t3e9");
        // The same instant again: counted on, never repeated.
        assert_eq!(state.new_id(&at(1)), "t3ea");
        // A clock set back: still counted on.
        assert_eq!(state.new_id(&at(0)), "t3eb");
        assert_eq!(state.new_id(&at(2)), "t7d1");
        let before_the_epoch = FixedClock(UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(State::default().new_id(&before_the_epoch), "t1");
    }
}
