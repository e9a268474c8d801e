//! Downloads in ranges: large results come in several ranges at once and end identical, also when
//! connections are cut inside ranges, when the server ignores `Range`, answers another range, or
//! the object is replaced meanwhile; the checksum the service names is checked however it must
//! be (CRCs combined, MD5 read back, none: length and ETag), and nothing but a checked file takes
//! the final name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ranged_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ddn_api::ChecksumAlgorithm;
use ddn_testkit::fault_proxy::{Direction, Fault};
use ddn_testkit::http::{StatusCode, TestServer, response};
use ddn_testkit::samples::sample_bytes;
use ddn_transfer::{CancellationToken, ErrorKind, ResultOf, TransferEvent};
use ranged_support::{
    Events, KIB, MIB, UNSHAPED, answer_for, api_answering, api_rewriting, crc_checksum, engine,
    files_in, net, put_result, ranged,
};
use reqwest::header::{CONTENT_RANGE, ETAG, HeaderValue};

/// What an object's HTTP headers and body overhead may add to the bytes served, per request.
const HEAD_BYTES: u64 = 2 * KIB as u64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_result_comes_in_parallel_ranges_and_is_identical() {
    let net = net(UNSHAPED).await;
    let size = 100 * MIB;
    let body = sample_bytes(size, 1);
    put_result(&net.stack, "volume.raw", &body).await;
    let engine = engine(net.stack.api_url(), ranged(4 * MIB, None));
    let dir = tempfile::tempdir().unwrap();
    let events = Events::default();
    let downloaded = engine
        .download(
            "volume.raw",
            &ResultOf::default(),
            dir.path(),
            &CancellationToken::new(),
            &events.sink(),
        )
        .await
        .unwrap();
    assert!(
        std::fs::read(&downloaded.path).unwrap() == body,
        "the bytes differ"
    );
    assert_eq!(files_in(dir.path()), ["volume.raw"]);
    assert_eq!(downloaded.checksum, Some(ChecksumAlgorithm::Md5));
    // Four connections at once (one at a time would have reused one), each range asked once.
    assert!(
        net.faults.connections() >= 4,
        "{}",
        net.faults.connections()
    );
    let served = net.counter.downstream_bytes();
    let ranges = (size / (4 * MIB)) as u64;
    assert!(
        served >= size as u64 && served <= size as u64 + ranges * HEAD_BYTES,
        "{served} bytes served for {size}"
    );
    let progress = events.progress();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&(size as u64)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuts_inside_several_ranges_are_resumed_inside_each_range() {
    let net = net(UNSHAPED).await;
    let size = 24 * MIB;
    let body = sample_bytes(size, 2);
    put_result(&net.stack, "cut.raw", &body).await;
    // The first four connections (one per range in flight) are cut at random points of their
    // first range (2 MiB); the seed is printed so a failure can be replayed.
    let seed = fastrand::u64(..);
    println!("seed {seed}");
    let mut random = fastrand::Rng::with_seed(seed);
    let cuts: Vec<u64> = (0..4)
        .map(|_| random.u64(200 * KIB as u64..1900 * KIB as u64))
        .collect();
    net.faults.plan(cuts.iter().map(|&bytes| Fault::CutAfter {
        direction: Direction::Downstream,
        bytes,
    }));
    let engine = engine(net.stack.api_url(), ranged(2 * MIB, None));
    let dir = tempfile::tempdir().unwrap();
    let events = Events::default();
    let downloaded = engine
        .download(
            "cut.raw",
            &ResultOf::default(),
            dir.path(),
            &CancellationToken::new(),
            &events.sink(),
        )
        .await
        .unwrap();
    assert!(
        std::fs::read(&downloaded.path).unwrap() == body,
        "the bytes differ"
    );
    assert_eq!(files_in(dir.path()), ["cut.raw"]);
    assert_eq!(events.retries(), 4, "one retry per cut range");
    // What each cut range had received was kept: the object was served about once (had a range
    // started over, the bytes before its cut would have come twice, at least 200 KiB each).
    let served = net.counter.downstream_bytes();
    let requests = (size / (2 * MIB)) as u64 + 4;
    assert!(
        served <= size as u64 + requests * HEAD_BYTES,
        "{served} bytes served for {size}, cuts at {cuts:?}"
    );
    let progress = events.progress();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
}

/// What the stand-in for S3 does with a range.
#[derive(Clone, Copy)]
enum Ranges {
    /// Ignores `Range`: every answer is `200` with the whole object.
    Ignored,
    /// Answers `206` with the range that starts one byte later than asked.
    Shifted,
    /// Serves ranges and `If-Match` as S3 does (`412` when the ETag differs).
    Served,
}

/// An object as the stand-in serves it.
struct Object {
    bytes: Vec<u8>,
    etag: String,
}

/// Each request's `Range` (empty for none) and the status it got.
type Requests = Arc<Mutex<Vec<(String, u16)>>>;

/// A stand-in for S3 serving `object` and recording each request; `before_each` is given the
/// request's number (from 1) and the object, which it may replace, before the request is
/// answered, under the object's lock (so every later request sees what it did).
async fn object_server(
    object: Arc<Mutex<Object>>,
    ranges: Ranges,
    before_each: impl Fn(usize, &mut Object) + Send + Sync + 'static,
) -> (TestServer, Requests) {
    let requests: Requests = Arc::default();
    let seen = Arc::clone(&requests);
    let count = AtomicUsize::new(0);
    let server = TestServer::start(move |request| {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (range, if_match) = (header("range"), header("if-match"));
        let (status, body, content_range, etag) = {
            let mut object = object.lock().unwrap();
            before_each(count.fetch_add(1, Ordering::Relaxed) + 1, &mut object);
            let len = object.bytes.len();
            let asked = range.as_deref().and_then(|r| {
                let (a, b) = r.strip_prefix("bytes=")?.split_once('-')?;
                Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?))
            });
            let etag_differs = if_match
                .as_deref()
                .is_some_and(|tag| tag.trim_matches('"') != object.etag);
            match (ranges, asked) {
                (Ranges::Served, Some(_)) if etag_differs => {
                    (412, Vec::new(), None, object.etag.clone())
                }
                (Ranges::Served, Some((a, b))) => (
                    206,
                    object.bytes[a..=b.min(len - 1)].to_vec(),
                    Some(format!("bytes {a}-{}/{len}", b.min(len - 1))),
                    object.etag.clone(),
                ),
                (Ranges::Shifted, Some((a, b))) => {
                    // One byte earlier, or later for the first range.
                    let (a, b) = if a > 0 {
                        (a - 1, b - 1)
                    } else {
                        (a + 1, b + 1)
                    };
                    (
                        206,
                        object.bytes[a..=b.min(len - 1)].to_vec(),
                        Some(format!("bytes {a}-{}/{len}", b.min(len - 1))),
                        object.etag.clone(),
                    )
                }
                _ => (200, object.bytes.clone(), None, object.etag.clone()),
            }
        };
        seen.lock()
            .unwrap()
            .push((range.unwrap_or_default(), status));
        async move {
            let mut answer = response(StatusCode::from_u16(status).unwrap(), body);
            let headers = answer.headers_mut();
            headers.insert(ETAG, HeaderValue::from_str(&format!("\"{etag}\"")).unwrap());
            if let Some(range) = content_range {
                headers.insert(CONTENT_RANGE, HeaderValue::from_str(&range).unwrap());
            }
            answer
        }
    })
    .await
    .unwrap();
    (server, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_ranges_is_read_again_as_one_stream_never_appended() {
    let body = sample_bytes(6 * MIB + 5, 3);
    let object = Arc::new(Mutex::new(Object {
        bytes: body.clone(),
        etag: "e1".into(),
    }));
    let (server, requests) = object_server(object, Ranges::Ignored, |_, _| {}).await;
    let answer = answer_for(&server.url(), "plain.raw", &body, "e1");
    let api = api_answering(move || answer.clone()).await;
    let engine = engine(&api.url(), ranged(MIB, None));
    let dir = tempfile::tempdir().unwrap();
    let downloaded = engine
        .download(
            "plain.raw",
            &ResultOf::default(),
            dir.path(),
            &CancellationToken::new(),
            &|_| {},
        )
        .await
        .unwrap();
    let saved = std::fs::read(&downloaded.path).unwrap();
    assert_eq!(saved.len(), body.len(), "the part file was appended to");
    assert!(saved == body, "the bytes differ");
    assert_eq!(files_in(dir.path()), ["plain.raw"]);
    let requests = requests.lock().unwrap().clone();
    // Ranges were asked first (at most one per range in flight, some perhaps already on their
    // way when the first 200 came), then the object once, in one stream.
    assert!(requests[0].0.starts_with("bytes="), "{requests:?}");
    let unranged: Vec<_> = requests
        .iter()
        .filter(|(range, _)| range.is_empty())
        .collect();
    assert_eq!(unranged, [&(String::new(), 200)], "{requests:?}");
    assert!(requests.len() <= 4 + 1, "{requests:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_206_of_another_range_is_refused_and_nothing_is_saved() {
    let body = sample_bytes(3 * MIB, 4);
    let object = Arc::new(Mutex::new(Object {
        bytes: body.clone(),
        etag: "e1".into(),
    }));
    let (server, requests) = object_server(object, Ranges::Shifted, |_, _| {}).await;
    let answer = answer_for(&server.url(), "shifted.raw", &body, "e1");
    let api = api_answering(move || answer.clone()).await;
    let engine = engine(&api.url(), ranged(MIB, None));
    let dir = tempfile::tempdir().unwrap();
    let events = Events::default();
    let error = engine
        .download(
            "shifted.raw",
            &ResultOf::default(),
            dir.path(),
            &CancellationToken::new(),
            &events.sink(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Integrity, "{error}");
    assert_eq!(
        error.to_string(),
        "The downloaded data is damaged (unexpected byte range); it was not saved."
    );
    // Each range is retried on its own (three times, with four attempts), and the download
    // then ends: a server that answers the wrong bytes is not asked again and again.
    let retries = events.retries();
    assert!((3..=3 * 4).contains(&retries), "{retries} retries");
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
    assert!(
        requests
            .lock()
            .unwrap()
            .iter()
            .all(|(r, _)| r.starts_with("bytes="))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_replaced_mid_download_is_refused_by_if_match_and_fetched_anew() {
    let old = sample_bytes(8 * MIB, 5);
    let new = sample_bytes(5 * MIB + 77, 6);
    let object = Arc::new(Mutex::new(Object {
        bytes: old.clone(),
        etag: "old".into(),
    }));
    // After three ranges are served, the result is processed again.
    let replacement = new.clone();
    let replace = move |request: usize, object: &mut Object| {
        if request == 4 {
            *object = Object {
                bytes: replacement.clone(),
                etag: "new".into(),
            };
        }
    };
    let (server, requests) = object_server(Arc::clone(&object), Ranges::Served, replace).await;
    let url = server.url();
    let current = Arc::clone(&object);
    let api = api_answering(move || {
        let object = current.lock().unwrap();
        answer_for(&url, "redo.raw", &object.bytes, &object.etag)
    })
    .await;
    let engine = engine(&api.url(), ranged(MIB, None));
    let dir = tempfile::tempdir().unwrap();
    let events = Events::default();
    let downloaded = engine
        .download(
            "redo.raw",
            &ResultOf::default(),
            dir.path(),
            &CancellationToken::new(),
            &events.sink(),
        )
        .await
        .unwrap();
    let saved = std::fs::read(&downloaded.path).unwrap();
    assert!(
        saved == new,
        "not the new version, whole: {} bytes, the first difference at {:?}; requests {:?}",
        saved.len(),
        saved.iter().zip(&new).position(|(a, b)| a != b),
        requests.lock().unwrap()
    );
    assert_eq!(downloaded.size, new.len() as u64);
    assert_eq!(files_in(dir.path()), ["redo.raw"]);
    assert!(
        requests
            .lock()
            .unwrap()
            .iter()
            .any(|(_, status)| *status == 412),
        "S3's 412 to If-Match was the signal"
    );
    assert_eq!(events.started_over(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_replaced_on_the_stack_is_told_by_its_etag_and_fetched_anew() {
    // The local S3 server ignores If-Match: the new ETag in its answers is what tells.
    let net = net(UNSHAPED).await;
    let old = sample_bytes(12 * MIB, 7);
    let new = sample_bytes(9 * MIB + 3, 8);
    put_result(&net.stack, "again.raw", &old).await;
    let engine = engine(net.stack.api_url(), ranged(MIB, None));
    let dir = tempfile::tempdir().unwrap();
    let replaced = Arc::new(Mutex::new(false));
    let (stack, replacement, flag) = (&net.stack, &new, Arc::clone(&replaced));
    let events = Events::default();
    let record = events.sink();
    let sink = move |event: TransferEvent| {
        let due = matches!(&event, TransferEvent::Progress(p) if p.transferred >= 3 * MIB as u64);
        if due && !*flag.lock().unwrap() {
            *flag.lock().unwrap() = true;
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(put_result(
                    stack,
                    "again.raw",
                    replacement,
                ));
            });
        }
        record(event);
    };
    let downloaded = engine
        .download(
            "again.raw",
            &ResultOf::default(),
            dir.path(),
            &CancellationToken::new(),
            &sink,
        )
        .await
        .unwrap();
    assert!(*replaced.lock().unwrap());
    assert!(
        std::fs::read(&downloaded.path).unwrap() == new,
        "not the new version, whole"
    );
    assert_eq!(files_in(dir.path()), ["again.raw"]);
    assert!(events.started_over() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_object_crc_is_combined_from_the_ranges() {
    let net = net(UNSHAPED).await;
    let body = sample_bytes(10 * MIB + 999, 9);
    put_result(&net.stack, "multi.raw", &body).await;
    for algorithm in [
        ChecksumAlgorithm::Crc64nvme,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc32,
    ] {
        // As S3 answers for a multipart result with a full-object CRC (its ETag names parts).
        let checksum = crc_checksum(algorithm, &body);
        let api = api_rewriting(net.stack.api_url(), move |answer| {
            answer.checksum = Some(checksum.clone());
        })
        .await;
        let engine = engine(&api.url(), ranged(MIB, None));
        let dir = tempfile::tempdir().unwrap();
        let downloaded = engine
            .download(
                "multi.raw",
                &ResultOf::default(),
                dir.path(),
                &CancellationToken::new(),
                &|_| {},
            )
            .await
            .unwrap();
        assert_eq!(downloaded.checksum, Some(algorithm));
        assert!(
            std::fs::read(&downloaded.path).unwrap() == body,
            "{algorithm:?}"
        );
    }
    // A CRC that does not match: the download ends damaged, and nothing takes the name.
    let mut wrong = body.clone();
    wrong[123] ^= 1;
    let checksum = crc_checksum(ChecksumAlgorithm::Crc64nvme, &wrong);
    let api = api_rewriting(net.stack.api_url(), move |answer| {
        answer.checksum = Some(checksum.clone());
    })
    .await;
    let mut options = ranged(MIB, None);
    options.retry.max_attempts = 2;
    let engine = engine(&api.url(), options);
    let dir = tempfile::tempdir().unwrap();
    let error = engine
        .download(
            "multi.raw",
            &ResultOf::default(),
            dir.path(),
            &CancellationToken::new(),
            &|_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "The downloaded data is damaged (the CRC-64/NVME checksum differs); it was not saved."
    );
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_checksum_named_the_length_and_the_etag_are_checked() {
    let net = net(UNSHAPED).await;
    let body = sample_bytes(5 * MIB + 1, 10);
    put_result(&net.stack, "parts.raw", &body).await;
    let api = api_rewriting(net.stack.api_url(), |answer| answer.checksum = None).await;
    let engine = engine(&api.url(), ranged(MIB, None));
    let dir = tempfile::tempdir().unwrap();
    let downloaded = engine
        .download(
            "parts.raw",
            &ResultOf::default(),
            dir.path(),
            &CancellationToken::new(),
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!(downloaded.checksum, None);
    assert!(std::fs::read(&downloaded.path).unwrap() == body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_ranged_download_without_journals_leaves_nothing() {
    let net = net(8 * MIB as u64).await;
    put_result(&net.stack, "big.raw", &sample_bytes(32 * MIB, 11)).await;
    let engine = engine(net.stack.api_url(), ranged(MIB, None));
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let sink = move |event: TransferEvent| {
        if matches!(&event, TransferEvent::Progress(p) if p.transferred >= 4 * MIB as u64) {
            trigger.cancel();
        }
    };
    let error = engine
        .download("big.raw", &ResultOf::default(), dir.path(), &cancel, &sink)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled);
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_below_the_threshold_keep_coming_in_one_stream() {
    let net = net(UNSHAPED).await;
    let body = sample_bytes(MIB - 1, 12);
    put_result(&net.stack, "small.raw", &body).await;
    let engine = engine(net.stack.api_url(), ranged(256 * KIB, None));
    let dir = tempfile::tempdir().unwrap();
    let downloaded = engine
        .download(
            "small.raw",
            &ResultOf::default(),
            dir.path(),
            &CancellationToken::new(),
            &|_| {},
        )
        .await
        .unwrap();
    assert!(std::fs::read(&downloaded.path).unwrap() == body);
    assert_eq!(net.faults.connections(), 1, "one request, unranged");
}
