//! The one accept loop of every loopback server: when accepting fails (here because the process
//! has used up its file descriptors, the classic cause) it logs each failure and waits longer
//! after each one, rather than spinning on the error or dropping it silently, and serves the
//! waiting connection as soon as it can.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ddn_localstack::loopback;

/// Set in the process that runs the scenario, with its descriptors limited.
const SCENARIO: &str = "DDN_LOOPBACK_SCENARIO";
const TEST_NAME: &str = "a_failing_accept_is_logged_and_retried_after_a_growing_wait";
const SERVED: &str = "the waiting connection was served";
/// How long accepting keeps failing in the scenario.
const STARVED: Duration = Duration::from_millis(600);

#[test]
fn a_failing_accept_is_logged_and_retried_after_a_growing_wait() {
    if std::env::var_os(SCENARIO).is_some() {
        return scenario();
    }
    // This very test again, in a process that may open only a few descriptors.
    let output = std::process::Command::new("sh")
        .args(["-c", r#"ulimit -n 64 && exec "$0" "$@""#])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(SCENARIO, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(SERVED), "{stdout}\n{stderr}");
    // Waits of 10, 20, 40, ... ms fit about six failures in the starved time; a loop that
    // retried at once would log thousands, one that skipped silently none.
    let failures = stderr.matches("accepting a connection failed").count();
    assert!(
        (2..=10).contains(&failures),
        "{failures} failed accepts logged in {STARVED:?}:\n{stderr}"
    );
}

/// A connection waits to be accepted while the process has no descriptor left; the loop runs
/// starved for a while, then descriptors are freed and it must accept that connection.
fn scenario() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = loopback::bind(0).await.unwrap();
        let address = listener.local_addr().unwrap();
        assert!(address.ip().is_loopback());
        let client = std::net::TcpStream::connect(address).unwrap();

        let mut held = Vec::new();
        let exhausted = loop {
            match std::fs::File::open("/dev/null") {
                Ok(file) => held.push(file),
                Err(error) => break error,
            }
        };
        assert_eq!(exhausted.raw_os_error(), Some(24), "EMFILE: {exhausted}");

        let (accepted, peer) = tokio::sync::oneshot::channel();
        let mut accepted = Some(accepted);
        let _server = tokio::spawn(loopback::accept_loop(
            listener,
            std::future::pending(),
            move |stream| {
                if let Some(accepted) = accepted.take() {
                    let _ = accepted.send(stream.peer_addr().ok());
                }
            },
        ));
        tokio::time::sleep(STARVED).await;
        drop(held);
        let peer = tokio::time::timeout(Duration::from_secs(5), peer)
            .await
            .expect("accepted once descriptors were free again")
            .unwrap();
        assert_eq!(peer, Some(client.local_addr().unwrap()));
        println!("{SERVED}");
    });
}
