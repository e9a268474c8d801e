//! An empty Tauri window: a blank HTML page served through a custom scheme, as the app's own page
//! is, so WebKit starts the same processes; no plugins, no state. The window benchmark compares the
//! app's memory with this.

fn main() {
    let mut context = tauri::generate_context!();
    context.config_mut().app.windows.clear();
    tauri::Builder::default()
        .register_uri_scheme_protocol("empty", |_context, _request| {
            tauri::http::Response::builder()
                .header("content-type", "text/html")
                .body(
                    b"<!doctype html><html><head><title>Empty</title></head><body></body></html>"
                        .to_vec(),
                )
                .unwrap_or_default()
        })
        .setup(|app| {
            tauri::WebviewWindowBuilder::new(
                app,
                "main",
                tauri::WebviewUrl::CustomProtocol("empty://localhost/".parse()?),
            )
            .title("Empty")
            .inner_size(760.0, 640.0)
            .build()?;
            Ok(())
        })
        .run(context)
        .unwrap_or_else(|error| panic!("the empty window could not start: {error}"));
}
