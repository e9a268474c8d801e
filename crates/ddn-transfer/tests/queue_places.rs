//! The engine's queue against the real local stack: each upload and each download takes a place,
//! a wait for a result takes none, so files whose results are slow never keep another file from
//! moving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_transfer::{
    ApiClient, CancellationToken, Engine, EngineOptions, ErrorKind, Token, TransferEvent,
    TransferQueue, http_client,
};

/// How long the stand-in processor takes: far longer than a small upload on loopback.
const SLOW_PROCESSING: Duration = Duration::from_secs(4);

async fn start_stack(delay: Duration) -> LocalStack {
    LocalStack::start(LocalStackOptions {
        users: vec![("alice".into(), "alice-token".into())],
        processing_delay: delay,
        poll_interval: Duration::from_millis(20),
        ..LocalStackOptions::default()
    })
    .await
    .unwrap()
}

fn engine(stack: &LocalStack, queue: &TransferQueue) -> Engine {
    let api = ApiClient::new(
        http_client().unwrap(),
        stack.api_url(),
        Some(Token::new("alice-token")),
    );
    let options = EngineOptions {
        wait_initial: Duration::from_millis(50),
        wait_max_interval: Duration::from_millis(200),
        wait_limit: Duration::from_secs(60),
        ..EngineOptions::default()
    };
    Engine::new(api, options).with_queue(queue.clone())
}

fn write_file(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("the bytes of {name}")).unwrap();
    path
}

fn ignore(_: TransferEvent) {}

/// Counts the `WaitingForResult` events of one wait.
fn counting(waits: &Arc<AtomicUsize>) -> impl Fn(TransferEvent) + Send + Sync + use<> {
    let waits = Arc::clone(waits);
    move |event| {
        if matches!(event, TransferEvent::WaitingForResult { .. }) {
            waits.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Waits until `condition` holds, for at most ten seconds.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn files_waiting_for_slow_results_leave_the_queue_to_the_next_upload() {
    const PLACES: usize = 2;
    let stack = start_stack(SLOW_PROCESSING).await;
    let queue = TransferQueue::new(PLACES);
    let engine = engine(&stack, &queue);
    let source = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();

    // As many files as the queue has places, each waiting for its slow result.
    let mut waiting = Vec::new();
    for i in 0..PLACES {
        let name = format!("slow-{i}.txt");
        let path = write_file(source.path(), &name);
        let uploaded = engine.upload(&path, &name, &cancel, &ignore).await.unwrap();
        let looks = Arc::new(AtomicUsize::new(0));
        let (engine, cancel, dir) = (engine.clone(), cancel.clone(), results.path().to_owned());
        let events = counting(&looks);
        let wait = tokio::spawn(async move {
            engine
                .wait_and_download(&name, &uploaded.result_of(), &dir, &cancel, &events)
                .await
        });
        waiting.push((looks, wait));
    }
    for (looks, _) in &waiting {
        eventually("every file is waiting for its result", || {
            looks.load(Ordering::SeqCst) > 0
        })
        .await;
    }

    // One more file goes up, and is done while all of them are still waiting.
    let next = write_file(source.path(), "next.txt");
    let uploaded = tokio::time::timeout(
        SLOW_PROCESSING / 2,
        engine.upload(&next, "next.txt", &cancel, &ignore),
    )
    .await
    .expect("the upload waited for a place the waits were holding")
    .unwrap();
    assert_eq!(uploaded.size, "the bytes of next.txt".len() as u64);
    for (_, wait) in &waiting {
        assert!(!wait.is_finished(), "a slow result came before the upload");
    }

    // The waits end with their downloads, which do take places, all the same.
    for (i, (_, wait)) in waiting.into_iter().enumerate() {
        let downloaded = wait.await.unwrap().unwrap();
        assert_eq!(
            std::fs::read(&downloaded.path).unwrap(),
            format!("the bytes of slow-{i}.txt").as_bytes()
        );
    }
    stack.stop().await;
}

#[tokio::test]
async fn uploads_and_downloads_take_a_place_and_waits_do_not() {
    let stack = start_stack(Duration::from_millis(100)).await;
    let queue = TransferQueue::new(1);
    let engine = engine(&stack, &queue);
    let source = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let ready = write_file(source.path(), "ready.txt");
    let of = engine
        .upload(&ready, "ready.txt", &cancel, &ignore)
        .await
        .unwrap()
        .result_of();
    engine
        .wait_for_result("ready.txt", &of, &cancel, &ignore)
        .await
        .unwrap();

    // Something else holds the only place.
    let held = queue.place().await;
    let queued = write_file(source.path(), "queued.txt");
    let upload = {
        let (engine, cancel) = (engine.clone(), cancel.clone());
        tokio::spawn(async move { engine.upload(&queued, "queued.txt", &cancel, &ignore).await })
    };
    let download = {
        let (engine, cancel, of) = (engine.clone(), cancel.clone(), of.clone());
        let dir = results.path().to_owned();
        tokio::spawn(async move {
            engine
                .download("ready.txt", &of, &dir, &cancel, &ignore)
                .await
        })
    };
    // A wait needs no place: it answers while the place is held.
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        engine.wait_for_result("ready.txt", &of, &cancel, &ignore),
    )
    .await
    .expect("the wait waited for a place")
    .unwrap();
    assert!(answer.key.ends_with("ready.txt"), "{}", answer.key);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!upload.is_finished(), "the upload ran without a place");
    assert!(!download.is_finished(), "the download ran without a place");

    // A transfer cancelled before its turn ends at once, and never starts.
    let stopped = CancellationToken::new();
    let never = write_file(source.path(), "never.txt");
    let cancelled = {
        let (engine, stopped) = (engine.clone(), stopped.clone());
        tokio::spawn(async move { engine.upload(&never, "never.txt", &stopped, &ignore).await })
    };
    stopped.cancel();
    let error = tokio::time::timeout(Duration::from_secs(5), cancelled)
        .await
        .expect("a cancelled upload kept waiting for its turn")
        .unwrap()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled);

    drop(held);
    let uploaded = upload.await.unwrap().unwrap();
    assert_eq!(uploaded.size, "the bytes of queued.txt".len() as u64);
    let downloaded = download.await.unwrap().unwrap();
    assert_eq!(
        std::fs::read(&downloaded.path).unwrap(),
        b"the bytes of ready.txt"
    );
    // The cancelled upload sent nothing: only the result of the first file ever comes back.
    let names: Vec<String> = result_names(&stack).await;
    assert!(!names.iter().any(|n| n.contains("never")), "{names:?}");
    stack.stop().await;
}

/// The names of alice's results on the server, once the stand-in processor has seen every upload.
async fn result_names(stack: &LocalStack) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let api = ApiClient::new(
        http_client().unwrap(),
        stack.api_url(),
        Some(Token::new("alice-token")),
    );
    api.all_results()
        .await
        .unwrap()
        .into_iter()
        .map(|item| item.name)
        .collect()
}
