//! Generates the app's context (configuration, capabilities, icons) for `tauri::generate_context!`,
//! and one permission per app command, so the capability file grants the page each command by
//! name instead of all of them.

/// Every command in `src/lib.rs`'s handler; a command missing here cannot be granted.
const COMMANDS: &[&str] = &[
    "load_settings",
    "save_settings",
    "test_connection",
    "start_uploads",
    "restore_transfers",
    "pause_transfer",
    "resume_transfer",
    "cancel_transfer",
    "retry_transfer",
    "remove_transfer",
    "open_result",
    "show_result",
    "choose_paths",
    "choose_results_folder",
    "list_results",
    "download_result",
    "about_app",
    "open_help",
    "check_update",
    "install_update",
    "restart_app",
];

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .unwrap_or_else(|error| panic!("tauri-build failed: {error:#}"));
}
