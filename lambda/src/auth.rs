//! Who is calling: bearer tokens checked against configured SHA-256 hashes.
//!
//! Tokens are never stored, only their hashes (`DDN_TOKENS=alice:HEX,bob:HEX`). A presented token is
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

/// A mistake in the authentication settings, found at start.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// An entry of `DDN_TOKENS` is not `user:hex`.
    #[error("DDN_TOKENS entry {0} is not of the form user:sha256hex")]
    BadEntry(usize),
    /// A user id has characters that cannot be part of a key prefix.
    #[error("user id {0:?} must be 1 to 64 characters from A-Z, a-z, 0-9, '-' and '_'")]
    BadUserId(String),
    /// A hash is not 64 hexadecimal digits.
    #[error("DDN_TOKENS entry {0} has a hash that is not 64 hexadecimal digits (SHA-256)")]
    BadHash(usize),
    /// The same hash appears twice, so one token would belong to two users.
    #[error("DDN_TOKENS entry {0} repeats the hash of an earlier entry")]
    DuplicateHash(usize),
    /// `DDN_TOKENS` is empty while authentication is on.
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
    /// Parses `user:sha256hex,user:sha256hex,...`. Spaces around entries and a trailing comma are
    /// tolerated; hex digits may be upper or lower case.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the 1-based entry at fault.
    pub fn parse(spec: &str) -> Result<Self, ConfigError> {
        let mut entries: Vec<TokenEntry> = Vec::new();
        for (index, entry) in spec
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let number = index + 1;
            let (user, hex_hash) = entry.split_once(':').ok_or(ConfigError::BadEntry(number))?;
            let user = UserId::new(user.trim())?;
            let mut hash = [0u8; 32];
            hex::decode_to_slice(hex_hash.trim(), &mut hash)
                .map_err(|_| ConfigError::BadHash(number))?;
            if entries.iter().any(|e| e.hash == hash) {
                return Err(ConfigError::DuplicateHash(number));
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

    #[test]
    fn bad_token_settings_are_refused_with_the_entry_number() {
        let good = token_hash_hex("x");
        let cases = [
            (String::new(), ConfigError::NoTokens),
            (" , ".to_owned(), ConfigError::NoTokens),
            ("alice".to_owned(), ConfigError::BadEntry(1)),
            (format!("a:{good},b:abc"), ConfigError::BadHash(2)),
            (
                format!("../x:{good}"),
                ConfigError::BadUserId("../x".into()),
            ),
            (format!(":{good}"), ConfigError::BadUserId(String::new())),
            (format!("a:{good},b:{good}"), ConfigError::DuplicateHash(2)),
        ];
        for (spec, expected) in cases {
            assert_eq!(TokenTable::parse(&spec).unwrap_err(), expected, "{spec}");
        }
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
