//! Who is calling: bearer tokens checked against configured SHA-256 hashes.
//!
//! Tokens are never stored, only their hashes (`DDN_TOKENS=alice:HEX,bob:HEX`). The deploy scripts
//! check `DDN_TOKENS` by the same rule as [`TokenTable::parse`] (`check_token_entries` in
//! `lambda/deploy/lib/settings.sh`; both are tested against `lambda/tests/data/token_entries.json`), so a
//! value they deploy never stops a cold start. A presented token is
//! hashed and compared with every configured hash in constant time, without stopping at the first
//! match, so the answer's timing says nothing about which hash was close. One user may have several
//! tokens, which is how tokens are rotated: add the new one, hand it out, remove the old one.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use thiserror::Error;

/// The user id given to every caller when authentication is switched off (`DDN_AUTH=none`).
pub const ANONYMOUS_USER: &str = "anonymous";

/// A validated user id: 1 to 64 ASCII letters, digits, `-` or `_`. It becomes a key prefix
/// (`users/<id>/`), so nothing else is allowed in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    /// Checks and wraps a user id.
    ///
    /// # Errors
    /// [`ConfigError::BadUserId`] when the id is empty, longer than 64 bytes, or has a character
    /// outside `[A-Za-z0-9_-]`.
    pub fn new(id: &str) -> Result<Self, ConfigError> {
        let valid = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(ConfigError::BadUserId(id.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mistake in the authentication settings, found at start. Entries of `DDN_TOKENS` are named by
/// their 1-based number, never by their content (which holds a hash). The messages are the deploy
/// scripts' messages too.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// An entry of `DDN_TOKENS` has whitespace inside it (around it is allowed).
    #[error(
        "DDN_TOKENS entry {0} has whitespace inside it: write user:sha256hex entries separated by commas"
    )]
    Whitespace(usize),
    /// An entry of `DDN_TOKENS` has no `:`.
    #[error("DDN_TOKENS entry {0} is not of the form user:sha256hex")]
    BadEntry(usize),
    /// The user id of an entry of `DDN_TOKENS` cannot be a key prefix.
    #[error("DDN_TOKENS entry {0} has a user id that is not 1 to 64 of A-Z a-z 0-9 - _")]
    BadEntryUser(usize),
    /// A user id has characters that cannot be part of a key prefix.
    #[error("user id {0:?} must be 1 to 64 characters from A-Z, a-z, 0-9, '-' and '_'")]
    BadUserId(String),
    /// A hash is not 64 hexadecimal digits.
    #[error("DDN_TOKENS entry {0} has a hash that is not 64 hexadecimal digits (SHA-256)")]
    BadHash(usize),
    /// The same hash appears twice, so one token would belong to two users.
    #[error("DDN_TOKENS entry {entry} repeats the hash of entry {earlier}")]
    DuplicateHash {
        /// The entry that repeats the hash.
        entry: usize,
        /// The first entry with that hash.
        earlier: usize,
    },
    /// `DDN_TOKENS` has no entry while authentication is on.
    #[error(
        "no tokens configured: set DDN_TOKENS=user:sha256hex,... or DDN_AUTH=none for open access"
    )]
    NoTokens,
}

/// Why a request was refused. The message sent to the caller is the same for every variant, so a
/// caller cannot tell a malformed header from an unknown token.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("missing Authorization header")]
    Missing,
    /// The header is not `Bearer <token>`.
    #[error("Authorization header is not a bearer token")]
    Malformed,
    /// The token matches no configured hash.
    #[error("unknown token")]
    Unknown,
}

struct TokenEntry {
    user: UserId,
    hash: [u8; 32],
}

/// The configured token hashes.
pub struct TokenTable {
    entries: Vec<TokenEntry>,
}

