//! The dream cycle: passes, their records, and the consolidated tiers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/dream`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DreamIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default)]
    pub force: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drive: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub until_caught_up: bool,
    /// Answer when the passes are done (else 202 at once).
    #[serde(default)]
    pub wait: bool,
}

/// `POST /v1/dream`: the passes' records with `wait` (or a dry run), else
/// `started` (202).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DreamStartOut {
    #[serde(default)]
    pub runs: Option<Vec<DreamRun>>,
    #[serde(default)]
    pub started: bool,
}

/// `GET /v1/dream/runs`, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DreamRunsOut {
    pub runs: Vec<DreamRun>,
}

/// A dream pass's record: as a pass reports it (with `took_ms`) or as
/// stored (with `ended_at`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DreamRun {
    #[serde(default)]
    pub id: Option<i64>,
    pub namespace: String,
    pub trigger: String,
    pub dry_run: bool,
    pub outcome: String,
    pub started_at: String,
    #[serde(default)]
    pub ended_at: Option<String>,
    #[serde(default)]
    pub took_ms: Option<u64>,
    #[serde(default)]
    pub drives_before: Option<DriveLevels>,
    #[serde(default)]
    pub drives_after: Option<DriveLevels>,
    /// What each drive did; each action has its own fields.
    #[serde(default)]
    pub actions: Option<Vec<Value>>,
    #[serde(default)]
    pub llm: Option<Value>,
    #[serde(default)]
    pub errors: Option<Vec<String>>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Drive levels, 0..1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriveLevels {
    pub continuity: f64,
    pub coherence: f64,
    pub curiosity: f64,
    pub stability: f64,
    #[serde(default)]
    pub why: Vec<String>,
}

/// `GET /v1/sessions/{sid}/gist`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GistOut {
    pub session_id: String,
    pub namespace: String,
    pub month: String,
    pub last_exchange_id: i64,
    pub turns: i64,
    pub provider: String,
    #[serde(default)]
    pub model: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub id: i64,
    pub text: String,
    #[serde(default)]
    pub statements: Value,
}

/// `GET /v1/eras`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErasOut {
    pub namespace: String,
    pub eras: Vec<EraOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EraOut {
    pub month: String,
    #[serde(default)]
    pub id: Option<i64>,
    pub text: String,
    #[serde(default)]
    pub gist_ids: Value,
    #[serde(default)]
    pub sessions: Value,
    pub stale: bool,
    #[serde(default)]
    pub provider: Option<String>,
    pub built_at: String,
}

/// `GET /v1/profile`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileOut {
    pub namespace: String,
    pub text: String,
    #[serde(default)]
    pub facts: Value,
    pub sessions_covered: i64,
    pub stale: bool,
    #[serde(default)]
    pub provider: Option<String>,
    pub built_at: String,
}

/// `GET /v1/narrative`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NarrativeOut {
    pub namespace: String,
    pub text: String,
    pub stale: bool,
    #[serde(default)]
    pub provider: Option<String>,
    pub built_at: String,
}

/// `GET /v1/self`: the state is whatever the consolidator wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SelfStateOut {
    pub namespace: String,
    pub state: Value,
    pub built_at: String,
}
