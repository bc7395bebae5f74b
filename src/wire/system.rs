//! Status, re-embedding, checkpoints, export and import of everything.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::DreamRun;

/// `GET /v1/status`: what ctl shows; the rest (index, store, checkpoint,
/// sources, …) in `rest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusOut {
    pub version: String,
    pub pid: u32,
    pub uptime_s: u64,
    pub socket: String,
    pub db_path: String,
    pub config: String,
    pub embedder: EmbedderStatus,
    pub counts: Counts,
    #[serde(default)]
    pub dream: Option<DreamStatus>,
    #[serde(default)]
    pub firewall: Option<super::FirewallStatusOut>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbedderStatus {
    pub provider: String,
    pub model: String,
    pub dim: usize,
    /// Rows waiting for a vector (-1 when it could not be read).
    pub backlog: i64,
    #[serde(default)]
    pub embedded: u64,
    #[serde(default)]
    pub rate_per_s: Option<f64>,
    #[serde(default)]
    pub failures: u64,
    #[serde(default)]
    pub last_error: Option<String>,
    /// Why the configured provider is not the one running.
    #[serde(default)]
    pub fallback_reason: Option<String>,
    #[serde(default)]
    pub reembed: Option<ReembedProgress>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReembedProgress {
    pub total: u64,
    pub done: u64,
    pub percent: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counts {
    pub sessions: u64,
    pub exchanges: u64,
}

/// The dream cycle in status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DreamStatus {
    pub enabled: bool,
    pub provider: String,
    #[serde(default)]
    pub next_scheduled: Option<String>,
    /// The pass under way.
    #[serde(default)]
    pub running: Option<DreamRunning>,
    #[serde(default)]
    pub last_run: Option<DreamRun>,
    /// Per namespace (the first 16).
    #[serde(default)]
    pub backlog: Option<BTreeMap<String, DreamBacklog>>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DreamRunning {
    pub namespace: String,
    #[serde(default)]
    pub trigger: Option<String>,
    #[serde(default)]
    pub round: Option<u64>,
    #[serde(default)]
    pub since: Option<String>,
}

/// A namespace's backlog: `dirty` sessions, and the other counters in `rest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DreamBacklog {
    #[serde(default)]
    pub dirty: u64,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `POST /v1/reembed` (an empty body is `{}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReembedIn {
    #[serde(default)]
    pub all: bool,
}

/// `POST /v1/reembed`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReembedOut {
    pub queued: bool,
    pub all: bool,
    /// With `all`: rows up to this id are re-embedded.
    #[serde(default)]
    pub upto_id: Option<i64>,
}

/// `POST /v1/checkpoint`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointOut {
    pub path: String,
    pub bytes: u64,
    pub duration_ms: f64,
    pub wal_truncated: bool,
    /// Older snapshots rotated out.
    #[serde(default)]
    pub removed: Vec<String>,
    #[serde(default)]
    pub index_layout_bytes: Option<u64>,
}

/// `GET /v1/checkpoints`: snapshots on disk, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointsOut {
    pub dir: String,
    pub snapshots: Vec<SnapshotOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotOut {
    pub path: String,
    pub bytes: u64,
    pub created_at: String,
}

/// The last line of `GET /v1/export`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportEnd {
    pub memd_export_end: bool,
    pub rows: u64,
}

/// `POST /v1/import-all`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportAllOut {
    pub rows: u64,
    /// Rows per table.
    pub tables: BTreeMap<String, u64>,
    pub vectors: u64,
}