impl fmt::Debug for TokenTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hashes are not secrets, but they are not useful in logs either.
        f.debug_struct("TokenTable")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl TokenTable {
    /// Parses `user:sha256hex,user:sha256hex,...`.
    ///
    /// Entries are separated by commas. Each is trimmed of the whitespace around it (ASCII space,
    /// tab, line feed, carriage return, vertical tab, form feed) and skipped when nothing is left,
    /// so a trailing comma is fine. What remains must be `user:hash` with no whitespace inside:
    /// the user id before the first `:` (see [`UserId::new`]), 64 hex digits of either case after
    /// it. Entries are numbered from 1 without the skipped ones.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the entry at fault, or [`ConfigError::NoTokens`] when there is none.
    pub fn parse(spec: &str) -> Result<Self, ConfigError> {
        let mut entries: Vec<TokenEntry> = Vec::new();
        for (index, entry) in spec
            .split(',')
            .map(|entry| entry.trim_matches(is_entry_whitespace))
            .filter(|entry| !entry.is_empty())
            .enumerate()
        {
            let number = index + 1;
            // Refused rather than removed: the deploy scripts once removed it, and an entry that
            // means something else to each side must not be deployable.
            if entry.contains(is_entry_whitespace) {
                return Err(ConfigError::Whitespace(number));
            }
            let (user, hex_hash) = entry.split_once(':').ok_or(ConfigError::BadEntry(number))?;
            let user = UserId::new(user).map_err(|_| ConfigError::BadEntryUser(number))?;
            let mut hash = [0u8; 32];
            hex::decode_to_slice(hex_hash, &mut hash).map_err(|_| ConfigError::BadHash(number))?;
            if let Some(earlier) = entries.iter().position(|e| e.hash == hash) {
                return Err(ConfigError::DuplicateHash {
                    entry: number,
                    earlier: earlier + 1,
                });
            }
            entries.push(TokenEntry { user, hash });
        }
        if entries.is_empty() {
            return Err(ConfigError::NoTokens);
        }
        Ok(Self { entries })
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no token is configured (never true for a parsed table).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The user a token belongs to, if any. Runs in time independent of which entry matches.
    pub fn user_for_token(&self, token: &str) -> Option<&UserId> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        let mut index = 0u32;
        for (i, entry) in self.entries.iter().enumerate() {
            let matches = entry.hash.ct_eq(&presented);
            // `i` fits: the table is built from one environment variable.
            index.conditional_assign(&(i as u32), matches);
            found |= matches;
        }
        bool::from(found).then(|| &self.entries[index as usize].user)
    }
}

/// The whitespace of the `DDN_TOKENS` rule: ASCII only, the six characters a shell's `[[:space:]]`
/// means in the C locale, so the deploy scripts can apply the same rule byte for byte.
fn is_entry_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// The SHA-256 of a token as lowercase hex: the form `DDN_TOKENS` stores.
pub fn token_hash_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// How callers are identified.
#[derive(Debug)]
pub enum Authenticator {
    /// Every request must carry a bearer token from the table.
    Tokens(TokenTable),
    /// No authentication: every caller is [`ANONYMOUS_USER`]. Only when configured explicitly.
    Open,
}

