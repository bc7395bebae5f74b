//! `[log]`: level or filter, and format.

use serde::{Deserialize, Serialize};

use super::check::{Check, ensure};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A level (`error`, `warn`, `info`, `debug`, `trace`) or a full
    /// tracing filter such as `memd=debug,info`. Changes on SIGHUP.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl LogConfig {
    pub(super) fn validate(&self) -> Check {
        match check_log_filter(&self.level) {
            Ok(()) => Ok(()),
            Err(e) => ensure(
                "log.level",
                false,
                format!("`{}` is not a level or filter: {e}", self.level),
            ),
        }
    }
}

/// Accepts a level or comma-separated `target=level` directives. Stricter
/// than tracing's own parser, which takes any word as a target name and so
/// would turn a typo such as `inf` into "log nothing".
fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    let is_level = |s: &str| LEVELS.contains(&s.trim().to_ascii_lowercase().as_str());
    if filter.trim().is_empty() {
        return Err("empty".into());
    }
    for part in filter.split(',') {
        let ok = match part.split_once('=') {
            Some((target, level)) => {
                !target.trim().is_empty()
                    && target
                        .trim()
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '-')
                    && is_level(level)
            }
            None => is_level(part),
        };
        if !ok {
            return Err(format!(
                "`{part}` is neither a level ({}) nor target=level",
                LEVELS.join(", ")
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filters() {
        for ok in [
            "info",
            "DEBUG",
            "memd=debug,info",
            "memd::store=trace,warn",
            "off",
        ] {
            check_log_filter(ok).unwrap();
        }
        for bad in ["", "inf", "memd=loud", "=debug"] {
            assert!(check_log_filter(bad).is_err(), "{bad}");
        }
    }
}
