//! Downloads in ranges that resume after a restart: with a resume folder, the ranges on disk are
//! recorded in a journal, and a new run of the same download (a new process after a kill, or the
//! same one after the download was dropped or paused) fetches only the missing ranges, unless the
//! object changed or the part file was damaged meanwhile. Discarding a paused download removes
//! what it kept.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ranged_support;

use std::path::Path;
use std::time::{Duration, Instant};

use ddn_api::ChecksumAlgorithm;
use ddn_testkit::samples::sample_bytes;
use ddn_testkit::shaping_proxy::ShapingProxy;
use ddn_transfer::{CancellationToken, Downloaded, Engine, ErrorKind, ResultOf, TransferEvent};
use ranged_support::{
    Events, KIB, MIB, Net, api_rewriting, crc_checksum, engine, files_in, journals, net,
    put_result, ranged, recorded_ranges,
};

/// What an answer's head may add to the bytes served, per request.
const HEAD_BYTES: u64 = 2 * KIB as u64;

/// Each connection at 4 MiB/s: a download of a few dozen MiB takes long enough to be stopped
/// half-way on cue.
const SLOW: u64 = 4 * MIB as u64;

/// Waits until the journals in `resume_dir` record at least `ranges` ranges.
async fn until_recorded(resume_dir: &Path, ranges: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while recorded_ranges(resume_dir) < ranges {
        assert!(
            Instant::now() < deadline,
            "no {ranges} ranges recorded in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until no one holds a journal in `resume_dir` locked: a dropped download's last
/// journal line may still be on its way from a blocking thread, as a killed process's never is.
async fn until_unlocked(resume_dir: &Path) {
    for path in journals(resume_dir) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let file = std::fs::File::open(&path).unwrap();
            if file.try_lock().is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "the journal stays locked");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The bytes `counter` served, once it has served none for a while: connections of a run that
/// was dropped or killed may still carry what was on its way to them when it stopped.
async fn settled(counter: &ShapingProxy) -> u64 {
    let mut served = counter.downstream_bytes();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = counter.downstream_bytes();
        if now == served {
            return served;
        }
        served = now;
    }
}

/// Downloads `name` into `dir` with `engine` until `ranges` ranges are recorded in `resume_dir`,
/// then drops the download, as a crash would end it. Answers once the dropped run's last journal
/// line and last bytes are through.
async fn download_until_recorded(
    engine: &Engine,
    net: &Net,
    name: &str,
    dir: &Path,
    resume_dir: &Path,
    ranges: usize,
) {
    let (cancel, of) = (CancellationToken::new(), ResultOf::default());
    let ignore = |_: TransferEvent| {};
    tokio::select! {
        outcome = engine.download(name, &of, dir, &cancel, &ignore) => {
            panic!("the download ended before it was dropped: {outcome:?}");
        }
        () = until_recorded(resume_dir, ranges) => {}
    }
    until_unlocked(resume_dir).await;
    settled(&net.counter).await;
}

async fn download(engine: &Engine, name: &str, dir: &Path, events: &Events) -> Downloaded {
    engine
        .download(
            name,
            &ResultOf::default(),
            dir,
            &CancellationToken::new(),
            &events.sink(),
        )
        .await
        .unwrap()
}

/// The byte at `offset` of the file at `path`, flipped.
fn damage(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

/// The offset of the first range a journal in `resume_dir` records.
fn first_recorded_offset(resume_dir: &Path) -> usize {
    let text = std::fs::read_to_string(&journals(resume_dir)[0]).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    line["offset"].as_u64().unwrap() as usize
}

/// In the child process: what to download, and where.
const CHILD: &str = "DDN_RANGED_RESUME_CHILD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_killed_with_its_process_goes_on_with_only_the_missing_ranges() {
    if let Ok(spec) = std::env::var(CHILD) {
        // The child: downloads until the parent kills it.
        let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
        let text = |key: &str| spec[key].as_str().unwrap().to_owned();
        let resume_dir = text("resume");
        let engine = engine(&text("api"), ranged(MIB, Some(Path::new(&resume_dir))));
        download(
            &engine,
            "scan.raw",
            Path::new(&text("dir")),
            &Events::default(),
        )
        .await;
        return;
    }
    let net = net(SLOW).await;
    let size = 32 * MIB;
    let body = sample_bytes(size, 21);
    put_result(&net.stack, "scan.raw", &body).await;
    let (dir, resume) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let spec = serde_json::json!({
        "api": net.stack.api_url(),
        "dir": dir.path(),
        "resume": resume.path(),
    });
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_download_killed_with_its_process_goes_on_with_only_the_missing_ranges",
            "--exact",
            "--test-threads=1",
        ])
        .env(CHILD, spec.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    until_recorded(resume.path(), 6).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the child finished early"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let recorded = recorded_ranges(resume.path());
    assert!(recorded < size / MIB, "{recorded} ranges recorded");
    assert_eq!(files_in(dir.path()), ["scan.raw.part"]);

    let served_before = settled(&net.counter).await;
    let engine = engine(net.stack.api_url(), ranged(MIB, Some(resume.path())));
    let events = Events::default();
    let downloaded = download(&engine, "scan.raw", dir.path(), &events).await;
    assert!(
        std::fs::read(&downloaded.path).unwrap() == body,
        "the bytes differ"
    );
    assert_eq!(files_in(dir.path()), ["scan.raw"]);
    assert!(
        journals(resume.path()).is_empty(),
        "a finished download keeps no journal"
    );
    let already = (recorded * MIB) as u64;
    assert_eq!(events.resumed(), [already]);
    let progress = events.progress();
    assert_eq!(progress.first(), Some(&already), "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    // Only the missing ranges came again.
    let served = net.counter.downstream_bytes() - served_before;
    let missing = (size - recorded * MIB) as u64;
    let requests = (size / MIB - recorded) as u64;
    assert!(
        served >= missing && served <= missing + requests * HEAD_BYTES,
        "{served} bytes served for {missing} missing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_download_goes_on_from_its_recorded_ranges() {
    let net = net(SLOW).await;
    let size = 24 * MIB + 5;
    let body = sample_bytes(size, 22);
    put_result(&net.stack, "stack.tiff", &body).await;
    let (dir, resume) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let engine = engine(net.stack.api_url(), ranged(MIB, Some(resume.path())));
    download_until_recorded(&engine, &net, "stack.tiff", dir.path(), resume.path(), 5).await;
    assert_eq!(
        files_in(dir.path()),
        ["stack.tiff.part"],
        "kept for the next run"
    );
    let recorded = recorded_ranges(resume.path());

    let served_before = net.counter.downstream_bytes();
    let events = Events::default();
    let downloaded = download(&engine, "stack.tiff", dir.path(), &events).await;
    assert!(
        std::fs::read(&downloaded.path).unwrap() == body,
        "the bytes differ"
    );
    assert_eq!(files_in(dir.path()), ["stack.tiff"]);
    assert_eq!(events.resumed(), [(recorded * MIB) as u64]);
    assert_eq!(events.started_over(), 0);
    let served = net.counter.downstream_bytes() - served_before;
    let missing = (size - recorded * MIB) as u64;
    assert!(
        served <= missing + 25 * HEAD_BYTES,
        "{served} bytes served for {missing} missing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_download_keeps_its_part_file_until_it_is_discarded() {
    let net = net(SLOW).await;
    put_result(&net.stack, "paused.raw", &sample_bytes(24 * MIB, 23)).await;
    let (dir, resume) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let engine = engine(net.stack.api_url(), ranged(MIB, Some(resume.path())));
    // Paused (cancelled) once some ranges are on disk.
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let sink = move |event: TransferEvent| {
        if matches!(&event, TransferEvent::Progress(p) if p.transferred >= 6 * MIB as u64) {
            trigger.cancel();
        }
    };
    let error = engine
        .download(
            "paused.raw",
            &ResultOf::default(),
            dir.path(),
            &cancel,
            &sink,
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled);
    assert_eq!(files_in(dir.path()), ["paused.raw.part"]);
    assert_eq!(journals(resume.path()).len(), 1);
    assert!(recorded_ranges(resume.path()) > 0);

    assert!(
        engine
            .discard_download("paused.raw", dir.path())
            .await
            .unwrap()
    );
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
    assert!(journals(resume.path()).is_empty());
    // Nothing left to discard; the next download starts from the first byte.
    assert!(
        !engine
            .discard_download("paused.raw", dir.path())
            .await
            .unwrap()
    );
    let events = Events::default();
    download(&engine, "paused.raw", dir.path(), &events).await;
    assert!(events.resumed().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_changed_between_runs_starts_over() {
    let net = net(SLOW).await;
    put_result(&net.stack, "redo.raw", &sample_bytes(20 * MIB, 24)).await;
    let (dir, resume) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let engine = engine(net.stack.api_url(), ranged(MIB, Some(resume.path())));
    download_until_recorded(&engine, &net, "redo.raw", dir.path(), resume.path(), 4).await;
    let new = sample_bytes(18 * MIB + 1, 25);
    put_result(&net.stack, "redo.raw", &new).await;

    let events = Events::default();
    let downloaded = download(&engine, "redo.raw", dir.path(), &events).await;
    assert!(
        std::fs::read(&downloaded.path).unwrap() == new,
        "not the new version, whole"
    );
    assert_eq!(files_in(dir.path()), ["redo.raw"], "the old part file went");
    assert!(events.resumed().is_empty());
    assert_eq!(events.started_over(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_file_damaged_between_runs_never_takes_the_final_name() {
    // An MD5 does not combine: the finished file is read back, and the damage is caught there.
    let net = net(SLOW).await;
    put_result(&net.stack, "md5.raw", &sample_bytes(16 * MIB, 26)).await;
    let (dir, resume) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let engine_with = |max_attempts| {
        let mut options = ranged(MIB, Some(resume.path()));
        options.retry.max_attempts = max_attempts;
        engine(net.stack.api_url(), options)
    };
    download_until_recorded(
        &engine_with(4),
        &net,
        "md5.raw",
        dir.path(),
        resume.path(),
        4,
    )
    .await;
    damage(
        &dir.path().join("md5.raw.part"),
        first_recorded_offset(resume.path()) + 1000,
    );
    let error = engine_with(1)
        .download(
            "md5.raw",
            &ResultOf::default(),
            dir.path(),
            &CancellationToken::new(),
            &|_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "The downloaded data is damaged (the MD5 checksum differs); it was not saved."
    );
    // Neither the final name nor anything to resume from damaged bytes.
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
    assert!(journals(resume.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_range_that_lost_its_crc_is_fetched_again_alone() {
    // A CRC is checked range by range: the damaged range is found before anything is fetched.
    let net = net(SLOW).await;
    let size = 16 * MIB;
    let body = sample_bytes(size, 27);
    put_result(&net.stack, "crc.raw", &body).await;
    let checksum = crc_checksum(ChecksumAlgorithm::Crc64nvme, &body);
    let api = api_rewriting(net.stack.api_url(), move |answer| {
        answer.checksum = Some(checksum.clone());
    })
    .await;
    let (dir, resume) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let engine = engine(&api.url(), ranged(MIB, Some(resume.path())));
    download_until_recorded(&engine, &net, "crc.raw", dir.path(), resume.path(), 4).await;
    let recorded = recorded_ranges(resume.path());
    damage(
        &dir.path().join("crc.raw.part"),
        first_recorded_offset(resume.path()) + 1000,
    );

    let served_before = net.counter.downstream_bytes();
    let events = Events::default();
    let downloaded = download(&engine, "crc.raw", dir.path(), &events).await;
    assert!(
        std::fs::read(&downloaded.path).unwrap() == body,
        "the bytes differ"
    );
    assert_eq!(downloaded.checksum, Some(ChecksumAlgorithm::Crc64nvme));
    assert_eq!(events.resumed(), [((recorded - 1) * MIB) as u64]);
    let served = net.counter.downstream_bytes() - served_before;
    let missing = (size - (recorded - 1) * MIB) as u64;
    assert!(
        served <= missing + 16 * HEAD_BYTES,
        "{served} bytes served for {missing} missing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_now_too_small_for_ranges_leaves_nothing_of_the_large_one() {
    let net = net(SLOW).await;
    put_result(&net.stack, "shrunk.raw", &sample_bytes(16 * MIB, 28)).await;
    let (dir, resume) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let engine = engine(net.stack.api_url(), ranged(MIB, Some(resume.path())));
    download_until_recorded(&engine, &net, "shrunk.raw", dir.path(), resume.path(), 2).await;
    let small = sample_bytes(100 * KIB, 29);
    put_result(&net.stack, "shrunk.raw", &small).await;

    let downloaded = download(&engine, "shrunk.raw", dir.path(), &Events::default()).await;
    assert!(std::fs::read(&downloaded.path).unwrap() == small);
    assert_eq!(
        files_in(dir.path()),
        ["shrunk.raw"],
        "the large one's part file went"
    );
    assert!(journals(resume.path()).is_empty());
}