impl Authenticator {
    /// Identifies the caller from the value of the `Authorization` header.
    ///
    /// # Errors
    /// An [`AuthError`] when tokens are required and the header is absent, malformed or unknown.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<UserId, AuthError> {
        let table = match self {
            Self::Open => return Ok(UserId(ANONYMOUS_USER.to_owned())),
            Self::Tokens(table) => table,
        };
        let header = authorization.ok_or(AuthError::Missing)?.trim();
        let (scheme, token) = header.split_once(' ').ok_or(AuthError::Malformed)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(AuthError::Malformed);
        }
        table
            .user_for_token(token)
            .cloned()
            .ok_or(AuthError::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TokenTable {
        TokenTable::parse(&format!(
            "alice:{}, bob:{},alice:{},",
            token_hash_hex("alice-token"),
            token_hash_hex("bob-token").to_uppercase(),
            token_hash_hex("alice-new-token"),
        ))
        .unwrap()
    }

    #[test]
    fn each_token_maps_to_its_own_user() {
        let auth = Authenticator::Tokens(table());
        let cases = [
            ("Bearer alice-token", "alice"),
            ("Bearer bob-token", "bob"),
            ("bearer   alice-new-token ", "alice"),
        ];
        for (header, user) in cases {
            assert_eq!(auth.authenticate(Some(header)).unwrap().as_str(), user);
        }
    }

    #[test]
    fn refusals_name_their_reason() {
        let auth = Authenticator::Tokens(table());
        let cases = [
            (None, AuthError::Missing),
            (Some(""), AuthError::Malformed),
            (Some("alice-token"), AuthError::Malformed),
            (Some("Basic alice-token"), AuthError::Malformed),
            (Some("Bearer "), AuthError::Malformed),
            (Some("Bearer alice-token2"), AuthError::Unknown),
            (Some("Bearer ALICE-TOKEN"), AuthError::Unknown),
        ];
        for (header, expected) in cases {
            assert_eq!(auth.authenticate(header), Err(expected), "{header:?}");
        }
    }

    #[test]
    fn open_access_makes_everyone_anonymous() {
        let user = Authenticator::Open.authenticate(None).unwrap();
        assert_eq!(user.as_str(), ANONYMOUS_USER);
    }

    /// The cases the deploy scripts' check is tested with too (`test_token_rule.py`).
    const TOKEN_ENTRY_CASES: &str = include_str!("../tests/data/token_entries.json");

    /// What the cases file says of a refusal: the reason's name, the entry and the earlier entry.
    fn reason_of(error: &ConfigError) -> (&'static str, Option<usize>, Option<usize>) {
        match *error {
            ConfigError::NoTokens => ("none", None, None),
            ConfigError::Whitespace(entry) => ("whitespace", Some(entry), None),
            ConfigError::BadEntry(entry) => ("form", Some(entry), None),
            ConfigError::BadEntryUser(entry) => ("user", Some(entry), None),
            ConfigError::BadHash(entry) => ("hash", Some(entry), None),
            ConfigError::DuplicateHash { entry, earlier } => {
                ("duplicate", Some(entry), Some(earlier))
            }
            ConfigError::BadUserId(_) => ("a bare user id error", None, None),
        }
    }

    fn users_of(table: &TokenTable) -> Vec<&str> {
        table.entries.iter().map(|e| e.user.as_str()).collect()
    }

    #[test]
    fn token_settings_follow_the_rule_the_deploy_scripts_share() {
        let cases: serde_json::Value = serde_json::from_str(TOKEN_ENTRY_CASES).unwrap();
        let accepted = cases["accepted"].as_array().unwrap();
        for case in accepted {
            let (spec, about) = (case["spec"].as_str().unwrap(), &case["about"]);
            let table = TokenTable::parse(spec).unwrap_or_else(|e| panic!("{about}: {e}"));
            let users: Vec<&str> = case["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|user| user.as_str().unwrap())
                .collect();
            assert_eq!(users_of(&table), users, "{about}");
            // What the scripts deploy means the same to the function.
            let deployed = TokenTable::parse(case["deployed"].as_str().unwrap()).unwrap();
            assert_eq!(users_of(&deployed), users, "{about}: deployed");
        }
        let refused = cases["refused"].as_array().unwrap();
        for case in refused {
            let (spec, about) = (case["spec"].as_str().unwrap(), &case["about"]);
            let error = TokenTable::parse(spec)
                .err()
                .unwrap_or_else(|| panic!("{about}: accepted"));
            let (reason, entry, earlier) = reason_of(&error);
            assert_eq!(reason, case["reason"], "{about}");
            assert_eq!(entry, case["entry"].as_u64().map(|n| n as usize), "{about}");
            assert_eq!(
                earlier,
                case["earlier"].as_u64().map(|n| n as usize),
                "{about}"
            );
            let message = cases["messages"][reason]
                .as_str()
                .unwrap()
                .replace("{entry}", &entry.unwrap_or_default().to_string())
                .replace("{earlier}", &earlier.unwrap_or_default().to_string());
            assert_eq!(error.to_string(), message, "{about}");
        }
        assert!(
            accepted.len() >= 5 && refused.len() >= 20,
            "the cases file was read"
        );
    }

    #[test]
    fn user_ids_are_safe_as_key_prefixes() {
        for bad in ["", "a/b", "a b", "é", ".", "..", &"x".repeat(65)] {
            assert!(UserId::new(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "alice_01", "Team-7", &"x".repeat(64)] {
            assert!(UserId::new(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_table() {
        let text = format!("{:?}", table());
        assert!(!text.contains(&token_hash_hex("alice-token")));
        assert!(text.contains("entries: 3"));
    }
}
