//! Timestamps: stored as unix milliseconds (UTC), shown as RFC 3339.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn to_rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp (any offset) into unix milliseconds.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            format!("`{s}` is not an RFC 3339 timestamp ({e}); example: 2024-05-01T13:45:00Z")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let ms = parse_rfc3339("2023-05-08T13:56:00+02:00").unwrap();
        assert_eq!(to_rfc3339(ms), "2023-05-08T11:56:00.000Z");
        assert!(parse_rfc3339("8 May 2023").is_err());
    }
}
