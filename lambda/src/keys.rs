//! Object keys: built by the service from a validated name, never taken from the caller as is.
//!
//! A caller names a file (`scan 01.png`, `2026/11/photo.jpg`); the service checks the name and puts
//! it under the caller's prefix, `users/<id>/<name>`. Nobody can therefore reach another user's
//! objects, and no key can climb out of its prefix or confuse a file system it is later saved to.

use thiserror::Error;
use unicode_normalization::UnicodeNormalization;

use crate::auth::UserId;

/// S3's limit on a key, in UTF-8 bytes, prefix included.
pub const MAX_KEY_BYTES: usize = 1024;

/// The folder every user's objects live under, in both buckets.
pub const USERS_PREFIX: &str = "users/";

/// Why a name was refused. Each message tells a person what to change.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum KeyError {
    /// The name has no characters.
    #[error("the file name is empty")]
    Empty,
    /// The name with the user's prefix is over S3's limit.
    #[error("the file name is too long ({bytes} bytes with its folder; at most {max})")]
    TooLong {
        /// The length that was asked for.
        bytes: usize,
        /// The limit for this user.
        max: usize,
    },
    /// A control character (or an invisible direction override) is in the name.
    #[error("the file name contains a control or invisible formatting character (U+{0:04X})")]
    ControlCharacter(u32),
    /// The name starts with `/`.
    #[error("the file name must not start with '/'")]
    LeadingSlash,
    /// The name has a backslash, which some systems read as a folder separator.
    #[error("the file name must not contain a backslash ('\\')")]
    Backslash,
    /// A segment between slashes is `.`, `..` or empty.
    #[error("the file name must not contain '.', '..' or empty folder names between slashes")]
    DotOrEmptySegment,
}

/// Checks a caller's file name and returns it in Unicode NFC.
///
/// Names are normalized rather than refused when they are not NFC: macOS hands out decomposed (NFD)
/// file names, and the same Korean name must map to the same key from every platform.
///
/// # Errors
/// A [`KeyError`] saying which rule the name breaks.
pub fn normalize_name(name: &str) -> Result<String, KeyError> {
    let name: String = name.nfc().collect();
    if name.is_empty() {
        return Err(KeyError::Empty);
    }
    if let Some(c) = name.chars().find(|&c| is_forbidden_char(c)) {
        return Err(KeyError::ControlCharacter(u32::from(c)));
    }
    if name.starts_with('/') {
        return Err(KeyError::LeadingSlash);
    }
    if name.contains('\\') {
        return Err(KeyError::Backslash);
    }
    if name
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Err(KeyError::DotOrEmptySegment);
    }
    Ok(name)
}

/// The full object key for a user's file: `users/<id>/<normalized name>`.
///
/// # Errors
/// A [`KeyError`] when the name breaks a rule or the key would exceed [`MAX_KEY_BYTES`].
pub fn object_key(user: &UserId, name: &str) -> Result<String, KeyError> {
    let name = normalize_name(name)?;
    let prefix_len = user_prefix_len(user);
    let bytes = prefix_len + name.len();
    if bytes > MAX_KEY_BYTES {
        return Err(KeyError::TooLong {
            bytes,
            max: MAX_KEY_BYTES,
        });
    }
    let mut key = String::with_capacity(bytes);
    key.push_str(USERS_PREFIX);
    key.push_str(user.as_str());
    key.push('/');
    key.push_str(&name);
    Ok(key)
}

/// The prefix of a user's keys, `users/<id>/`.
pub fn user_prefix(user: &UserId) -> String {
    format!("{USERS_PREFIX}{user}/")
}

fn user_prefix_len(user: &UserId) -> usize {
    USERS_PREFIX.len() + user.as_str().len() + 1
}

