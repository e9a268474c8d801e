//! An empty Tauri window (a blank page, no plugins, no state): the baseline the window benchmark
//! compares the app's memory with.

fn main() {
    let mut context = tauri::generate_context!();
    context.config_mut().app.windows.clear();
    tauri::Builder::default()
        .setup(|app| {
            tauri::WebviewWindowBuilder::new(
                app,
                "main",
                tauri::WebviewUrl::External("about:blank".parse()?),
            )
            .title("Empty")
            .inner_size(760.0, 640.0)
            .build()?;
            Ok(())
        })
        .run(context)
        .unwrap_or_else(|error| panic!("the empty window could not start: {error}"));
}
