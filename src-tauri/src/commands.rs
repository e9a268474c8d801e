//! The commands the page may call. Each is thin: take the state, call the engine or the job loop,
//! turn errors into `{ kind, message }`. Blocking work (the keyring, walking folders) runs on the
//! blocking pool.

use std::path::PathBuf;
use std::sync::Arc;

use ddn_api::{ResultItem, ResultsRequest};
use ddn_transfer::Token;
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::DialogExt as _;
use tauri_plugin_opener::OpenerExt as _;

use crate::backend::AppBackend;
use crate::error::{CommandError, ErrorKind};
use crate::jobs::batching;
use crate::jobs::{Jobs, UiEvent};
use crate::settings::{SettingsUpdate, SettingsView, check_api_url, normalize_api_url};
use crate::{Launch, files, updates};

/// Runs blocking `work` off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CommandError> + Send + 'static,
) -> Result<T, CommandError> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|_| {
            CommandError::new(ErrorKind::Internal, "The app stopped a task unexpectedly.")
        })?
}

/// The settings as the page shows them.
#[tauri::command]
pub async fn load_settings(
    backend: State<'_, Arc<AppBackend>>,
) -> Result<SettingsView, CommandError> {
    let backend = Arc::clone(&backend);
    blocking(move || Ok(backend.store().view())).await
}

/// Saves the settings (a new token goes to the keyring) and answers them as now in effect.
#[tauri::command]
pub async fn save_settings(
    backend: State<'_, Arc<AppBackend>>,
    update: SettingsUpdate,
) -> Result<SettingsView, CommandError> {
    let backend = Arc::clone(&backend);
    blocking(move || {
        backend.store().save(update)?;
        Ok(backend.reload())
    })
    .await
}

/// Checks an address and token against the service. With `token` empty, the token kept for the
/// tested address is used (from the keyring, or the environment's when that address is the one
/// in effect); a token kept for another address is never sent. Answers how many results the
/// first page lists.
#[tauri::command]
pub async fn test_connection(
    backend: State<'_, Arc<AppBackend>>,
    api_url: String,
    token: Option<String>,
) -> Result<usize, CommandError> {
    let api_url = normalize_api_url(&api_url);
    check_api_url(&api_url)?;
    let token = match token.filter(|token| !token.trim().is_empty()) {
        Some(token) => Some(Token::new(token.trim())),
        None => {
            let backend = Arc::clone(&backend);
            let tested = api_url.clone();
            blocking(move || Ok(backend.store().token_for(&tested))).await?
        }
    };
    let Some(token) = token else {
        return Err(CommandError::new(
            ErrorKind::InvalidSettings,
            "Enter the access token.",
        ));
    };
    let page = backend
        .client_for(&api_url, Some(token))
        .results(&ResultsRequest {
            cursor: None,
            limit: Some(1),
        })
        .await?;
    Ok(page.results.len())
}

/// Sends the dropped or chosen files and folders (folders recursively).
#[tauri::command]
pub async fn start_uploads(
    backend: State<'_, Arc<AppBackend>>,
    jobs: State<'_, Jobs>,
    paths: Vec<PathBuf>,
) -> Result<Vec<String>, CommandError> {
    backend.api()?;
    let (found, skipped) = blocking(move || Ok(files::expand(&paths))).await?;
    Ok(jobs.add_files(found, skipped))
}

/// Sends the list's events to `events` from now on, in batches, and answers the list as it
/// stands.
#[tauri::command]
pub fn restore_transfers(
    jobs: State<'_, Jobs>,
    launch: State<'_, Launch>,
    events: Channel<Vec<UiEvent>>,
) -> Vec<UiEvent> {
    launch.page_ready();
    // A page that went away cannot take events; the next page attaches its own channel.
    let (sink, forward) = batching::batched(move |batch| events.send(batch).is_ok());
    tauri::async_runtime::spawn(forward);
    jobs.attach(sink)
}

/// Pauses a transfer, keeping what it sent or received for [`resume_transfer`].
#[tauri::command]
pub fn pause_transfer(jobs: State<'_, Jobs>, id: String) -> Result<(), CommandError> {
    jobs.pause(&id)
}

/// Goes on with a paused transfer from where it stopped. (Async: it starts a job.)
#[tauri::command]
pub async fn resume_transfer(jobs: State<'_, Jobs>, id: String) -> Result<(), CommandError> {
    jobs.resume(&id)
}

/// Stops a transfer for good, giving up what the engine kept of it. (Async: the giving up is a
/// job of its own.)
#[tauri::command]
pub async fn cancel_transfer(jobs: State<'_, Jobs>, id: String) -> Result<(), CommandError> {
    jobs.cancel(&id)
}

/// Tries a failed or cancelled transfer again. (Async, like every command that starts a job, so
/// it runs on the async runtime.)
#[tauri::command]
pub async fn retry_transfer(jobs: State<'_, Jobs>, id: String) -> Result<(), CommandError> {
    jobs.retry(&id)
}

/// Takes a finished or paused transfer off the list, giving up what the engine kept of it.
/// (Async, as [`cancel_transfer`].)
#[tauri::command]
pub async fn remove_transfer(jobs: State<'_, Jobs>, id: String) -> Result<(), CommandError> {
    jobs.remove(&id)
}

/// Opens a result with the system's default app.
#[tauri::command]
pub fn open_result<R: Runtime>(
    app: AppHandle<R>,
    jobs: State<'_, Jobs>,
    id: String,
) -> Result<(), CommandError> {
    let path = existing_result(&jobs, &id)?;
    app.opener()
        .open_path(path.to_string_lossy(), None::<&str>)
        .map_err(|_| CommandError::new(ErrorKind::Io, "No app could open this file."))
}

