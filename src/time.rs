//! Timestamps: stored as unix milliseconds (UTC), shown as RFC 3339.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn to_rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp (any offset) into unix milliseconds. The
/// instant must fall in the years 0000 to 9999 in UTC, as every timestamp
/// is shown back in UTC ([`to_rfc3339`]) and must parse again.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let t = DateTime::parse_from_rfc3339(s.trim()).map_err(|e| {
        format!("`{s}` is not an RFC 3339 timestamp ({e}); example: 2024-05-01T13:45:00Z")
    })?;
    if !(0..=9999).contains(&t.with_timezone(&Utc).year()) {
        return Err(format!("`{s}` is outside the years 0000 to 9999 in UTC"));
    }
    Ok(t.timestamp_millis())
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

    #[test]
    fn what_is_accepted_is_shown_in_a_form_that_parses_again() {
        // Found by fuzzing (ids): year 0 at +01:00 is year -1 in UTC,
        // stored, then shown as `-0001-12-31T23:00:00.000Z`, which no
        // RFC 3339 parser (this one included) accepts.
        for s in ["0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"] {
            assert!(parse_rfc3339(s).is_err(), "{s}");
        }
        for s in [
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999Z",
            "0000-01-01T00:00:00-01:00",
        ] {
            let ms = parse_rfc3339(s).unwrap();
            assert_eq!(parse_rfc3339(&to_rfc3339(ms)), Ok(ms), "{s}");
        }
    }
}
