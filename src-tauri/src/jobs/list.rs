//! What the page asks of the list: add files or a result to fetch, pause, resume, cancel, retry,
//! remove, and where a row's result is. Each change is told to the page and saved; a new, resumed
//! or retried row's job is started (see `runner`). A pause stops the row's run and keeps what the
//! engine kept of its transfer; a cancel or a removal gives that up (see `runner`'s `give_up`).

use std::path::PathBuf;

use ddn_transfer::ResultOf;

use super::{Jobs, Record, Status, UiEvent};
use crate::error::{CommandError, ErrorKind};
use crate::files::{FileToSend, Skipped};

impl Jobs {
    /// Adds files to send and starts them; paths that could not be expanded become failed rows
    /// that say why. A name already on its way in another row fails at once, since both would
    /// share one result. Answers the new rows' ids.
    pub fn add_files(&self, files: Vec<FileToSend>, skipped: Vec<Skipped>) -> Vec<String> {
        let mut started = Vec::new();
        let mut ids = Vec::new();
        {
            let mut state = self.lock();
            for file in files {
                let id = state.new_id(self.inner.clock.as_ref());
                let busy = state.name_on_its_way(&file.name, None);
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
                    error: busy.then(duplicate_name),
                };
                if !busy {
                    started.push(id.clone());
                }
                state.emit(&UiEvent::added(&record));
                state.records.push(record);
                ids.push(id);
            }
            for skip in skipped {
                let id = state.new_id(self.inner.clock.as_ref());
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
                    error: Some(CommandError::new(ErrorKind::Io, skip.reason)),
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
            let id = state.new_id(self.inner.clock.as_ref());
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

    /// Pauses a row that waits for its turn or moves bytes: its run stops, and what the engine
    /// kept of its transfer stays for [`Self::resume`] (also after a restart). Any other row is
    /// left as it is.
    ///
    /// # Errors
    /// `not_found` for an unknown row.
    pub fn pause(&self, id: &str) -> Result<(), CommandError> {
        let mut state = self.lock();
        let record = state.record_mut(id).ok_or_else(CommandError::not_found)?;
        if !record.status.can_pause() {
            return Ok(());
        }
        record.status = Status::Paused;
        if let Some((_, cancel)) = state.runs.remove(id) {
            cancel.cancel();
        }
        state.emit(&UiEvent::Paused { id: id.to_owned() });
        self.save();
        self.end_of_work(&mut state);
        Ok(())
    }

    /// Starts a paused row again from where it stands (see [`Record::resume`]): its run begins
    /// once the paused one has stopped, and the engine goes on with what it kept. Any other row
    /// is left as it is.
    ///
    /// # Errors
    /// `not_found` for an unknown row.
    pub fn resume(&self, id: &str) -> Result<(), CommandError> {
        {
            let mut state = self.lock();
            let record = state.record_mut(id).ok_or_else(CommandError::not_found)?;
            if record.status != Status::Paused {
                return Ok(());
            }
            record.resume();
            let uploaded = record.uploaded;
            state.emit(&UiEvent::Unpaused { id: id.to_owned() });
            if uploaded {
                state.emit(&UiEvent::Processing { id: id.to_owned() });
            }
            self.save();
        }
        self.spawn(id.to_owned());
        Ok(())
    }

    /// Stops a row that is still moving or is paused, for good: what the engine kept of its
    /// transfer is given up once its run has stopped (so nothing stays open on S3). Call from
    /// inside the async runtime.
    ///
    /// # Errors
    /// `not_found` for an unknown row.
    pub fn cancel(&self, id: &str) -> Result<(), CommandError> {
        let mut state = self.lock();
        let record = state.record_mut(id).ok_or_else(CommandError::not_found)?;
        if !record.status.is_unfinished() {
            return Ok(());
        }
        record.status = Status::Cancelled;
        let leftover = record.leftover();
        if let Some((_, cancel)) = state.runs.remove(id) {
            cancel.cancel();
        }
        state.emit(&UiEvent::Cancelled { id: id.to_owned() });
        self.save();
        // Counted as busy before the end of this work is looked at, so the batch's notice waits
        // for it.
        self.give_up(&mut state, id, leftover);
        self.end_of_work(&mut state);
        Ok(())
    }

    /// Puts a failed or cancelled row back in the queue, from where it stopped (see
    /// [`Record::retry`]): a file already uploaded only waits for its result again, unless its
    /// processing failed.
    ///
    /// # Errors
    /// `not_found` for an unknown row; `duplicate` when another row is sending the same name.
    pub fn retry(&self, id: &str) -> Result<(), CommandError> {
        {
            let mut state = self.lock();
            let record = state.record(id).ok_or_else(CommandError::not_found)?;
            if record.status != Status::Failed && record.status != Status::Cancelled {
                return Ok(());
            }
            if state.name_on_its_way(&record.name, Some(id)) {
                return Err(duplicate_name());
            }
            let record = state.record_mut(id).ok_or_else(CommandError::not_found)?;
            record.retry();
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

    /// Takes a finished or paused row off the list (its result stays where it is), giving up
    /// what the engine kept of its transfer (see [`Self::cancel`]). Call from inside the async
    /// runtime.
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
                ErrorKind::Busy,
                "Cancel the transfer before removing it.",
            ));
        }
        let removed = state.records.remove(index);
        self.give_up(&mut state, id, removed.leftover());
        state.forget_turn(id);
        state.emit(&UiEvent::Removed { id: id.to_owned() });
        self.save();
        Ok(())
    }

