//! The `config` target.

use crate::config::Config;

/// Arbitrary bytes as a configuration file: parsing and validation never
/// panic, and an accepted configuration prints (`memd config`) as TOML that
/// loads back to the same configuration.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cfg = match Config::from_toml(text, "fuzz.toml") {
        Ok(c) => c,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    // What the daemon derives from an accepted configuration.
    let _ = (
        cfg.index.params(),
        cfg.allowed_uids(),
        cfg.embed_threads(),
        cfg.socket_path(),
        cfg.snapshot_dir(),
        cfg.model_dir(),
    );
    let now = chrono::Utc::now();
    let _ = crate::dream::schedule::next_after(&cfg.dream.schedule, &cfg.dream.timezone, now);
    let schedules = cfg.sources.sqlite.iter().map(|s| &s.full_sync_schedule);
    let schedules = schedules.chain(cfg.sources.postgres.iter().map(|s| &s.full_sync_schedule));
    for s in schedules.flatten() {
        let parsed = crate::sources::schedule::parse(s);
        let parsed = parsed.unwrap_or_else(|e| panic!("accepted schedule `{s}` fails: {e}"));
        let _ = crate::sources::schedule::until_next(&parsed);
    }
    let printed = toml::to_string_pretty(&cfg)
        .unwrap_or_else(|e| panic!("an accepted configuration does not print: {e}"));
    let again = Config::from_toml(&printed, "printed")
        .unwrap_or_else(|e| panic!("the printed configuration does not load: {e}\n{printed}"));
    assert!(
        again == cfg,
        "the printed configuration loads differently:\n{printed}"
    );
}
