//! The bearer token `memd mcp --http` requires: read once at start from
//! `--token-file` or `$MEMD_MCP_TOKEN`, checked for shape and, for a file,
//! for who can read it; compared in constant time on every request so a
//! client cannot learn it a byte at a time from response times.

use std::fmt;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq;

/// The variable the token is read from when no `--token-file` is given.
pub const TOKEN_ENV: &str = "MEMD_MCP_TOKEN";

/// Shorter tokens can be guessed; 16 bytes of hex is 64 bits.
const MIN_LEN: usize = 16;

/// A token that passed [`Token::parse`]. Debug never shows it.
#[derive(Clone)]
pub struct Token(Box<[u8]>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "--http needs a bearer token: pass --token-file PATH (a file only you can read) or \
         set {TOKEN_ENV}; generate one with `openssl rand -hex 32`"
    )]
    Missing,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("token file {0} is not a regular file")]
    NotAFile(PathBuf),
    #[error("token file {path} belongs to uid {owner}, not to this process's uid {me}")]
    Foreign { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "token file {path} can be read by other users (mode {mode:04o}); \
         fix it with `chmod 600 {path}`"
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error(
        "the token from {from} is {len} bytes; use at least {MIN_LEN} (`openssl rand -hex 32`)"
    )]
    TooShort { from: String, len: usize },
    #[error(
        "the token from {from} holds a space or a character outside visible ASCII; \
         it has to fit in an `Authorization: Bearer` header"
    )]
    BadChars { from: String },
}

impl Token {
    /// The token from `file` if given, else from `$MEMD_MCP_TOKEN`.
    pub fn load(file: Option<&Path>) -> Result<Token, TokenError> {
        match file {
            Some(path) => Token::from_file(path),
            None => match std::env::var(TOKEN_ENV) {
                Ok(v) if !v.trim().is_empty() => Token::parse(&v, &format!("${TOKEN_ENV}")),
                _ => Err(TokenError::Missing),
            },
        }
    }

    /// Refuses a file another uid owns or others can read, as ssh does
    /// with keys: a token others can read guards nothing.
    fn from_file(path: &Path) -> Result<Token, TokenError> {
        let io = |source| TokenError::Io {
            path: path.to_owned(),
            source,
        };
        let meta = fs::metadata(path).map_err(io)?;
        if !meta.is_file() {
            return Err(TokenError::NotAFile(path.to_owned()));
        }
        let me = crate::fsperm::euid();
        if meta.uid() != me && meta.uid() != 0 {
            return Err(TokenError::Foreign {
                path: path.to_owned(),
                owner: meta.uid(),
                me,
            });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(TokenError::Exposed {
                path: path.to_owned(),
                mode,
            });
        }
        let text = fs::read_to_string(path).map_err(io)?;
        Token::parse(&text, &path.display().to_string())
    }

    /// Leading and trailing whitespace (the newline `echo` leaves) is not
    /// part of the token.
    pub fn parse(text: &str, from: &str) -> Result<Token, TokenError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(TokenError::Missing);
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::BadChars { from: from.into() });
        }
        if t.len() < MIN_LEN {
            return Err(TokenError::TooShort {
                from: from.into(),
                len: t.len(),
            });
        }
        Ok(Token(t.as_bytes().into()))
    }

    /// Whether an `Authorization` header's value carries this token. The
    /// scheme is case-insensitive (RFC 9110); the comparison takes the same
    /// time wherever the first differing byte is (only the length shows).
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some((scheme, rest)) = value.split_at_checked(7) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case(b"bearer ") {
            return false;
        }
        let presented = rest.trim_ascii();
        bool::from(presented.ct_eq(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "0123456789abcdef0123";

    fn token() -> Token {
        Token::parse(T, "test").unwrap()
    }

    #[test]
    fn only_the_exact_token_is_admitted() {
        let t = token();
        assert!(t.admits(Some(format!("Bearer {T}").as_bytes())));
        assert!(t.admits(Some(format!("bearer {T}").as_bytes())));
        assert!(!t.admits(None));
        assert!(!t.admits(Some(b"Bearer ")));
        assert!(!t.admits(Some(T.as_bytes())));
        assert!(!t.admits(Some(format!("Basic {T}").as_bytes())));
        assert!(!t.admits(Some(format!("Bearer {T}x").as_bytes())));
        assert!(!t.admits(Some(format!("Bearer {}", &T[1..]).as_bytes())));
        assert!(!t.admits(Some(b"Bearer 0123456789abcdef0124")));
    }

    #[test]
    fn weak_or_malformed_tokens_are_refused() {
        assert!(matches!(Token::parse(" \n", "x"), Err(TokenError::Missing)));
        assert!(matches!(
            Token::parse("short", "x"),
            Err(TokenError::TooShort { len: 5, .. })
        ));
        assert!(matches!(
            Token::parse("0123456789 abcdef0123", "x"),
            Err(TokenError::BadChars { .. })
        ));
        // The newline `echo` leaves is not part of it.
        let t = Token::parse(&format!("{T}\n"), "x").unwrap();
        assert!(t.admits(Some(format!("Bearer {T}").as_bytes())));
        assert_eq!(format!("{t:?}"), "Token([redacted])");
    }

    #[test]
    fn a_token_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        fs::write(&path, format!("{T}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let e = Token::load(Some(&path)).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let t = Token::load(Some(&path)).unwrap();
        assert!(t.admits(Some(format!("Bearer {T}").as_bytes())));
        let e = Token::load(Some(&dir.path().join("none"))).unwrap_err();
        assert!(e.to_string().contains("none"), "{e}");
        assert!(matches!(
            Token::load(Some(dir.path())),
            Err(TokenError::NotAFile(_))
        ));
    }
}
