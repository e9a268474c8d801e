//! `cargo xtask icons`: every icon the bundlers use, made from the one drawn logo,
//! `icons/source.svg`, by the Tauri CLI's icon maker (the pinned CLI reads SVG directly, so no
//! PNG master is kept). A new logo is a new `source.svg` and this one command.
//!
//! The icon maker also makes iOS, Android and Windows Store images, which this app does not ship:
//! it writes into a scratch folder under `target/`, and only the desktop files listed in
//! [`GENERATED`] are copied into `icons/`. Its default set has no 16, 48 or plain 256 px PNG,
//! sizes Linux menus, launchers and app grids look up in the hicolor theme, so a second run makes
//! those ([`EXTRA_PNG_SIZES`]). Its `128x128@2x.png` is left out: the Linux bundlers install it in
//! `hicolor/256x256@2`, a folder that promises 512 px images, and `256x256.png` is that size.
//!
//! The PNGs stay 8-bit RGBA as the icon maker writes them: `tauri-codegen` refuses any other
//! colour type for the window icon, and lossless recompression keeping RGBA (`optipng -nc -nb
//! -np -o7`) saves only 17% (17.5 KB down to 14.5 KB for all the PNGs), not worth another tool.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::{npm_tools, step, target_dir};

/// The drawn logo, in `icons/`.
const SOURCE: &str = "source.svg";

/// PNG sizes made beyond the icon maker's default set, named `<size>x<size>.png`.
const EXTRA_PNG_SIZES: &[u32] = &[16, 48, 256];

/// The files kept in `icons/`, as the icon maker names them: the hicolor PNGs the Linux bundlers
/// install (and `tauri-codegen` takes the window icon from), `icon.ico` for the Windows
/// executable and installers, and `icon.icns` for the macOS app.
const GENERATED: &[&str] = &[
    "16x16.png",
    "32x32.png",
    "48x48.png",
    "64x64.png",
    "128x128.png",
    "256x256.png",
    "icon.png",
    "icon.ico",
    "icon.icns",
];

/// Makes the icon set from `icons/source.svg` and replaces the generated files in `icons/`.
///
/// Fails when the Tauri CLI cannot be installed or run, or when it did not make one of the files
/// in [`GENERATED`] (a newer CLI naming them differently), before anything in `icons/` changes.
pub fn run(root: &Path) -> Result<()> {
    let icons = root.join("icons");
    let source = icons.join(SOURCE);
    let scratch = target_dir(root).join("icon-maker");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("clearing {}", scratch.display()))?;
    }

    let mut default_set = npm_tools::tauri(root)?;
    default_set
        .arg("icon")
        .arg(&source)
        .arg("--output")
        .arg(&scratch);
    step(root, "make the icons from icons/source.svg", default_set)?;

    let mut extra_sizes = npm_tools::tauri(root)?;
    extra_sizes
        .arg("icon")
        .arg(&source)
        .arg("--output")
        .arg(&scratch);
    for size in EXTRA_PNG_SIZES {
        extra_sizes.arg("--png").arg(size.to_string());
    }
    step(root, "make the extra hicolor sizes", extra_sizes)?;

    if let Some(missing) = GENERATED.iter().find(|name| !scratch.join(name).is_file()) {
        bail!(
            "the icon maker made no {missing} (in {}): update GENERATED in xtask/src/icons.rs",
            scratch.display()
        );
    }
    let mut total = 0;
    for name in GENERATED {
        let from = scratch.join(name);
        let mut bytes =
            std::fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
        if name.ends_with(".icns") {
            bytes = icns_in_type_order(&bytes).with_context(|| format!("reading {name}"))?;
        }
        let to = icons.join(name);
        std::fs::write(&to, &bytes).with_context(|| format!("writing {}", to.display()))?;
        total += bytes.len();
    }
    println!(
        "    {} files in {} ({:.1} KB)",
        GENERATED.len(),
        icons.display(),
        total as f64 / 1000.0
    );
    Ok(())
}

