//! `ddn`: send files to the processing service and get the results back, from a terminal or a
//! script. A thin face on the `ddn-transfer` engine.

mod login;
mod report;
mod uploads;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use ddn_transfer::{
    ApiClient, CancellationToken, Engine, EngineOptions, ErrorKind, ResultOf, Token, TransferQueue,
    http_client,
};
use indicatif::HumanBytes;
use login::{login, logout, saved_token};
use report::Reporter;
use serde_json::json;
use uploads::UploadLog;

/// Send files to the processing service and get the results back.
#[derive(Debug, Parser)]
#[command(name = "ddn", version, propagate_version = true)]
struct Cli {
    /// The service's address, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com
    #[arg(long, global = true, env = "DDN_API_URL")]
    api_url: Option<String>,
    /// The access token. Prefer `ddn login` (the system keyring) or the environment variable: a
    /// flag shows in the process list.
    #[arg(long, global = true, env = "DDN_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print one JSON object per line, for programs.
    #[arg(long, global = true)]
    json: bool,
    /// How many transfers run at once.
    #[arg(long, global = true, default_value_t = ddn_transfer::queue::DEFAULT_CONCURRENCY)]
    jobs: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Transfer(TransferCommand),
    /// Save your access token in the system keyring for this service address, after checking it
    /// with the service. Reads it from the terminal without showing it, or from standard input.
    Login {
        /// Save without asking the service whether it accepts the token.
        #[arg(long)]
        no_check: bool,
    },
    /// Remove the saved token for this service address from the system keyring.
    Logout,
}

/// The commands that talk to the service with the engine.
#[derive(Debug, Subcommand)]
enum TransferCommand {
    /// Upload files for processing. A large file goes in parts, several at once; when its last
    /// upload from this computer stopped half-way (interrupted, killed, a lost connection), the
    /// same command continues it and sends only what S3 lacks.
    Upload {
        /// The files to send.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Start from the first byte: drop what an earlier, unfinished upload of these files left
        /// on the server.
        #[arg(long)]
        restart: bool,
        /// Parts of one large file sent at once (1 to 16).
        #[arg(
            long,
            value_name = "N",
            default_value_t = ddn_transfer::engine::DEFAULT_PARTS_IN_FLIGHT as u16,
            value_parser = clap::value_parser!(u16).range(1..=16)
        )]
        parts: u16,
    },
    /// Download results that are ready; fails at once for one that is not. A name uploaded from
    /// this computer gets the result of its last upload only.
    Download {
        /// The names the files were uploaded under.
        #[arg(required = true)]
        names: Vec<String>,
        /// The folder to save into.
        #[arg(short, long, default_value = ".")]
        output: PathBuf,
        #[command(flatten)]
        of: WhichResult,
    },
    /// Wait for results, then download them. A name uploaded from this computer waits for the
    /// result of its last upload, never an earlier one.
    Wait {
        /// The names the files were uploaded under.
        #[arg(required = true)]
        names: Vec<String>,
        /// The folder to save into.
        #[arg(short, long, default_value = ".")]
        output: PathBuf,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
        #[command(flatten)]
        of: WhichResult,
    },
    /// List your results on the server.
    Results,
    /// Check the whole path: upload a test file, wait for its result, download it, compare.
    Smoke {
        /// The file to send (a generated 256 KiB file when not given).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Give up waiting for the result after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
}

