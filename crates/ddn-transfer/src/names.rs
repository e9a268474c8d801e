//! Local file names for downloaded results: taken from the key's last segment, cleaned so that every
//! platform accepts them, and proven to stay inside the target folder.

use std::path::{Component, Path, PathBuf};

/// The longest name most file systems accept, in bytes.
const MAX_NAME_BYTES: usize = 255;

/// Room kept for ` (NNN)` and `.part` when a name is made unique or written partially.
const RESERVED_BYTES: usize = 16;

/// The name used when nothing usable is left of a key.
const FALLBACK_NAME: &str = "download";

/// Windows device names, refused whatever their extension (`CON.txt` too), in any case.
const RESERVED_WINDOWS_DEVICES: [&str; 4] = ["CON", "PRN", "AUX", "NUL"];

/// Windows port names: `COM` or `LPT` and one digit, refused like the devices. Windows counts
/// `0` and the superscript digits `¹`, `²` and `³` (the ones in its Latin-1 code page) as digits
/// here, so `COM0` and `LPT²` are ports too.
const RESERVED_WINDOWS_PORTS: [&str; 2] = ["COM", "LPT"];

/// Whether Windows reserves `stem` (a name before its first dot, trailing spaces removed).
fn is_reserved_windows_name(stem: &str) -> bool {
    if RESERVED_WINDOWS_DEVICES
        .iter()
        .any(|device| stem.eq_ignore_ascii_case(device))
    {
        return true;
    }
    // Three ASCII letters, so byte 3 is a character boundary whenever the prefix matches.
    let (Some(prefix), Some(number)) = (stem.get(..3), stem.get(3..)) else {
        return false;
    };
    let mut digits = number.chars();
    let one_digit = matches!(
        (digits.next(), digits.next()),
        (Some('0'..='9' | '¹' | '²' | '³'), None)
    );
    one_digit
        && RESERVED_WINDOWS_PORTS
            .iter()
            .any(|port| prefix.eq_ignore_ascii_case(port))
}

/// A file name for the object `key`: its last segment, with every character that some platform
/// refuses or reads as a path replaced by `_`, no leading or trailing dots and spaces, no reserved
/// Windows device name, at most 239 bytes. Never empty, never `.` or `..`, never a path.
pub fn local_file_name(key: &str) -> String {
    let last = key
        .rsplit(['/', '\\'])
        .find(|segment| !segment.is_empty())
        .unwrap_or_default();
    let mut name: String = last
        .chars()
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    name = name.trim_matches(|c| c == '.' || c == ' ').to_owned();
    if name.is_empty() {
        return FALLBACK_NAME.to_owned();
    }
    let stem = name.split('.').next().unwrap_or_default().trim_end();
    if is_reserved_windows_name(stem) {
        name.insert(0, '_');
    }
    truncate_keeping_extension(&name, MAX_NAME_BYTES - RESERVED_BYTES)
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let (stem, extension) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= 16 => name.split_at(dot),
        _ => (name, ""),
    };
    let mut cut = max - extension.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{extension}", &stem[..cut])
}

/// `name`, then `name (1).ext`, `name (2).ext`, ...: the candidates for a file that must not
/// overwrite an existing one.
pub fn numbered_candidates(name: &str) -> impl Iterator<Item = String> + '_ {
    let (stem, extension) = match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    };
    std::iter::once(name.to_owned()).chain((1..).map(move |n| format!("{stem} ({n}){extension}")))
}

