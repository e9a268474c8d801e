//! How WebKit draws the window on Linux.
//!
//! Without a GPU, WebKitGTK's GPU path still runs, on Mesa's software rasterizer (llvmpipe): every
//! frame is composited by an emulated GPU, which costs far more memory and CPU than WebKit's own
//! CPU renderer (measured in BENCHMARKS.md: about 60 MiB more for this page, before any rows).
//! So when the machine has no GPU render node, the app asks WebKit for CPU rendering. With a GPU,
//! and whenever the user has chosen a WebKit rendering mode themselves, nothing changes.

use std::path::Path;

/// The variable that makes WebKit draw with its CPU renderer (read when its processes start).
pub const CPU_RENDERING: &str = "WEBKIT_SKIA_ENABLE_CPU_RENDERING";

/// Variables by which a user picks WebKit's or Mesa's rendering mode; when any is set, the app
/// leaves the choice to them.
const USER_CHOICES: [&str; 4] = [
    CPU_RENDERING,
    "WEBKIT_DISABLE_COMPOSITING_MODE",
    "WEBKIT_DISABLE_DMABUF_RENDERER",
    "LIBGL_ALWAYS_SOFTWARE",
];

/// Whether to ask WebKit for CPU rendering: no rendering choice in the environment (looked up
/// with `var`) and no GPU render node (`renderD*`) in `dri`, normally `/dev/dri`.
pub fn wants_cpu_rendering(var: impl Fn(&str) -> Option<String>, dri: &Path) -> bool {
    if USER_CHOICES.iter().any(|name| var(name).is_some()) {
        return false;
    }
    !has_render_node(dri)
}

fn has_render_node(dri: &Path) -> bool {
    std::fs::read_dir(dri).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| entry.file_name().to_string_lossy().starts_with("renderD"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_vars(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn cpu_rendering_only_without_a_render_node() {
        let dri = tempfile::tempdir().unwrap();
        assert!(wants_cpu_rendering(no_vars, &dri.path().join("missing")));
        assert!(wants_cpu_rendering(no_vars, dri.path()));
        std::fs::write(dri.path().join("card0"), b"").unwrap();
        assert!(
            wants_cpu_rendering(no_vars, dri.path()),
            "a display card without a render node is no GPU to render with"
        );
        std::fs::write(dri.path().join("renderD128"), b"").unwrap();
        assert!(!wants_cpu_rendering(no_vars, dri.path()));
    }

    #[test]
    fn a_rendering_mode_the_user_chose_is_left_alone() {
        let dri = tempfile::tempdir().unwrap();
        for chosen in USER_CHOICES {
            let var = |name: &str| (name == chosen).then(|| "0".to_owned());
            assert!(!wants_cpu_rendering(var, dri.path()), "{chosen}");
        }
    }
}