/// Which upload's result `download` and `wait` ask for.
#[derive(Debug, clap::Args)]
struct WhichResult {
    /// The result of this upload (the `uploadId` that `ddn upload --json` printed), for a file
    /// uploaded elsewhere. Only with one name.
    #[arg(long, conflicts_with = "any_result")]
    upload_id: Option<String>,
    /// Whatever result is stored under the name, even one of an earlier upload (the old
    /// behaviour).
    #[arg(long)]
    any_result: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ddn: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("ddn: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs a command; `Ok(false)` when some item failed (each failure already reported).
async fn run(cli: Cli) -> anyhow::Result<bool> {
    let Some(api_url) = cli.api_url.as_deref() else {
        bail!("no service address: pass --api-url or set DDN_API_URL");
    };
    // Logout sends nothing anywhere, and must still remove a token saved for an address that
    // the rule refuses.
    if !matches!(cli.command, Command::Logout) {
        ddn_transfer::address::check_service_url(api_url)?;
    }
    let http = http_client().context("cannot set up HTTPS")?;
    let flag_token = cli.token.map(Token::new);
    let command = match cli.command {
        Command::Login { no_check } => {
            return login(http, api_url, flag_token, no_check, cli.json).await;
        }
        Command::Logout => return logout(api_url, cli.json).await,
        Command::Transfer(command) => command,
    };
    let token = match flag_token {
        Some(token) => Some(token),
        None => saved_token(api_url).await,
    };
    let api = ApiClient::new(http, api_url, token);
    let reporter = Reporter::new(cli.json);
    let queue = TransferQueue::new(cli.jobs);
    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    // Every engine shares the queue's places: each upload and each download takes one, a wait
    // for a result none, so slow results never hold up the other files.
    let engine = |wait_limit: Option<Duration>| {
        let mut options = EngineOptions::default();
        if let Some(limit) = wait_limit {
            options.wait_limit = limit;
        }
        Engine::new(api.clone(), options).with_queue(queue.clone())
    };

    let log = UploadLog::for_user();
    match command {
        TransferCommand::Upload {
            files,
            restart,
            parts,
        } => {
            let log = log.as_ref().map(|log| (log, api_url));
            let options = EngineOptions {
                // Without a data folder, large uploads still work; they just cannot resume.
                resume_dir: uploads::resume_dir(),
                parts_in_flight: usize::from(parts),
                ..EngineOptions::default()
            };
            let engine = Engine::new(api.clone(), options).with_queue(queue.clone());
            let how = UploadHow { restart };
            upload_all(&engine, &reporter, &cancel, &files, log, how).await
        }
        TransferCommand::Download { names, output, of } => {
            let targets = results_wanted(&names, &of, log.as_ref(), api_url, &reporter)?;
            let engine = engine(None);
            fetch_all(&engine, &reporter, &cancel, &targets, &output, false).await
        }
        TransferCommand::Wait {
            names,
            output,
            timeout,
            of,
        } => {
            let targets = results_wanted(&names, &of, log.as_ref(), api_url, &reporter)?;
            let engine = engine(Some(Duration::from_secs(timeout)));
            fetch_all(&engine, &reporter, &cancel, &targets, &output, true).await
        }
        TransferCommand::Results => list_results(&api, &reporter, &cancel).await,
        TransferCommand::Smoke { file, timeout } => {
            smoke(
                &engine(Some(Duration::from_secs(timeout))),
                &reporter,
                &cancel,
                file,
            )
            .await
        }
    }
}

/// Refuses, before anything is sent, two files that would be uploaded under one name: both would
/// go to the same key at once, and which one the service keeps is a matter of timing.
fn refuse_shared_names(files: &[PathBuf]) -> anyhow::Result<()> {
    let mut first_with_name = std::collections::HashMap::new();
    for path in files {
        let Ok(name) = upload_name(path) else {
            // Reported with the upload itself.
            continue;
        };
        if let Some(first) = first_with_name.insert(name.clone(), path) {
            bail!(
                "{} and {} would both be uploaded as {name}; nothing was sent. Upload them one \
                 at a time, or rename one",
                first.display(),
                path.display()
            );
        }
    }
    Ok(())
}

/// Each name with the upload whose result it must get: the one given with `--upload-id`, else
/// the last upload of the name from this computer, else (or with `--any-result`) whatever result
/// is stored, with a note saying so.
fn results_wanted(
    names: &[String],
    which: &WhichResult,
    log: Option<&UploadLog>,
    api_url: &str,
    reporter: &Reporter,
) -> anyhow::Result<Vec<(String, ResultOf)>> {
    if let Some(id) = &which.upload_id {
        if names.len() != 1 {
            bail!("--upload-id names one upload: give exactly one name with it");
        }
        if !ddn_api::processing::is_valid_upload_id(id) {
            bail!("--upload-id {id:?} is not an upload id (letters, digits, - and _)");
        }
        let of = ResultOf {
            upload_id: Some(id.clone()),
            uploaded_at: None,
        };
        return Ok(vec![(names[0].clone(), of)]);
    }
    Ok(names
        .iter()
        .map(|name| {
            let remembered = (!which.any_result)
                .then(|| log.and_then(|log| log.result_of(api_url, name)))
                .flatten();
            if remembered.is_none() && !which.any_result {
                reporter.note(&format!(
                    "{name}: no upload of it from this computer is known; taking the result \
                     stored under that name, whichever upload it came from"
                ));
            }
            (name.clone(), remembered.unwrap_or_default())
        })
        .collect())
}

/// The name a file is uploaded under: its own file name.
fn upload_name(path: &Path) -> Result<String, String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file", path.display()))?;
    name.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{}: the file name is not valid Unicode", path.display()))
}

/// How `ddn upload` treats what earlier runs left.
#[derive(Debug, Clone, Copy)]
struct UploadHow {
    /// Drop an unfinished earlier upload of each file and start from its first byte.
    restart: bool,
}

/// Uploads every file at once, as many moving together as the engine's queue allows.
async fn upload_all(
    engine: &Engine,
    reporter: &Reporter,
    cancel: &CancellationToken,
    files: &[PathBuf],
    log: Option<(&UploadLog, &str)>,
    how: UploadHow,
) -> anyhow::Result<bool> {
    refuse_shared_names(files)?;
    let jobs = files.iter().map(|path| async move {
        let name = match upload_name(path) {
            Ok(name) => name,
            Err(message) => {
                eprintln!("{message}");
                return false;
            }
        };
        if how.restart {
            match engine.discard_upload(path, &name).await {
                Ok(true) => reporter.note(&format!(
                    "{name}: dropped the unfinished earlier upload; starting from the first byte"
                )),
                Ok(false) => {}
                Err(error) => {
                    reporter.failure(&name, &error, None);
                    return false;
                }
            }
        }
        let display = reporter.transfer("upload", &name);
        let result = engine.upload(path, &name, cancel, &display).await;
        display.finish();
        match result {
            Ok(uploaded) => {
                if let Some((log, api_url)) = log
                    && let Err(error) = log.remember(api_url, &name, &uploaded)
                {
                    reporter.note(&format!(
                        "{name}: could not note the upload for `ddn wait` ({error}); wait with \
                         --upload-id {}",
                        uploaded.upload_id.as_deref().unwrap_or("-")
                    ));
                }
                reporter.success(
                    json!({"type": "uploaded", "name": name, "key": uploaded.key, "size": uploaded.size, "md5Checked": uploaded.md5_checked, "uploadId": uploaded.upload_id, "uploadedAt": uploaded.uploaded_at}),
                    &format!("uploaded {name} ({})", HumanBytes(uploaded.size)),
                );
                true
            }
            Err(error) => {
                let resumable = engine.options().resume_dir.is_some()
                    && std::fs::metadata(path).is_ok_and(|meta| {
                        meta.len() >= engine.options().effective_multipart_threshold()
                    });
                let hint = resumable.then_some(
                    "Run the same `ddn upload` again to continue where it stopped (or add \
                     --restart to start over).",
                );
                reporter.failure(&name, &error, hint);
                false
            }
        }
    });
    Ok(futures_util::future::join_all(jobs)
        .await
        .into_iter()
        .all(|ok| ok))
}

/// Downloads (after waiting for, with `wait`) every result at once: the waits all run together,
/// and the downloads as many at once as the engine's queue allows.
async fn fetch_all(
    engine: &Engine,
    reporter: &Reporter,
    cancel: &CancellationToken,
    targets: &[(String, ResultOf)],
    output: &Path,
    wait: bool,
) -> anyhow::Result<bool> {
    let jobs = targets.iter().map(|(name, of)| async move {
        let display = reporter.transfer("download", name);
        let result = if wait {
            engine
                .wait_and_download(name, of, output, cancel, &display)
                .await
        } else {
            engine.download(name, of, output, cancel, &display).await
        };
        display.finish();
        match result {
            Ok(downloaded) => {
                reporter.success(
                    json!({"type": "downloaded", "name": name, "path": downloaded.path, "size": downloaded.size, "checksum": downloaded.checksum}),
                    &format!(
                        "downloaded {name} ({}) to {}",
                        HumanBytes(downloaded.size),
                        downloaded.path.display()
                    ),
                );
                true
            }
            Err(error) => {
                let hint = (error.kind() == ErrorKind::NotReady)
                    .then(|| format!("Run `ddn wait {name}` to wait for it."));
                reporter.failure(name, &error, hint.as_deref());
                false
            }
        }
    });
    Ok(futures_util::future::join_all(jobs)
        .await
        .into_iter()
        .all(|ok| ok))
}

async fn list_results(
    api: &ApiClient,
    reporter: &Reporter,
    cancel: &CancellationToken,
) -> anyhow::Result<bool> {
    let results = match api.all_results_cancellable(cancel).await {
        Ok(results) => results,
        Err(error) => {
            reporter.failure("results", &error, None);
            return Ok(false);
        }
    };
    if matches!(reporter, Reporter::Json) {
        for item in &results {
            println!(
                "{}",
                json!({"type": "result", "name": item.name, "size": item.size, "lastModified": item.last_modified})
            );
        }
        return Ok(true);
    }
    if results.is_empty() {
        println!("No results yet.");
        return Ok(true);
    }
    let width = results
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:<width$}  {:>10}  MODIFIED", "NAME", "SIZE");
    for item in &results {
        println!(
            "{:<width$}  {:>10}  {}",
            item.name,
            HumanBytes(item.size).to_string(),
            item.last_modified
        );
    }
    Ok(true)
}

