//! Files dragged onto the real window with the X server's own drag and drop: a GTK drag source
//! (`support/drag_source.py`, as a file manager would offer files) and the pointer moved by
//! xdotool through the X test extension. The drop zone shows its hover state while files are over
//! the window and drops it when they leave; the dropped file and folder go through to Ready, byte
//! for byte.

mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use ddn_testkit::desktop::Desktop;
use ddn_testkit::display::{Display, first_line};
use serde_json::json;
use support::{Driver, LIMIT, assert_same, screenshot_dir};

/// Where the drag source's window is placed: beside the app's window, which is 760 pixels wide.
const SOURCE: (i32, i32) = (840, 40);

/// The drag source, stopped when dropped.
struct DragSource(Child);

impl DragSource {
    fn start(display: &Display, paths: &[&Path]) -> Result<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/drag_source.py");
        // Debian's Python, which has the GTK bindings (python3-gi), whatever else is on PATH.
        let mut child = display
            .command("/usr/bin/python3")
            .arg(script)
            .arg(SOURCE.0.to_string())
            .arg(SOURCE.1.to_string())
            .args(paths)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context(
                "could not start the drag source (Debian packages: python3-gi, gir1.2-gtk-3.0)",
            )?;
        let stdout = child.stdout.take().context("the drag source's output")?;
        let source = Self(child);
        match first_line(stdout, Duration::from_secs(20)) {
            Some(line) if line == "ready" => Ok(source),
            _ => bail!("the drag source's window did not appear"),
        }
    }
}

impl Drop for DragSource {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs xdotool on `display` (the pointer and buttons through the X test extension).
fn xdotool(display: &Display, args: &[&str]) -> Result<String> {
    let output = display
        .command("xdotool")
        .args(args)
        .output()
        .context("could not run xdotool (Debian package: xdotool)")?;
    ensure!(
        output.status.success(),
        "xdotool {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Moves the pointer to `(x, y)` in small steps, as a hand would, so each window on the way sees
/// it pass.
fn glide(display: &Display, from: (i32, i32), to: (i32, i32)) -> Result<()> {
    const STEPS: i32 = 12;
    for step in 1..=STEPS {
        let x = from.0 + (to.0 - from.0) * step / STEPS;
        let y = from.1 + (to.1 - from.1) * step / STEPS;
        xdotool(display, &["mousemove", &x.to_string(), &y.to_string()])?;
        std::thread::sleep(Duration::from_millis(30));
    }
    Ok(())
}

/// The centre of the drop zone on the screen: the app window's position plus the zone's place in
/// the page.
async fn drop_zone_on_screen(display: &Display, app: &support::Session) -> Result<(i32, i32)> {
    // The window is titled with the app's name and version.
    let title = format!(
        "^DDN Transfer {}$",
        env!("CARGO_PKG_VERSION").replace('.', "\\.")
    );
    let found = xdotool(display, &["search", "--name", &title])?;
    let window = found.lines().next().context("the app's window")?.to_owned();
    let geometry = xdotool(display, &["getwindowgeometry", "--shell", &window])?;
    let field = |name: &str| -> Result<i32> {
        geometry
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .and_then(|value| value.trim().parse().ok())
            .with_context(|| format!("{name} in {geometry}"))
    };
    let zone = app
        .eval(
            "(() => { const r = document.getElementById('drop-zone').getBoundingClientRect();
                return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)]; })()",
        )
        .await?;
    let offset = |i: usize| {
        zone[i]
            .as_i64()
            .map(|v| v as i32)
            .context("the zone's place")
    };
    Ok((field("X")? + offset(0)?, field("Y")? + offset(1)?))
}

/// Whether the drop zone shows its hover state.
const IS_HOVERING: &str = "document.getElementById('drop-zone').classList.contains('is-hovering')";

/// Waits until the drop zone's hover state is `on`.
async fn wait_hover(app: &support::Session, on: bool) -> Result<()> {
    app.wait_for(
        &format!("the hover state {}", if on { "on" } else { "off" }),
        &format!("return ({IS_HOVERING}) === {on}"),
        LIMIT,
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_dragged_onto_the_window_are_sent() -> Result<()> {
    let desktop = Desktop::with_processing_delay(Duration::from_millis(300)).await?;
    let display = &desktop.display;
    let inputs = desktop.path("inputs");
    let results = desktop.path("results");
    std::fs::create_dir_all(inputs.join("scans"))?;
    let letter = inputs.join("letter.txt");
    std::fs::write(&letter, "dragged, not chosen\n".repeat(500))?;
    std::fs::write(inputs.join("scans/page 1.txt"), b"first page")?;
    std::fs::write(inputs.join("scans/page 2.txt"), b"second page")?;

    let driver = Driver::start(&desktop, &desktop.app_env(&results)).await?;
    let app = driver.open().await?;
    let zone = drop_zone_on_screen(display, &app).await?;
    let _source = DragSource::start(display, &[&letter, &inputs.join("scans")])?;

    // Press on the source, move past the drag threshold, then glide over the drop zone.
    let start = (SOURCE.0 + 80, SOURCE.1 + 60);
    xdotool(
        display,
        &["mousemove", &start.0.to_string(), &start.1.to_string()],
    )?;
    xdotool(display, &["mousedown", "1"])?;
    glide(display, start, (start.0 - 40, start.1 + 20))?;
    glide(display, (start.0 - 40, start.1 + 20), zone)?;
    wait_hover(&app, true).await?;
    app.screenshot(&screenshot_dir().join("en-drag-hover.png"))
        .await?;
    // Leaving the window without dropping ends the hover state and sends nothing.
    let outside = (SOURCE.0 + 40, SOURCE.1 + 100);
    glide(display, zone, outside)?;
    wait_hover(&app, false).await?;
    let count = app
        .eval("document.getElementById('totals').dataset.count")
        .await?;
    ensure!(
        count == json!("0"),
        "nothing is sent before the drop: {count}"
    );
    glide(display, outside, zone)?;
    wait_hover(&app, true).await?;
    xdotool(display, &["mouseup", "1"])?;

    app.wait_for(
        "the dropped files, ready",
        "return document.getElementById('totals').dataset.ready === '3'",
        LIMIT,
    )
    .await?;
    ensure!(
        app.eval(IS_HOVERING).await? == json!(false),
        "the hover state ends with the drop"
    );
    assert_same(&results.join("letter.txt"), &letter)?;
    assert_same(
        &results.join("page 1.txt"),
        &inputs.join("scans/page 1.txt"),
    )?;
    assert_same(
        &results.join("page 2.txt"),
        &inputs.join("scans/page 2.txt"),
    )?;
    app.close().await?;
    desktop.stack.stop().await;
    Ok(())
}
