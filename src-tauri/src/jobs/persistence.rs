//! The list on disk: saved by a thread of its own, so a disk that is slow to sync never holds up
//! the list's lock (and with it the page's progress), into `transfers.json` through
//! [`crate::json_file`] (atomically; a damaged list is set aside when the app starts).

use std::sync::{Arc, Condvar, Mutex};

use super::lock_ignoring_poison;
use super::state::State;

/// How the saver puts the list's bytes on disk (atomically into `transfers.json` in the app).
pub(super) type WriteList = Box<dyn Fn(&[u8]) -> std::io::Result<()> + Send>;

/// Writes the list on a thread of its own, so a disk that is slow to sync never holds up the
/// list's lock (and with it the page's progress). A change only marks the list as changed; the
/// thread takes one copy of the list when it wakes and writes that, so a burst of changes costs one
/// copy and one write, and at most one save is ever waiting. A list that cannot be serialized is
/// not written at all: the file on disk keeps the last good list.
pub(super) struct Saver {
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
    pub(super) fn start(state: Arc<Mutex<State>>, write: WriteList) -> Self {
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
    pub(super) fn save(&self) {
        lock_ignoring_poison(&self.shared.progress).requested += 1;
        self.shared.changed.notify_one();
    }

    /// Writes the list as it is now and waits until it is on disk.
    pub(super) fn flush(&self) {
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::clock::SystemClock;
    use crate::files::{FileToSend, Skipped};
    use crate::jobs::testing::{open, record, unconfigured, until_idle};
    use crate::jobs::{Jobs, Record, Status, UiEvent};
    use crate::json_file::JsonFile;

    #[tokio::test]
    async fn a_row_is_saved_as_ended_before_the_page_hears_it() {
        let written = Arc::new(Mutex::new(Vec::<u8>::new()));
        let disk = Arc::clone(&written);
        let jobs = Jobs::with_writer(
            Vec::new(),
            unconfigured(),
            Arc::new(SystemClock),
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

        let jobs = open(file.clone(), unconfigured());
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
        let reopened = open(file.clone(), unconfigured());
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
    fn a_burst_of_changes_is_saved_in_few_writes_ending_with_the_last_state() {
        const CHANGES: usize = 500;
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("transfers.json");
        // The first write is held until the burst is over, as a slow disk would.
        let (entered, first_write_started) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let hold = Mutex::new(Some((entered, released)));
        let target = JsonFile::new(file.clone(), "the transfer list");
        let write: WriteList = Box::new(move |bytes| {
            let first = hold.lock().expect("hold").take();
            if let Some((entered, released)) = first {
                let _ = entered.send(());
                let _ = released.recv();
            }
            target.save(bytes)
        });
        let jobs = Jobs::with_writer(Vec::new(), unconfigured(), Arc::new(SystemClock), write);
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
}