/// `dir` joined with `name`, checked to be a direct child of `dir`.
///
/// # Errors
/// `None` when `name` is anything but one normal path component.
pub fn child_path(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut components = Path::new(name).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(part)), None) if part == name => Some(dir.join(part)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each hostile or awkward key and the name it becomes.
    #[test]
    fn hostile_keys_become_plain_names() {
        let cases = [
            ("users/alice/scan 01.png", "scan 01.png"),
            ("users/alice/2026/11/사진.png", "사진.png"),
            ("users/alice/../../etc/passwd", "passwd"),
            ("users/alice/..", "download"),
            ("users/alice/.", "download"),
            ("/", "download"),
            ("", "download"),
            ("users/alice/folder/", "folder"),
            ("..\\..\\windows\\win.ini", "win.ini"),
            ("C:\\Users\\x\\report.pdf", "report.pdf"),
            ("users/a/C:evil.txt", "C_evil.txt"),
            ("users/a/what?*<>|\".png", "what______.png"),
            ("users/a/line\nbreak\t.png", "line_break_.png"),
            ("users/a/CON", "_CON"),
            ("users/a/con.txt", "_con.txt"),
            ("users/a/Lpt9.tar.gz", "_Lpt9.tar.gz"),
            ("users/a/CONSOLE.txt", "CONSOLE.txt"),
            ("users/a/nul .txt", "_nul .txt"),
            ("users/a/trailing dot. ", "trailing dot"),
            ("users/a/ .hidden", "hidden"),
            ("users/a/...", "download"),
        ];
        for (key, expected) in cases {
            let name = local_file_name(key);
            assert_eq!(name, expected, "{key:?}");
            let dir = Path::new("/results");
            let path = child_path(dir, &name).unwrap_or_else(|| panic!("{name:?} escapes"));
            assert_eq!(path.parent(), Some(dir));
        }
    }

    /// Every name Windows reserves, in any case and with any extension, gets a leading `_`; names
    /// that only look like them are kept.
    #[test]
    fn every_reserved_windows_name_is_avoided() {
        let mut reserved: Vec<String> = ["CON", "PRN", "AUX", "NUL"].map(String::from).to_vec();
        for port in ["COM", "LPT"] {
            for digit in [
                '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '¹', '²', '³',
            ] {
                reserved.push(format!("{port}{digit}"));
            }
        }
        assert_eq!(reserved.len(), 30);
        for stem in &reserved {
            for name in [
                stem.clone(),
                stem.to_lowercase(),
                format!("{stem}.txt"),
                format!("{}.tar.gz", stem.to_lowercase()),
            ] {
                assert_eq!(
                    local_file_name(&format!("users/a/{name}")),
                    format!("_{name}"),
                    "{name:?}"
                );
            }
        }
        let ordinary = [
            "COM",
            "LPT",
            "COM10",
            "LPT00",
            "COM⁴",
            "LPT⁰",
            "COM₁",
            "COM１",
            "COMA",
            "CO1",
            "COM1x",
            "xCOM1",
            "NULL",
            "AUX1",
            "사진",
            "가나다라",
        ];
        for name in ordinary {
            assert_eq!(
                local_file_name(&format!("users/a/{name}.png")),
                format!("{name}.png")
            );
        }
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary_keeping_the_extension() {
        let key = format!("users/a/{}.png", "가".repeat(200));
        let name = local_file_name(&key);
        assert!(name.len() <= 239, "{}", name.len());
        assert!(name.ends_with(".png"));
        assert!(name.starts_with('가'));
        let plain = local_file_name(&"x".repeat(400));
        assert_eq!(plain.len(), 239);
    }

    #[test]
    fn candidates_number_before_the_extension() {
        let names: Vec<String> = numbered_candidates("scan.tar.gz").take(3).collect();
        assert_eq!(names, ["scan.tar.gz", "scan.tar (1).gz", "scan.tar (2).gz"]);
        let names: Vec<String> = numbered_candidates("README").take(2).collect();
        assert_eq!(names, ["README", "README (1)"]);
        let names: Vec<String> = numbered_candidates(".env").take(2).collect();
        assert_eq!(names, [".env", ".env (1)"]);
    }

    #[test]
    fn only_single_plain_components_are_children() {
        let dir = Path::new("/results");
        for bad in ["", ".", "..", "a/b", "/etc", "../x"] {
            assert_eq!(child_path(dir, bad), None, "{bad:?}");
        }
        assert_eq!(
            child_path(dir, "a.png"),
            Some(PathBuf::from("/results/a.png"))
        );
    }
}
