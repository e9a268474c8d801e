//! `ddn-local`: runs the embedded local stack in the foreground until Ctrl-C.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use ddn_localstack::processor::NamePattern;
use ddn_localstack::{LocalStack, LocalStackOptions};

/// Runs an S3-compatible server, the presign API and a stand-in processor on loopback.
#[derive(Debug, Parser)]
#[command(name = "ddn-local", version)]
struct Args {
    /// Port of the presign API on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8787, env = "DDN_LOCAL_API_PORT")]
    api_port: u16,
    /// Port of the S3 server on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8788, env = "DDN_LOCAL_S3_PORT")]
    s3_port: u16,
    /// Folder for stored objects; a temporary folder, removed on exit, when not given.
    #[arg(long, env = "DDN_LOCAL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The development token (random when not given).
    #[arg(long, env = "DDN_LOCAL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Milliseconds the processor waits before copying an upload to the output bucket.
    #[arg(long, default_value_t = 1000, env = "DDN_LOCAL_PROCESSING_DELAY_MS")]
    processing_delay_ms: u64,
    /// Fail files whose name (the part after `users/<id>/`) matches this pattern: `*` for any
    /// characters, `?` for one. They get a failure marker instead of a result.
    #[arg(long, env = "DDN_LOCAL_FAIL_MATCHING", value_name = "PATTERN")]
    fail_matching: Option<NamePattern>,
    /// Write the API address and token as JSON to this file once ready (for scripts).
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,s3s=warn,s3s_fs=warn".into()),
        )
        .with_target(false)
        .init();

    let options = LocalStackOptions {
        data_dir: args.data_dir,
        api_port: args.api_port,
        s3_port: args.s3_port,
        users: args
            .token
            .map(|t| vec![(ddn_localstack::DEFAULT_USER.to_owned(), t)])
            .unwrap_or_default(),
        processing_delay: Duration::from_millis(args.processing_delay_ms),
        fail_matching: args.fail_matching.clone(),
        ..LocalStackOptions::default()
    };
    let stack = LocalStack::start(options).await.context(
        "the local stack could not start (is another one running? try --api-port 0 --s3-port 0)",
    )?;

    println!("DDN local stack is running (Ctrl-C stops it).");
    println!();
    println!("  API:     {}", stack.api_url());
    println!("  Token:   {}", stack.token());
    println!(
        "  S3:      {}  (buckets {} and {}, data in {})",
        stack.s3_url(),
        stack.in_bucket(),
        stack.out_bucket(),
        stack.data_dir().display()
    );
    if let Some(pattern) = &args.fail_matching {
        println!("  Fails:   files matching {pattern} (a failure marker instead of a result)");
    }
    println!();
    println!("Try it:");
    println!(
        "  export DDN_API_URL={} DDN_API_TOKEN={}",
        stack.api_url(),
        stack.token()
    );
    println!(
        "  curl -s -H \"Authorization: Bearer $DDN_API_TOKEN\" \"$DDN_API_URL/presign?file=hello.txt&mode=upload\""
    );
    if let Some(path) = &args.ready_file {
        let ready = serde_json::json!({
            "apiUrl": stack.api_url(),
            "token": stack.token(),
            "s3Url": stack.s3_url(),
        });
        write_private(path, &ready.to_string())
            .with_context(|| format!("writing {}", path.display()))?;
    }

    shutdown_signal().await;
    println!("Stopping...");
    stack.stop().await;
    Ok(())
}

/// Writes a file only its owner can read (it holds the development token), atomically: it is
/// written under a temporary name and renamed, so a script waiting for it never reads it half-done.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
