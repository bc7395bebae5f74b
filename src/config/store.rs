//! `[store]`: SQLite settings.

use serde::{Deserialize, Serialize};

use super::check::{Check, at_least, between, first};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// How long a SQLite call waits on a lock before failing.
    pub busy_timeout_ms: u64,
    /// `full`: an acknowledged write survives power loss (fsync per commit).
    /// `normal`: it survives a crash of memd, not of the machine.
    pub synchronous: Synchronous,
    /// Read connections used in parallel by recall and listing.
    pub read_connections: usize,
    /// Most write requests the single writer folds into one transaction.
    pub max_batch_ops: usize,
    /// Integrity check at start-up: `quick`, `full` or `off`.
    pub startup_check: StartupCheck,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartupCheck {
    Quick,
    Full,
    Off,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            busy_timeout_ms: 5000,
            synchronous: Synchronous::Full,
            read_connections: 4,
            max_batch_ops: 64,
            startup_check: StartupCheck::Quick,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Full,
    Normal,
}

impl StoreConfig {
    pub(super) fn validate(&self) -> Check {
        first([
            between("store.read_connections", self.read_connections, 1, 64),
            // SQLite's driver takes the busy timeout as i32 milliseconds.
            between("store.busy_timeout_ms", self.busy_timeout_ms, 0, 3_600_000),
            at_least("store.max_batch_ops", self.max_batch_ops, 1),
        ])
    }
}
