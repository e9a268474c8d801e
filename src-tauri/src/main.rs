//! The desktop app's entry point; everything is in the library so tests can reach it.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    #[cfg(target_os = "linux")]
    if ddn_desktop::rendering::wants_cpu_rendering(
        |name| std::env::var_os(name).map(|value| value.to_string_lossy().into_owned()),
        std::path::Path::new("/dev/dri"),
    ) {
        // The one place the app changes its own environment, for WebKit's processes to inherit.
        #[allow(unsafe_code)]
        // SAFETY: nothing else runs yet (no thread has been started), so no one reads the
        // environment while it changes.
        unsafe {
            std::env::set_var(ddn_desktop::rendering::CPU_RENDERING, "1");
        }
    }
    ddn_desktop::run();
}
