//! The Tauri shell: the window, its plugins, and thin commands over the transfer engine and the
//! job loop. Everything that decides something lives in modules that do not depend on a window
//! ([`jobs`], [`settings`], [`files`]), so they are tested on their own.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ddn_secrets::TokenStore;
use ddn_transfer::EngineOptions;
use tauri::{Manager as _, Runtime};

pub mod backend;
pub mod clock;
pub mod commands;
pub mod error;
pub mod files;
pub mod jobs;
pub mod json_file;
pub mod notices;
pub mod rendering;
pub mod settings;
pub mod updates;

#[cfg(test)]
mod fixtures;

use backend::{AppBackend, Notify};
use error::CommandError;
use jobs::Jobs;
use settings::{Overrides, SettingsStore};

/// When the app started, to report how long the window took to become usable.
pub struct Launch {
    started: Instant,
    reported: AtomicBool,
}

impl Launch {
    /// The clock started at `started`.
    pub fn since(started: Instant) -> Self {
        Self {
            started,
            reported: AtomicBool::new(false),
        }
    }

    /// Called when the page has wired its handlers and asked for the list: the window is usable.
    pub fn page_ready(&self) {
        if !self.reported.swap(true, Ordering::Relaxed) {
            tracing::info!(
                elapsed_ms = self.started.elapsed().as_millis() as u64,
                "the window is interactive"
            );
        }
    }
}

/// Where the app keeps its files.
#[derive(Debug, Clone)]
pub struct AppPaths {
    /// `settings.json`.
    pub config_dir: PathBuf,
    /// `transfers.json`, the list, and beside it `resume/`, the engine's journals of unfinished
    /// transfers.
    pub data_dir: PathBuf,
    /// Where results go unless the user chose a folder.
    pub default_results_dir: PathBuf,
}

impl AppPaths {
    /// Where the engine keeps its journals of unfinished transfers: next to the list, whose rows
    /// they belong to.
    pub fn resume_dir(&self) -> PathBuf {
        self.data_dir.join("resume")
    }
}

/// Creates the shared state (settings, backend, job loop) and resumes unfinished transfers. The
/// engine keeps its journals of unfinished transfers in [`AppPaths::resume_dir`] unless `options`
/// name a folder, so an upload or download paused, cut or killed goes on where it stopped.
///
/// # Errors
/// When no HTTP client can be made.
pub fn manage_state<R: Runtime, M: tauri::Manager<R>>(
    manager: &M,
    launched: Instant,
    paths: &AppPaths,
    overrides: Overrides,
    tokens: TokenStore,
    notify: Notify,
    options: EngineOptions,
) -> Result<(), CommandError> {
    let store = SettingsStore::new(
        &paths.config_dir,
        paths.default_results_dir.clone(),
        overrides,
        tokens,
    );
    let options = EngineOptions {
        resume_dir: options.resume_dir.or_else(|| Some(paths.resume_dir())),
        ..options
    };
    let backend = AppBackend::new(store, notify, options)?;
    let jobs = Jobs::open(
        paths.data_dir.join("transfers.json"),
        Arc::clone(&backend) as Arc<dyn jobs::Backend>,
        Arc::new(clock::SystemClock),
    );
    manager.manage(backend);
    manager.manage(jobs.clone());
    manager.manage(Launch::since(launched));
    manager.manage(updates::Updates::default());
    tauri::async_runtime::spawn(async move { jobs.start_unfinished() });
    Ok(())
}

/// The page's commands (the capability file grants exactly these).
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::load_settings,
        commands::save_settings,
        commands::test_connection,
        commands::start_uploads,
        commands::restore_transfers,
        commands::pause_transfer,
        commands::resume_transfer,
        commands::cancel_transfer,
        commands::retry_transfer,
        commands::remove_transfer,
        commands::open_result,
        commands::show_result,
        commands::choose_paths,
        commands::choose_results_folder,
        commands::list_results,
        commands::download_result,
        commands::about_app,
        commands::open_help,
        commands::check_update,
        commands::install_update,
        commands::restart_app,
    ])
}

fn app_paths<R: Runtime>(app: &tauri::App<R>) -> tauri::Result<AppPaths> {
    let path = app.path();
    let default_results_dir = path
        .download_dir()
        .or_else(|_| path.home_dir().map(|home| home.join("Downloads")))?
        .join("DDN Transfer");
    Ok(AppPaths {
        config_dir: path.app_config_dir()?,
        data_dir: path.app_data_dir()?,
        default_results_dir,
    })
}

fn notifier<R: Runtime>(app: tauri::AppHandle<R>) -> Notify {
    use tauri_plugin_notification::NotificationExt as _;
    Box::new(move |notice| {
        let language = app
            .try_state::<Arc<AppBackend>>()
            .map(|backend| backend.store().saved().language)
            .unwrap_or_default();
        let (title, body) = notices::words(notice, &notices::language(&language));
        if let Err(error) = app.notification().builder().title(title).body(body).show() {
            tracing::warn!(%error, "could not show a notification");
        }
    })
}

/// Builds and runs the app until its last window closes.
///
/// # Panics
/// When the window system cannot start (no display), which leaves nothing to show an error in.
pub fn run() {
    let launch = Instant::now();
    let builder = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.set_focus();
            }
        }))
        .plugin(
            tauri_plugin_log::Builder::new()
                .level(log::LevelFilter::Info)
                // Request-level logs of the HTTP stack may name URLs; keep them out.
                .level_for("reqwest", log::LevelFilter::Warn)
                .level_for("hyper", log::LevelFilter::Warn)
                .level_for("hyper_util", log::LevelFilter::Warn)
                .build(),
        )
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_updater::Builder::new().build())
        .setup(move |app| {
            let paths = app_paths(app)?;
            manage_state(
                app,
                launch,
                &paths,
                Overrides::from_env(),
                TokenStore::default(),
                notifier(app.handle().clone()),
                EngineOptions::default(),
            )?;
            if let Some(window) = app.get_webview_window("main") {
                let package = app.package_info();
                // The title names the version, so a user (and support) can tell it at a glance.
                let _ = window.set_title(&format!("{} {}", package.name, package.version));
            }
            tracing::info!(
                elapsed_ms = launch.elapsed().as_millis() as u64,
                "the app is set up"
            );
            Ok(())
        });
    let app = with_commands(builder)
        .build(tauri::generate_context!())
        .unwrap_or_else(|error| panic!("the app could not start: {error}"));
    app.run(|app, event| {
        if let tauri::RunEvent::Exit = event
            && let Some(jobs) = app.try_state::<Jobs>()
        {
            jobs.flush();
        }
    });
}
