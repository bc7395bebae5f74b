//! Table-driven validation: each check is one declarative line naming its
//! key, e.g. `between("store.read_connections", s.read_connections, 1, 64)`.
//! A section lists its checks in an array and [`first`] reports the first
//! that fails, so the order of the lines is the order of the messages.

use std::fmt::Display;
use std::path::Path;

/// A configuration error: the key it concerns and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyError {
    pub key: String,
    pub message: String,
}

pub type Check = Result<(), KeyError>;

/// The first failed check of a list (checks are cheap; all are evaluated).
pub fn first<const N: usize>(checks: [Check; N]) -> Check {
    checks.into_iter().collect()
}

/// Fails with `message` at `key` unless `ok`.
pub fn ensure(key: impl Into<String>, ok: bool, message: impl Into<String>) -> Check {
    if ok {
        Ok(())
    } else {
        Err(KeyError {
            key: key.into(),
            message: message.into(),
        })
    }
}

/// `v ≥ min`: "must be at least {min}".
pub fn at_least<T: PartialOrd + Display>(key: &str, v: T, min: T) -> Check {
    ensure(key, v >= min, format!("must be at least {min}"))
}

/// `lo ≤ v ≤ hi` (NaN fails): "must be between {lo} and {hi}".
pub fn between<T: PartialOrd + Display>(key: &str, v: T, lo: T, hi: T) -> Check {
    ensure(
        key,
        lo <= v && v <= hi,
        format!("must be between {lo} and {hi}"),
    )
}

/// A share, `0 ≤ v ≤ 1`: "{v} is not between 0 and 1".
pub fn fraction(key: &str, v: f64) -> Check {
    ensure(
        key,
        (0.0..=1.0).contains(&v),
        format!("{v} is not between 0 and 1"),
    )
}

/// A finite `v ≥ 0`: "must be a number ≥ 0".
pub fn non_negative(key: &str, v: f64) -> Check {
    ensure(key, v >= 0.0 && v.is_finite(), "must be a number ≥ 0")
}

/// An optional path that, when set, is not empty.
pub fn not_empty(key: &str, p: Option<&Path>) -> Check {
    ensure(
        key,
        p.is_none_or(|p| !p.as_os_str().is_empty()),
        "must not be empty",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_their_key() {
        let e = at_least("api.max_connections", 0, 1).unwrap_err();
        assert_eq!(e.key, "api.max_connections");
        assert_eq!(e.message, "must be at least 1");
        let e = between("store.read_connections", 65, 1, 64).unwrap_err();
        assert_eq!(e.message, "must be between 1 and 64");
        assert!(between("x", f64::NAN, 0.0, 2.0).is_err());
        assert!(between("x", 2.0, 0.0, 2.0).is_ok());
        assert_eq!(
            fraction("dream.mmr_lambda", 1.5).unwrap_err().message,
            "1.5 is not between 0 and 1"
        );
        assert!(non_negative("recall.rrf_k", f64::INFINITY).is_err());
        assert!(non_negative("recall.rrf_k", 0.0).is_ok());
        assert!(not_empty("checkpoint.dir", Some(Path::new(""))).is_err());
        assert!(not_empty("checkpoint.dir", None).is_ok());
    }

    #[test]
    fn first_failure_wins_in_table_order() {
        let r = first([
            at_least("a", 5, 1),
            at_least("b", 0, 1),
            between("c", 0, 1, 2),
        ]);
        assert_eq!(r.unwrap_err().key, "b");
        assert!(first([at_least("a", 1, 1), fraction("f", 0.5)]).is_ok());
    }
}
