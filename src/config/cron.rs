//! Cron expressions and time zones as the configuration accepts them. The
//! dream scheduler (`dream::schedule`) and the sources' full-sync timers
//! (`sources::schedule`) parse with these same functions (croner, seconds
//! required), so what the config check accepts is what the scheduler runs.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
