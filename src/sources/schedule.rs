//! Cron schedules for periodic full syncs.
//!
//! The `cron` crate parses the expression and lists upcoming times; the
//! scheduling itself is one sleep per firing in the source's own task.
//! (tokio-cron-scheduler would add a job store, uuids and its own runtime
//! loop for what is here a single timer per source.)

use std::str::FromStr;
use std::time::Duration;

pub use cron::Schedule;

/// Parses a 6-field (sec min hour day month weekday) or 7-field (… year)
/// cron expression.
pub fn parse(expr: &str) -> Result<Schedule, String> {
    Schedule::from_str(expr).map_err(|e| e.to_string())
}

/// Time from now until the next firing (None: the schedule never fires again).
pub fn until_next(schedule: &Schedule) -> Option<Duration> {
    let now = chrono::Utc::now();
    let next = schedule.after(&now).next()?;
    Some((next - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_fires() {
        let s = parse("0 0 4 * * *").unwrap();
        let d = until_next(&s).unwrap();
        assert!(d <= Duration::from_secs(24 * 3600), "{d:?}");
        assert!(parse("*/1 * * * * *").is_ok());
        assert!(parse("every day").is_err());
        assert!(parse("0 0 25 * * *").is_err());
    }
}
