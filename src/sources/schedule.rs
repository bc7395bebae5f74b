//! Cron schedules for periodic full syncs.
//!
//! Expressions are parsed as the dream schedule parses them (croner,
//! seconds required: `sec min hour day month weekday`), in UTC. Scheduling
//! itself is one sleep per firing inside the source's own task: each
//! source has a single timer, so tokio-cron-scheduler's job store adds
//! nothing here.

use std::time::Duration;

use croner::Cron;

pub type Schedule = Cron;

/// The configuration's parser (`[sources]` is checked with it).
pub use crate::config::cron::parse;

/// Time from now until the next firing (None: the schedule never fires again).
pub fn until_next(schedule: &Schedule) -> Option<Duration> {
    let now = chrono::Utc::now();
    let next = schedule.find_next_occurrence(&now, false).ok()?;
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
        let s = parse("*/1 * * * * *").unwrap();
        assert!(until_next(&s).unwrap() <= Duration::from_secs(1));
        assert!(parse("every day").is_err());
        assert!(parse("0 0 4 * *").is_err(), "seconds are required");
        assert!(parse("0 0 25 * * *").is_err());
    }
}