/// Control characters, and the invisible characters that make a name display differently from what
/// it is (bidirectional overrides and isolates, zero-width characters, the byte-order mark).
fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserId {
        UserId::new("alice").unwrap()
    }

    /// One row per hostile or unusual name: what the key becomes, or which rule refuses it.
    #[test]
    fn hostile_names_table() {
        let refused = [
            ("", KeyError::Empty),
            ("..", KeyError::DotOrEmptySegment),
            (".", KeyError::DotOrEmptySegment),
            ("../bob/secret.png", KeyError::DotOrEmptySegment),
            ("a/../../bob/x", KeyError::DotOrEmptySegment),
            ("a/./b", KeyError::DotOrEmptySegment),
            ("a//b", KeyError::DotOrEmptySegment),
            ("folder/", KeyError::DotOrEmptySegment),
            ("/etc/passwd", KeyError::LeadingSlash),
            ("//server/share", KeyError::LeadingSlash),
            ("..\\..\\windows\\system32", KeyError::Backslash),
            ("C:\\Users\\x.png", KeyError::Backslash),
            ("line\nbreak.png", KeyError::ControlCharacter(0x0A)),
            ("nul\0.png", KeyError::ControlCharacter(0x00)),
            ("tab\t.png", KeyError::ControlCharacter(0x09)),
            ("del\u{7f}.png", KeyError::ControlCharacter(0x7F)),
            ("c1\u{85}.png", KeyError::ControlCharacter(0x85)),
            ("invoice\u{202E}gnp.exe", KeyError::ControlCharacter(0x202E)),
            ("zero\u{200B}width.png", KeyError::ControlCharacter(0x200B)),
            ("\u{FEFF}bom.png", KeyError::ControlCharacter(0xFEFF)),
        ];
        for (name, expected) in refused {
            assert_eq!(object_key(&alice(), name), Err(expected), "{name:?}");
        }

        let accepted = [
            ("scan 01.png", "users/alice/scan 01.png"),
            ("2026/11/photo.jpg", "users/alice/2026/11/photo.jpg"),
            ("...png", "users/alice/...png"),
            ("a..b", "users/alice/a..b"),
            (".hidden", "users/alice/.hidden"),
            ("사진.png", "users/alice/사진.png"),
            ("emoji 🎉.png", "users/alice/emoji 🎉.png"),
            ("100% sure?&=#+.png", "users/alice/100% sure?&=#+.png"),
        ];
        for (name, key) in accepted {
            assert_eq!(object_key(&alice(), name).as_deref(), Ok(key), "{name:?}");
        }
    }

    #[test]
    fn decomposed_names_become_nfc() {
        // "한" typed on macOS arrives as three conjoining jamo (NFD).
        let nfd = "\u{1112}\u{1161}\u{11AB}.png";
        let key = object_key(&alice(), nfd).unwrap();
        assert_eq!(key, "users/alice/한.png");
        let cafe_nfd = "cafe\u{301}.txt";
        assert_eq!(
            object_key(&alice(), cafe_nfd).unwrap(),
            "users/alice/café.txt"
        );
    }

    #[test]
    fn length_limit_counts_the_prefix_in_bytes() {
        let prefix = "users/alice/".len();
        let fits = "a".repeat(MAX_KEY_BYTES - prefix);
        assert_eq!(object_key(&alice(), &fits).unwrap().len(), MAX_KEY_BYTES);

        let over = "a".repeat(MAX_KEY_BYTES - prefix + 1);
        assert_eq!(
            object_key(&alice(), &over),
            Err(KeyError::TooLong {
                bytes: MAX_KEY_BYTES + 1,
                max: MAX_KEY_BYTES
            })
        );
        // 342 three-byte characters are 1026 bytes: under 1024 characters, over 1024 bytes.
        let korean = "가".repeat(342);
        assert!(matches!(
            object_key(&alice(), &korean),
            Err(KeyError::TooLong { .. })
        ));
    }

    #[test]
    fn users_never_share_a_prefix() {
        let bob = UserId::new("bob").unwrap();
        let key = object_key(&bob, "x.png").unwrap();
        assert!(key.starts_with(&user_prefix(&bob)));
        assert!(!key.starts_with(&user_prefix(&alice())));
    }
}
