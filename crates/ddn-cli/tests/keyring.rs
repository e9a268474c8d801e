//! The token in a real Secret Service (GNOME Keyring on a private D-Bus session): `ddn login`
//! saves it there and nowhere in plain text, later runs find it, `ddn logout` removes it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::session_keyring::SessionKeyring;

const GOOD_TOKEN: &str = "bob-keyring-token-4f1c9a";

/// Runs `ddn ARGS` against `stack` with no token in its environment, `stdin` as its input, and
/// the private keyring as its session. The stack keeps serving on the runtime's other threads.
fn ddn(keyring: &SessionKeyring, stack: &LocalStack, args: &[&str], stdin: &str) -> Output {
    tokio::task::block_in_place(|| run_ddn(keyring, stack, args, stdin))
}

fn run_ddn(keyring: &SessionKeyring, stack: &LocalStack, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ddn"));
    keyring.apply(&mut command);
    let mut child = command
        .args(args)
        .env("DDN_API_URL", stack.api_url())
        .env_remove("DDN_API_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// What the Secret Service itself holds for the stack's address, read with libsecret's own tool.
fn stored_secret(keyring: &SessionKeyring, stack: &LocalStack) -> Option<String> {
    keyring.saved_token(stack.api_url()).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn login_saves_the_token_in_the_keyring_and_later_runs_use_it() {
    let stack = LocalStack::start(LocalStackOptions {
        users: vec![("bob".into(), GOOD_TOKEN.into())],
        processing_delay: Duration::from_millis(50),
        ..LocalStackOptions::default()
    })
    .await
    .unwrap();
    let keyring = tokio::task::spawn_blocking(SessionKeyring::start)
        .await
        .unwrap()
        .unwrap();
    let run = |args: &[&str], stdin: &str| ddn(&keyring, &stack, args, stdin);

    // Nothing saved yet: refused, with a hint at `ddn login`.
    let output = run(&["results"], "");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("ddn login"),
        "{}",
        text(&output.stderr)
    );

    // A token the service refuses is not saved.
    let output = run(&["login"], "not-the-token\n");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("did not accept"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(stored_secret(&keyring, &stack), None);

    // The right one is checked, then saved in the Secret Service itself.
    let output = run(&["login"], &format!("{GOOD_TOKEN}\n"));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("saved in the system keyring"));
    assert!(!text(&output.stdout).contains(GOOD_TOKEN));
    assert_eq!(stored_secret(&keyring, &stack).as_deref(), Some(GOOD_TOKEN));

    // A new process, no token in its environment: it finds the saved one.
    let output = run(&["results", "--json"], "");
    assert!(output.status.success(), "{}", text(&output.stderr));

    // A token given explicitly wins over the saved one.
    let output = run(&["--token", "wrong-token", "results"], "");
    assert_eq!(output.status.code(), Some(1));

    // The keyring's files (and the whole home of the session) never hold the token in plain text.
    assert!(
        keyring.files_containing(GOOD_TOKEN.as_bytes()).is_empty(),
        "token found in plain text"
    );

    // Logging out removes it; the next run is refused again; a second logout is not an error.
    let output = run(&["logout"], "");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("removed"));
    assert_eq!(stored_secret(&keyring, &stack), None);
    let output = run(&["results"], "");
    assert_eq!(output.status.code(), Some(1));
    let output = run(&["logout"], "");
    assert!(output.status.success());
    assert!(text(&output.stdout).contains("No token was saved"));
}
