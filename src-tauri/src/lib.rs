//! The Tauri shell: window, plugins and thin commands over the transfer engine.

use serde::Serialize;

/// What the page needs to start: the saved settings.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// The interface language: "en", "ko", or empty for the system's.
    pub language: String,
}

/// Loads the settings.
#[tauri::command]
fn load_settings() -> Settings {
    Settings::default()
}

/// Builds and runs the app until its last window closes.
///
/// # Panics
/// When the window system cannot start (no display), which leaves nothing to show an error in.
pub fn run() {
    tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|_app, _args, _cwd| {}))
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(tauri::generate_handler![load_settings])
        .run(tauri::generate_context!())
        .unwrap_or_else(|error| panic!("the app could not start: {error}"));
}