/// The entries of an ICNS file: each image's four-letter type and its bytes (header excluded).
///
/// Fails when the file is not ICNS, its declared length is not its length, or its entries do not
/// fill it exactly.
fn icns_entries(bytes: &[u8]) -> Result<Vec<([u8; 4], &[u8])>> {
    let header = |at: usize| -> Option<([u8; 4], usize)> {
        let kind = bytes.get(at..at + 4)?.try_into().ok()?;
        let length = u32::from_be_bytes(bytes.get(at + 4..at + 8)?.try_into().ok()?);
        Some((kind, usize::try_from(length).ok()?))
    };
    match header(0) {
        Some((kind, length)) if &kind == b"icns" && length == bytes.len() => {}
        _ => bail!("not an ICNS file of {} bytes", bytes.len()),
    }
    let mut entries = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        let Some((kind, length)) = header(at).filter(|&(_, length)| length >= 8) else {
            bail!("a broken ICNS entry at byte {at}");
        };
        let Some(data) = bytes.get(at + 8..at + length) else {
            bail!("an ICNS entry past the end at byte {at}");
        };
        entries.push((kind, data));
        at += length;
    }
    Ok(entries)
}

/// The same ICNS file with its entries sorted by type. The icon maker writes them in a different
/// order on every run, so without this a logo made again from the same drawing would still show
/// as a changed `icon.icns`; macOS reads the entries in any order.
fn icns_in_type_order(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut entries = icns_entries(bytes)?;
    entries.sort_by_key(|&(kind, _)| kind);
    let mut sorted = Vec::with_capacity(bytes.len());
    sorted.extend_from_slice(b"icns");
    sorted.extend_from_slice(&u32::try_from(bytes.len())?.to_be_bytes());
    for (kind, data) in entries {
        sorted.extend_from_slice(&kind);
        sorted.extend_from_slice(&u32::try_from(data.len() + 8)?.to_be_bytes());
        sorted.extend_from_slice(data);
    }
    Ok(sorted)
}

#[cfg(test)]
mod tests {
    //! The committed icon set and menu entry, checked as the bundlers and the desktop will read
    //! them: a missing, misnamed or mis-sized file fails here rather than in a release build on
    //! another platform.

    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::{GENERATED, icns_entries, icns_in_type_order};

    /// The desktop app's binary, which the bundler names the installed icons and command after
    /// and GTK gives its windows as their class.
    const BINARY: &str = "ddn-transfer";

    /// The menu entry's template, relative to `src-tauri/` as tauri.conf.json names it.
    const DESKTOP_TEMPLATE: &str = "linux/ddn-transfer.desktop";

    /// The Handlebars variables the deb and rpm bundlers fill in a desktop template.
    const TEMPLATE_VARIABLES: &[&str] = &[
        "categories",
        "comment",
        "exec",
        "icon",
        "name",
        "mime_type",
        "long_description",
    ];

