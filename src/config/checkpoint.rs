//! `[checkpoint]`: periodic snapshots.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::check::{Check, at_least, between, first, not_empty};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Seconds between checkpoints; 0 turns the periodic worker off
    /// (on-demand and shutdown checkpoints still work).
    pub interval_s: u64,
    /// Unset: `<data_dir>/snapshots`.
    pub dir: Option<PathBuf>,
    /// Snapshots kept; older ones are deleted after a new one is verified.
    pub keep: usize,
    /// Truncate the WAL when it has grown past this many bytes.
    pub wal_truncate_bytes: u64,
    /// Pages copied per step of the online backup.
    pub pages_per_step: u32,
    /// Take a final snapshot on graceful shutdown.
    pub on_shutdown: bool,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            interval_s: 300,
            dir: None,
            keep: 24,
            wal_truncate_bytes: 16 * 1024 * 1024,
            pages_per_step: 4096,
            on_shutdown: true,
        }
    }
}

impl CheckpointConfig {
    pub(super) fn validate(&self) -> Check {
        first([
            at_least("checkpoint.keep", self.keep, 1),
            between("checkpoint.interval_s", self.interval_s, 0, 365 * 24 * 3600),
            at_least("checkpoint.pages_per_step", self.pages_per_step, 1),
            not_empty("checkpoint.dir", self.dir.as_deref()),
        ])
    }
}