/// The old test scripts' flow in one command: upload, wait for processing, download, compare.
async fn smoke(
    engine: &Engine,
    reporter: &Reporter,
    cancel: &CancellationToken,
    file: Option<PathBuf>,
) -> anyhow::Result<bool> {
    let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
    let source = match file {
        Some(path) => path,
        None => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            let path = scratch.path().join(format!("ddn-smoke-{stamp}.bin"));
            let bytes: Vec<u8> = (0..256 * 1024u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect();
            std::fs::write(&path, bytes).context("cannot write the test file")?;
            path
        }
    };
    let name = upload_name(&source).map_err(anyhow::Error::msg)?;
    let results = scratch.path().join("results");

    let Some((uploaded, upload_ms)) = timed_step(reporter, "upload", &name, async |display| {
        engine.upload(&source, &name, cancel, display).await
    })
    .await
    else {
        return Ok(false);
    };
    let of = uploaded.result_of();
    let Some((_, wait_ms)) = timed_step(reporter, "wait", &name, async |display| {
        engine.wait_for_result(&name, &of, cancel, display).await
    })
    .await
    else {
        return Ok(false);
    };
    let Some((downloaded, download_ms)) =
        timed_step(reporter, "download", &name, async |display| {
            engine.download(&name, &of, &results, cancel, display).await
        })
        .await
    else {
        return Ok(false);
    };

    let identical = std::fs::read(&source).context("cannot read the test file")?
        == std::fs::read(&downloaded.path).context("cannot read the downloaded file")?;
    reporter.success(
        json!({"type": "smoke", "name": name, "size": downloaded.size, "uploadMs": upload_ms, "waitMs": wait_ms, "downloadMs": download_ms, "identical": identical}),
        &format!(
            "upload: {upload_ms} ms\nprocessing wait: {wait_ms} ms\ndownload: {download_ms} ms\nbytes identical: {}",
            if identical { "yes" } else { "NO" }
        ),
    );
    Ok(identical)
}

/// One step of the smoke test with its own progress display: its outcome and its milliseconds, or
/// `None` once its failure has been reported.
async fn timed_step<T>(
    reporter: &Reporter,
    verb: &'static str,
    name: &str,
    step: impl AsyncFnOnce(&report::TransferDisplay) -> Result<T, ddn_transfer::TransferError>,
) -> Option<(T, u128)> {
    let started = Instant::now();
    let display = reporter.transfer(verb, name);
    let outcome = step(&display).await;
    display.finish();
    match outcome {
        Ok(value) => Some((value, started.elapsed().as_millis())),
        Err(error) => {
            reporter.failure(name, &error, None);
            None
        }
    }
}