    /// The keys the menu entry must carry, in the template as rendered.
    const DESKTOP_KEYS: &[&str] = &[
        "Type",
        "Name",
        "Name[ko]",
        "Comment",
        "Comment[ko]",
        "Categories",
        "Exec",
        "Icon",
        "Terminal",
        "StartupWMClass",
    ];

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask sits in the workspace")
            .to_path_buf()
    }

    fn config() -> serde_json::Value {
        let path = root().join("src-tauri").join("tauri.conf.json");
        let text = std::fs::read_to_string(&path).expect("src-tauri/tauri.conf.json is readable");
        serde_json::from_str(&text).expect("tauri.conf.json is JSON")
    }

    /// The paths in `bundle.icon`, as written (relative to `src-tauri/`).
    fn bundle_icons() -> Vec<String> {
        config()["bundle"]["icon"]
            .as_array()
            .expect("bundle.icon is a list")
            .iter()
            .map(|path| path.as_str().expect("bundle.icon holds paths").to_owned())
            .collect()
    }

    fn read(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }

    /// The side in pixels a PNG's name promises: `32x32.png` is 32, `128x128@2x.png` (the
    /// high-density 128) is 256, and `icon.png`, the largest hicolor size, is 512.
    fn promised_side(name: &str) -> u32 {
        if name == "icon.png" {
            return 512;
        }
        let stem = name.strip_suffix(".png").expect("a PNG name");
        let (dimensions, scale) = match stem.strip_suffix("@2x") {
            Some(dimensions) => (dimensions, 2),
            None => (stem, 1),
        };
        let (width, height) = dimensions
            .split_once('x')
            .unwrap_or_else(|| panic!("{name} is not named <width>x<height>.png"));
        assert_eq!(width, height, "{name}: icons are square");
        width.parse::<u32>().expect("a number of pixels") * scale
    }

    /// A PNG's width, height, bit depth and colour type, read from its IHDR chunk, which the
    /// format puts first, right after the 8-byte signature.
    fn png_header(bytes: &[u8]) -> (u32, u32, u8, u8) {
        assert!(bytes.len() > 33, "too short for a PNG");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(&bytes[12..16], b"IHDR", "the first chunk is IHDR");
        let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        (word(16), word(20), bytes[24], bytes[25])
    }

    #[test]
    fn the_side_a_png_name_promises() {
        for (name, side) in [
            ("16x16.png", 16),
            ("32x32.png", 32),
            ("128x128.png", 128),
            ("128x128@2x.png", 256),
            ("icon.png", 512),
        ] {
            assert_eq!(promised_side(name), side, "{name}");
        }
    }

    #[test]
    fn every_generated_icon_is_committed_and_listed_in_bundle_icon() {
        let listed = bundle_icons();
        for name in GENERATED {
            let path = root().join("icons").join(name);
            assert!(
                path.is_file(),
                "icons/{name} is missing: run cargo xtask icons"
            );
            assert!(
                listed.contains(&format!("../icons/{name}")),
                "bundle.icon in tauri.conf.json does not list ../icons/{name}"
            );
        }
    }

    #[test]
    fn every_path_in_bundle_icon_exists() {
        let app = root().join("src-tauri");
        for listed in bundle_icons() {
            assert!(
                app.join(&listed).is_file(),
                "bundle.icon lists {listed}, which does not exist"
            );
        }
    }

    #[test]
    fn every_png_has_the_size_its_name_says_in_rgba() {
        for name in GENERATED.iter().filter(|name| name.ends_with(".png")) {
            let (width, height, bit_depth, colour_type) =
                png_header(&read(&root().join("icons").join(name)));
            let side = promised_side(name);
            assert_eq!((width, height), (side, side), "{name}");
            // tauri-codegen embeds the window icon only from 8-bit RGBA (colour type 6).
            assert_eq!((bit_depth, colour_type), (8, 6), "{name} is not 8-bit RGBA");
        }
    }

    #[test]
    fn the_window_icon_is_sharp() {
        // On Linux the window icon is the first PNG in bundle.icon; a small one is blurred when
        // task switchers scale it up.
        let first_png = bundle_icons()
            .into_iter()
            .find(|path| path.ends_with(".png"))
            .expect("bundle.icon lists a PNG");
        let (width, _, _, _) = png_header(&read(&root().join("src-tauri").join(&first_png)));
        assert!(
            width >= 128,
            "the window icon {first_png} is {width} px: list a PNG of 128 px or more first"
        );
    }

    #[test]
    fn icon_ico_holds_the_windows_sizes() {
        let bytes = read(&root().join("icons").join("icon.ico"));
        assert_eq!(
            &bytes[..4],
            b"\x00\x00\x01\x00",
            "ICO signature (type 1, icon)"
        );
        let count = usize::from(u16::from_le_bytes([bytes[4], bytes[5]]));
        let mut sides = Vec::new();
        for entry in bytes[6..6 + 16 * count].chunks_exact(16) {
            // A width byte of 0 means 256 px.
            let side = if entry[0] == 0 {
                256
            } else {
                u32::from(entry[0])
            };
            let size = u32::from_le_bytes(entry[8..12].try_into().expect("4 bytes")) as usize;
            let offset = u32::from_le_bytes(entry[12..16].try_into().expect("4 bytes")) as usize;
            assert!(
                offset + size <= bytes.len(),
                "a {side} px image past the end"
            );
            sides.push(side);
        }
        for side in [16, 32, 48, 256] {
            assert!(sides.contains(&side), "icon.ico has no {side} px image");
        }
    }

    #[test]
    fn icon_icns_is_a_whole_icns_file_in_type_order_with_the_retina_size() {
        let bytes = read(&root().join("icons").join("icon.icns"));
        let kinds: Vec<[u8; 4]> = icns_entries(&bytes)
            .expect("icon.icns is a whole ICNS file")
            .into_iter()
            .map(|(kind, _)| kind)
            .collect();
        assert!(
            kinds.is_sorted(),
            "icon.icns was not written by cargo xtask icons"
        );
        // ic10 is the 1024 px image macOS shows for 512 pt on Retina screens.
        assert!(kinds.contains(b"ic10"), "icon.icns has no 1024 px image");
    }

    #[test]
    fn icns_in_type_order_keeps_every_image_and_only_reorders() {
        let entry = |kind: &[u8; 4], data: &[u8]| {
            let mut bytes = kind.to_vec();
            bytes.extend_from_slice(&u32::try_from(data.len() + 8).unwrap().to_be_bytes());
            bytes.extend_from_slice(data);
            bytes
        };
        let file = |entries: &[Vec<u8>]| {
            let body = entries.concat();
            let mut bytes = b"icns".to_vec();
            bytes.extend_from_slice(&u32::try_from(body.len() + 8).unwrap().to_be_bytes());
            bytes.extend_from_slice(&body);
            bytes
        };
        let ic10 = entry(b"ic10", b"large");
        let ic07 = entry(b"ic07", b"medium image");
        let is32 = entry(b"is32", b"");
        let shuffled = file(&[is32.clone(), ic10.clone(), ic07.clone()]);
        let sorted = file(&[ic07, ic10, is32]);
        assert_eq!(icns_in_type_order(&shuffled).unwrap(), sorted);
        assert_eq!(icns_in_type_order(&sorted).unwrap(), sorted);

        // A cut file, a wrong declared length and a file of another kind are refused.
        assert!(icns_in_type_order(&sorted[..sorted.len() - 1]).is_err());
        let mut long = sorted.clone();
        long.push(0);
        assert!(icns_in_type_order(&long).is_err());
        assert!(icns_in_type_order(b"\x89PNG\r\n\x1a\n").is_err());
    }

    #[test]
    fn the_deb_and_rpm_packages_use_the_desktop_template() {
        let linux = &config()["bundle"]["linux"];
        for format in ["deb", "rpm"] {
            assert_eq!(
                linux[format]["desktopTemplate"].as_str(),
                Some(DESKTOP_TEMPLATE),
                "bundle.linux.{format}.desktopTemplate in tauri.conf.json"
            );
        }
    }

    /// `src-tauri/linux/ddn-transfer.desktop` as the bundler renders it from tauri.conf.json, as
    /// key-value pairs of its `[Desktop Entry]` group.
    fn rendered_desktop_entry() -> BTreeMap<String, String> {
        let path = root().join("src-tauri").join(DESKTOP_TEMPLATE);
        let template =
            String::from_utf8(read(&path)).expect("the desktop template is UTF-8 (the spec says)");
        let config = config();
        let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
        let values = BTreeMap::from([
            ("name", text(&config["productName"])),
            ("comment", text(&config["bundle"]["shortDescription"])),
            ("exec", BINARY.to_owned()),
            ("icon", BINARY.to_owned()),
        ]);

        let mut rendered = String::new();
        let mut rest = template.as_str();
        while let Some(start) = rest.find("{{") {
            let end = rest[start..].find("}}").expect("a closed {{") + start;
            let variable = rest[start + 2..end].trim();
            assert!(
                TEMPLATE_VARIABLES.contains(&variable),
                "{{{{{variable}}}}} is not a variable the bundler fills"
            );
            rendered.push_str(&rest[..start]);
            rendered.push_str(values.get(variable).map_or("", String::as_str));
            rest = &rest[end + 2..];
        }
        rendered.push_str(rest);

        let mut lines = rendered
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'));
        assert_eq!(lines.next(), Some("[Desktop Entry]"), "the first group");
        lines
            .take_while(|line| !line.starts_with('['))
            .map(|line| {
                let (key, value) = line.split_once('=').expect("a key=value line");
                (key.trim().to_owned(), value.trim().to_owned())
            })
            .collect()
    }

    #[test]
    fn the_desktop_entry_has_every_key_the_menu_needs() {
        let entry = rendered_desktop_entry();
        for key in DESKTOP_KEYS {
            let value = entry.get(*key).map_or("", String::as_str);
            assert!(!value.is_empty(), "the desktop entry has no {key}");
        }
        assert_eq!(entry["Type"], "Application");
        assert_eq!(entry["Terminal"], "false");
        assert_eq!(entry["Exec"], BINARY);
        assert_eq!(
            entry["Icon"], BINARY,
            "the name the bundler installs the icons under"
        );
        assert_eq!(
            entry["StartupWMClass"], BINARY,
            "the class GTK gives the windows"
        );
        assert!(entry["Categories"].ends_with(';'), "a list ends with ';'");
    }

    #[test]
    fn the_desktop_entry_speaks_korean() {
        let entry = rendered_desktop_entry();
        for key in ["Name[ko]", "GenericName[ko]", "Comment[ko]", "Keywords[ko]"] {
            let value = entry.get(key).map_or("", String::as_str);
            assert!(
                value.chars().any(|c| ('가'..='힣').contains(&c)),
                "{key} is not in Korean: {value:?}"
            );
        }
        assert_ne!(entry["Comment[ko]"], entry["Comment"]);
    }
}
