//! One task per row: from where the row stands to its end, uploading in turn (at most
//! [`super::CONCURRENT_TRANSFERS`] transfers move at once), waiting for the result (which takes
//! no turn) and downloading it in turn. Each step is saved and told to the page; a row's end is
//! on disk before the page hears of it.

use std::path::PathBuf;

use ddn_transfer::{CancellationToken, TransferError, TransferEvent};

use super::state::State;
use super::{Ending, Jobs, Leftover, Status, UiEvent};
use crate::error::CommandError;

impl Jobs {
    /// Starts the job of row `id`, cancelling one still running for it. The job begins once the
    /// row's earlier run (or the giving up of what it left) has ended, so two never share the
    /// engine's journal of the row's transfer.
    pub(super) fn spawn(&self, id: String) {
        let cancel = CancellationToken::new();
        let (run, turn) = {
            let mut state = self.lock();
            state.last_run += 1;
            let run = state.last_run;
            if let Some((_, previous)) = state.runs.insert(id.clone(), (run, cancel.clone())) {
                previous.cancel();
            }
            (run, state.turn(&id))
        };
        let jobs = self.clone();
        tokio::spawn(async move {
            let _turn = turn.lock_owned().await;
            let outcome = jobs.run(&id, &cancel).await;
            jobs.finish(&id, run, outcome).await;
        });
    }

    /// Gives up what the engine kept of row `id`'s transfer so that it could go on later (see
    /// [`Leftover`]): aborts the multipart upload an unfinished upload left open on S3 and
    /// removes its journal, or removes a download's journal and part file. Runs in the row's
    /// turn, so after its run has stopped writing to them and before a retry starts anew; the
    /// list counts as busy meanwhile, so the app neither restarts nor sends the batch's notice
    /// before it is done.
    pub(super) fn give_up(&self, state: &mut State, id: &str, leftover: Leftover) {
        if leftover == Leftover::Nothing {
            return;
        }
        state.giving_up += 1;
        let turn = state.turn(id);
        let jobs = self.clone();
        tokio::spawn(async move {
            let turn = turn.lock_owned().await;
            // Without settings there is no engine, and nothing of ours on S3 it could reach.
            if let Ok(engine) = jobs.inner.backend.engine() {
                let given_up = match &leftover {
                    Leftover::Upload { source, name } => {
                        engine.discard_upload(source, name).await.map(drop)
                    }
                    Leftover::Download { name } => engine
                        .discard_download(name, &jobs.inner.backend.results_dir())
                        .await
                        .map(drop),
                    Leftover::Nothing => Ok(()),
                };
                if let Err(error) = given_up {
                    tracing::warn!(%error, "what a stopped transfer kept could not be given up");
                }
            }
            drop(turn);
            let mut state = jobs.lock();
            state.giving_up -= 1;
            jobs.end_of_work(&mut state);
        });
    }

    /// One row's journey from where it stands to its result.
    async fn run(&self, id: &str, cancel: &CancellationToken) -> Result<PathBuf, CommandError> {
        // Paused or cancelled while it waited for the row's turn.
        if cancel.is_cancelled() {
            return Err(TransferError::Cancelled.into());
        }
        let record = self
            .lock()
            .record(id)
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

    /// Passes the engine's progress, retries, resumptions and fresh starts to the page (not saved:
    /// they change too often, and a restarted transfer reports them again).
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
                kind: kind.into(),
                reason,
                delay_seconds: delay.as_secs_f64(),
            },
            TransferEvent::Resumed {
                already_sent,
                total,
            } => UiEvent::Resumed {
                id: id.to_owned(),
                already_sent,
                total,
            },
            TransferEvent::StartedOver { reason } => UiEvent::StartedOver {
                id: id.to_owned(),
                reason: reason.into(),
            },
            TransferEvent::WaitingForResult { .. } => return,
        };
        let state = self.lock();
        if state
            .record(id)
            .is_some_and(|record| record.status.is_active())
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
            let ending = Ending::of(outcome);
            record.end(&ending);
            let (name, status) = (record.name.clone(), record.status);
            state.batch.count(&name, &ending);
            // Until it is announced, the row still counts as busy for the batch's notice.
            state.announcing += 1;
            self.save();
            (UiEvent::ended(id, &ending), status)
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
                .record(id)
                .is_some_and(|record| record.status == status);
        if unchanged {
            state.emit(&event);
        }
        self.end_of_work(&mut state);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use ddn_transfer::ErrorKind as EngineKind;

    use super::*;
    use crate::jobs::testing::{record, unconfigured};

    #[test]
    fn the_engines_retries_and_progress_reach_the_page_while_the_row_moves() {
        let moving = record("a", Status::Uploading, false);
        let jobs = Jobs::with_writer(
            vec![moving, record("b", Status::Failed, false)],
            unconfigured(),
            Arc::new(crate::clock::SystemClock),
            Box::new(|_| Ok(())),
        );
        let sent = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sent);
        jobs.attach(Arc::new(move |event: &UiEvent| {
            let json = serde_json::to_value(event).expect("serializes");
            super::super::lock_ignoring_poison(&seen).push(json);
        }));
        let retrying = |id: &str| {
            jobs.forward(
                id,
                TransferEvent::Retrying {
                    attempt: 1,
                    delay: Duration::from_millis(2500),
                    kind: EngineKind::Storage,
                    reason: "S3 is busy.".into(),
                },
            );
        };
        retrying("a");
        // A row that has stopped hears nothing late.
        retrying("b");
        assert_eq!(
            *super::super::lock_ignoring_poison(&sent),
            [serde_json::json!({
                "type": "retrying",
                "id": "a",
                "kind": "storage",
                "reason": "S3 is busy.",
                "delaySeconds": 2.5,
            })]
        );
    }

    #[test]
    fn a_resumed_or_restarted_transfer_is_told_to_the_page_as_it_reads_it() {
        let jobs = Jobs::with_writer(
            vec![record("a", Status::Uploading, false)],
            unconfigured(),
            Arc::new(crate::clock::SystemClock),
            Box::new(|_| Ok(())),
        );
        let sent = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sent);
        jobs.attach(Arc::new(move |event: &UiEvent| {
            let json = serde_json::to_value(event).expect("serializes");
            super::super::lock_ignoring_poison(&seen).push(json);
        }));
        jobs.forward(
            "a",
            TransferEvent::Resumed {
                already_sent: 3_100_000_000,
                total: 7_900_000_000,
            },
        );
        for reason in [
            ddn_transfer::StartOverReason::FileChanged,
            ddn_transfer::StartOverReason::Expired,
            ddn_transfer::StartOverReason::RecordDamaged,
        ] {
            jobs.forward("a", TransferEvent::StartedOver { reason });
        }
        jobs.pause("a").expect("paused");
        // Nothing the engine says after the pause reaches the page.
        jobs.forward(
            "a",
            TransferEvent::Resumed {
                already_sent: 1,
                total: 2,
            },
        );
        let started_over = |reason: &str| serde_json::json!({ "type": "startedOver", "id": "a", "reason": reason });
        assert_eq!(
            *super::super::lock_ignoring_poison(&sent),
            [
                serde_json::json!({
                    "type": "resumed",
                    "id": "a",
                    "alreadySent": 3_100_000_000_u64,
                    "total": 7_900_000_000_u64,
                }),
                started_over("fileChanged"),
                started_over("expired"),
                started_over("recordDamaged"),
                serde_json::json!({ "type": "paused", "id": "a" }),
            ]
        );
        assert_eq!(jobs.records()[0].status, Status::Paused);
    }
}
