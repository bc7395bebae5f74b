//! The nightly schedule: a cron expression with seconds, in a time zone.
//! Parsed the way tokio-cron-scheduler parses it (croner, seconds
//! required), so what the config check accepts is what the scheduler runs.

use chrono::{DateTime, Utc};
use croner::Cron;

/// Zones and the combined check live with the configuration, which checks
/// `dream.schedule` and `dream.timezone` with them.
pub use crate::config::cron::{Zone, check, zone};

pub fn parse(expr: &str) -> Result<Cron, String> {
    crate::config::cron::parse(expr).map_err(|e| format!("`{expr}` is {e}"))
}

/// The first time the schedule fires after `after`.
pub fn next_after(expr: &str, tz: &str, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let cron = parse(expr).ok()?;
    match zone(tz).ok()? {
        Zone::Local => cron
            .find_next_occurrence(&after.with_timezone(&chrono::Local), false)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Zone::Named(z) => cron
            .find_next_occurrence(&after.with_timezone(&z), false)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn nightly_default_in_a_named_zone() {
        let after = Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap();
        let next = next_after("0 0 3 * * *", "Europe/Berlin", after).unwrap();
        // 03:00 in Berlin in winter is 02:00 UTC, the next day.
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 1, 11, 2, 0, 0).unwrap());
        let next = next_after("*/5 * * * * *", "UTC", after).unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 5).unwrap());
    }

    #[test]
    fn bad_settings_say_which() {
        assert!(check("0 0 3 * *", "local").unwrap_err().contains("cron"));
        assert!(
            check("0 0 3 * * *", "Mars/Olympus")
                .unwrap_err()
                .starts_with("time zone")
        );
        check("0 30 2 * * MON", "UTC").unwrap();
    }
}