/// Shows a result in its folder.
#[tauri::command]
pub fn show_result<R: Runtime>(
    app: AppHandle<R>,
    jobs: State<'_, Jobs>,
    id: String,
) -> Result<(), CommandError> {
    let path = existing_result(&jobs, &id)?;
    app.opener()
        .reveal_item_in_dir(&path)
        .map_err(|_| CommandError::new(ErrorKind::Io, "The folder could not be shown."))
}

fn existing_result(jobs: &Jobs, id: &str) -> Result<PathBuf, CommandError> {
    let path = jobs.result_path(id)?;
    if !path.is_file() {
        return Err(CommandError::new(
            ErrorKind::NotFound,
            "The result is no longer where it was saved.",
        ));
    }
    Ok(path)
}

/// Asks the user for files, or for folders.
#[tauri::command]
pub async fn choose_paths<R: Runtime>(app: AppHandle<R>, folders: bool) -> Vec<PathBuf> {
    let (answer, picked) = tokio::sync::oneshot::channel();
    let dialog = app.dialog().file();
    let into_paths = |chosen: Option<Vec<tauri_plugin_dialog::FilePath>>| {
        chosen
            .unwrap_or_default()
            .into_iter()
            .filter_map(|path| path.into_path().ok())
            .collect::<Vec<_>>()
    };
    if folders {
        dialog.pick_folders(move |chosen| {
            let _ = answer.send(into_paths(chosen));
        });
    } else {
        dialog.pick_files(move |chosen| {
            let _ = answer.send(into_paths(chosen));
        });
    }
    picked.await.unwrap_or_default()
}

/// Asks the user for the results folder.
#[tauri::command]
pub async fn choose_results_folder<R: Runtime>(app: AppHandle<R>) -> Option<PathBuf> {
    let (answer, picked) = tokio::sync::oneshot::channel();
    app.dialog().file().pick_folder(move |chosen| {
        let _ = answer.send(chosen.and_then(|path| path.into_path().ok()));
    });
    picked.await.ok().flatten()
}

/// Results asked for at once: a page the page draws without a pause, and few requests for a long
/// list.
pub const RESULTS_PAGE: u32 = 200;

/// One page of the user's results, as the page receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultsPageView {
    /// The results on this page, in the service's order (by name).
    pub results: Vec<ResultItem>,
    /// What to ask the next page with; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One page of the user's results on the server: the first for `cursor` `null`, else the one
/// after the page that gave `cursor`. The page asks for the next as the user scrolls.
#[tauri::command]
pub async fn list_results(
    backend: State<'_, Arc<AppBackend>>,
    cursor: Option<String>,
) -> Result<ResultsPageView, CommandError> {
    let page = backend
        .api()?
        .results(&ResultsRequest {
            cursor,
            limit: Some(RESULTS_PAGE),
        })
        .await?;
    Ok(ResultsPageView {
        results: page.results,
        next_cursor: page.next_cursor,
    })
}

/// Fetches a result from the server into the results folder, as a row of the list.
#[tauri::command]
pub async fn download_result(
    backend: State<'_, Arc<AppBackend>>,
    jobs: State<'_, Jobs>,
    name: String,
    size: u64,
) -> Result<String, CommandError> {
    backend.api()?;
    Ok(jobs.add_result(name, size))
}

/// What the About dialog shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AboutView {
    /// The product's name.
    pub name: String,
    /// The installed version.
    pub version: String,
    /// The service address in use ("" when none is set).
    pub service_url: String,
}

/// The app's name and version, and the service it talks to.
#[tauri::command]
pub async fn about_app<R: Runtime>(
    app: AppHandle<R>,
    backend: State<'_, Arc<AppBackend>>,
) -> Result<AboutView, CommandError> {
    let backend = Arc::clone(&backend);
    let settings = blocking(move || Ok(backend.store().view())).await?;
    let package = app.package_info();
    Ok(AboutView {
        name: package.name.clone(),
        version: package.version.to_string(),
        service_url: settings.api_url,
    })
}

/// Where the help is: the README's section for users.
pub const HELP_URL: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "#install");

/// Opens the help in the user's browser.
#[tauri::command]
pub fn open_help<R: Runtime>(app: AppHandle<R>) -> Result<(), CommandError> {
    app.opener()
        .open_url(HELP_URL, None::<&str>)
        .map_err(|_| CommandError::new(ErrorKind::Io, "The help could not be opened."))
}

/// Looks for a newer version of the app.
#[tauri::command]
pub async fn check_update<R: Runtime>(
    app: AppHandle<R>,
    updates: State<'_, updates::Updates>,
) -> Result<updates::UpdateCheck, CommandError> {
    updates::check(&app, &updates).await
}

/// Installs the update the last check found, once no transfer moves; reports its phases on
/// `events`.
#[tauri::command]
pub async fn install_update(
    updates: State<'_, updates::Updates>,
    jobs: State<'_, Jobs>,
    events: Channel<updates::InstallPhase>,
) -> Result<updates::UpdateCheck, CommandError> {
    updates::install(&updates, &jobs, |phase| {
        let _ = events.send(phase);
    })
    .await
}

/// Restarts into the installed update (refused while a transfer moves).
#[tauri::command]
pub fn restart_app<R: Runtime>(
    app: AppHandle<R>,
    jobs: State<'_, Jobs>,
) -> Result<(), CommandError> {
    updates::restart(&app, &jobs)
}
