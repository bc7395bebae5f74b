//! Cron expressions, time zones and next firings: the one wrapper around
//! croner. The configuration checks `dream.schedule` and the sources'
//! `full_sync_schedule` with [`check`] and [`parse`]; the dream cycle and
//! the sources schedule with [`next_after`] and [`until_next`]. One parser
//! (seconds required, as tokio-cron-scheduler parses) means that what the
//! config check accepts is what the schedulers run.
//!
//! A leaf: depends on nothing of memd's.

use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// Where a schedule's wall-clock times are read.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    Local,
    Named(chrono_tz::Tz),
}

pub fn zone(name: &str) -> Result<Zone, String> {
    if name.eq_ignore_ascii_case("local") {
        return Ok(Zone::Local);
    }
    name.parse::<chrono_tz::Tz>()
        .map(Zone::Named)
        .map_err(|_| format!("time zone `{name}` is neither `local` nor an IANA name such as `Europe/Berlin` or `UTC`"))
}

/// A cron expression with seconds (`sec min hour day month weekday`).
pub fn parse(expr: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .build()
        .parse(expr)
        .map_err(|e| {
            format!("not a cron expression with seconds (`sec min hour day month weekday`, e.g. `0 0 3 * * *`): {e}")
        })
}

/// Checks an expression and its time zone; the error says which one is wrong
/// (a time-zone error starts with "time zone").
pub fn check(expr: &str, tz: &str) -> Result<(), String> {
    zone(tz)?;
    parse(expr)
        .map(|_| ())
        .map_err(|e| format!("`{expr}` is {e}"))
}

/// The first time the schedule fires after `after`, its wall-clock times
/// read in zone `tz` (None: a bad expression or zone, or no next firing).
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

/// Time from now until the schedule's next firing in UTC (None: it never
/// fires again). A source's full syncs are one sleep per firing inside its
/// own task: a single timer, so a job scheduler adds nothing there.
pub fn until_next(schedule: &Cron) -> Option<Duration> {
    let now = Utc::now();
    let next = schedule.find_next_occurrence(&now, false).ok()?;
    Some((next - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn bad_settings_say_which() {
        assert!(check("0 0 3 * *", "local").unwrap_err().contains("cron"));
        assert!(
            check("0 0 3 * * *", "Mars/Olympus")
                .unwrap_err()
                .starts_with("time zone")
        );
        check("0 30 2 * * MON", "UTC").unwrap();
        assert!(parse("0 0 4 * *").is_err(), "seconds are required");
    }

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
    fn parses_and_fires() {
        let s = parse("0 0 4 * * *").unwrap();
        let d = until_next(&s).unwrap();
        assert!(d <= Duration::from_secs(24 * 3600), "{d:?}");
        let s = parse("*/1 * * * * *").unwrap();
        assert!(until_next(&s).unwrap() <= Duration::from_secs(1));
        assert!(parse("every day").is_err());
        assert!(parse("0 0 4 * *").is_err(), "seconds are required");
        assert!(parse("0 0 25 * * *").is_err());
    }
}