    /// Where a ready row's result is.
    ///
    /// # Errors
    /// `not_found` for an unknown row or one without a result.
    pub fn result_path(&self, id: &str) -> Result<PathBuf, CommandError> {
        self.lock()
            .record(id)
            .and_then(|record| record.result_path.clone())
            .ok_or_else(CommandError::not_found)
    }
}

fn duplicate_name() -> CommandError {
    CommandError::new(
        ErrorKind::Duplicate,
        "A file with this name is already on its way; retry once it is done.",
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use ddn_transfer::TransferError;

    use super::*;
    use crate::jobs::testing::{open, record, unconfigured, until_idle};

    #[test]
    fn a_name_already_on_its_way_fails_instead_of_sharing_a_result() {
        let dir = tempfile::tempdir().expect("temp dir");
        let saved = vec![record("a", Status::Processing, true)];
        let file = dir.path().join("transfers.json");
        std::fs::write(&file, serde_json::to_vec(&saved).expect("json")).expect("write");
        let jobs = open(file, unconfigured());
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
        assert_eq!(added.error.map(|e| e.kind), Some(ErrorKind::Duplicate));
        // Nor can the other row be retried while one moves the name.
        assert_eq!(
            jobs.retry(&ids[0]).map_err(|error| error.kind),
            Err(ErrorKind::Duplicate)
        );
        assert_eq!(
            jobs.remove("a").map_err(|error| error.kind),
            Err(ErrorKind::Busy)
        );
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
        let jobs = open(file, unconfigured());
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pause_keeps_what_the_engine_sent_and_a_cancel_gives_it_up() {
        use ddn_testkit::fault_proxy::{Direction, Fault};

        use crate::jobs::testing::{Stack, journals};

        let stack = Stack::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let resume = dir.path().join("resume");
        let backend = stack.resumable_backend(dir.path().join("results"), resume.clone());
        // S3 takes in nothing of the parts, so the upload stays in the middle.
        stack.proxy.plan((0..8).map(|_| Fault::StallAfter {
            direction: Direction::Upstream,
            bytes: 0,
            pause: std::time::Duration::from_secs(60),
        }));
        let jobs = open(dir.path().join("transfers.json"), backend);
        let path = dir.path().join("volume.raw");
        let size = ddn_api::multipart::MIN_MULTIPART_SIZE + 1;
        ddn_testkit::samples::write_sample_file(&path, size, 3).expect("a file");
        // In parts: the test backend's threshold is the service's smallest multipart size.
        let ids = jobs.add_files(
            vec![FileToSend {
                path,
                name: "volume.raw".into(),
                size,
            }],
            Vec::new(),
        );
        let started = std::time::Instant::now();
        while journals(&resume).is_empty() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the multipart upload never started: {:?}",
                jobs.records()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }

        jobs.pause(&ids[0]).expect("paused");
        until_idle(&jobs).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(jobs.records()[0].status, Status::Paused);
        assert_eq!(journals(&resume).len(), 1, "a pause keeps the journal");

        jobs.cancel(&ids[0]).expect("cancelled");
        assert!(jobs.is_busy(), "busy until what was kept is given up");
        until_idle(&jobs).await;
        assert_eq!(jobs.records()[0].status, Status::Cancelled);
        // The engine removes the journal only once S3 has aborted the multipart upload.
        assert_eq!(journals(&resume), Vec::<PathBuf>::new(), "given up");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paused_download_keeps_its_ranges_and_a_cancel_gives_them_up() {
        use ddn_testkit::fault_proxy::{Direction, Fault};
        use ddn_testkit::s3::{self, Bucket};

        use crate::jobs::testing::{Stack, journals};

        let stack = Stack::start().await;
        let size = 8 * 1024 * 1024;
        let result = ddn_testkit::samples::sample_bytes(size, 5);
        s3::put(stack.local(), Bucket::Output, "users/dev/big.bin", result).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let resume = dir.path().join("resume");
        let results = dir.path().join("results");
        let backend = stack.resumable_backend(results.clone(), resume.clone());
        // Each connection to S3 carries one 1 MiB range, then stalls in the middle of the next:
        // the download stays half done.
        stack.proxy.plan((0..8).map(|_| Fault::StallAfter {
            direction: Direction::Downstream,
            bytes: 1_600_000,
            pause: std::time::Duration::from_secs(60),
        }));
        let jobs = open(dir.path().join("transfers.json"), backend);
        let id = jobs.add_result("big.bin".into(), size as u64);
        let part_files = || -> Vec<PathBuf> {
            std::fs::read_dir(&results)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .map(|entry| entry.path())
                        .filter(|path| path.extension().is_some_and(|e| e == "part"))
                        .collect()
                })
                .unwrap_or_default()
        };
        let started = std::time::Instant::now();
        while journals(&resume).is_empty() || part_files().is_empty() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the ranged download never started: {:?}",
                jobs.records()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }

        jobs.pause(&id).expect("paused");
        until_idle(&jobs).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(jobs.records()[0].status, Status::Paused);
        assert_eq!(journals(&resume).len(), 1, "a pause keeps the journal");
        assert_eq!(part_files().len(), 1, "and the part file");

        jobs.cancel(&id).expect("cancelled");
        until_idle(&jobs).await;
        assert_eq!(journals(&resume), Vec::<PathBuf>::new(), "given up");
        assert_eq!(part_files(), Vec::<PathBuf>::new(), "no part file is left");
        assert!(!results.join("big.bin").exists(), "nor a result");
    }
}
