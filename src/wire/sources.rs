//! Sources and concepts.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// `POST /v1/sources/{name}/sync` (an empty body is `{}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default)]
    pub full: bool,
}

/// `PATCH /v1/concepts/{name}`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f64>,
    /// A string sets the overlay; null clears it; absent leaves it.
    #[serde(
        default,
        deserialize_with = "some_or_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub text: Option<Option<String>>,
    #[serde(default)]
    pub restore: bool,
}

fn some_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `GET /v1/sources`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourcesOut {
    pub sources: Vec<SourceOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceOut {
    pub name: String,
    /// `sqlite`, `postgres` or `files`.
    pub kind: String,
    pub namespace: String,
    /// `starting`, `ok`, `down` or `error`.
    pub state: String,
    #[serde(default)]
    pub last_error: Option<String>,
    pub since: String,
    #[serde(default)]
    pub path: Option<String>,
    /// A postgres source's URL, password redacted.
    #[serde(default)]
    pub url: Option<String>,
    /// Files sources: documents and chunks held, and the counters.
    #[serde(default)]
    pub documents: Option<u64>,
    #[serde(default)]
    pub chunks: Option<u64>,
    #[serde(default)]
    pub stats: Option<SyncStatsOut>,
    /// Table sources: counters per table.
    #[serde(default)]
    pub tables: Option<BTreeMap<String, SyncStatsOut>>,
}

/// Counters of a table (or a files source) since the daemon started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncStatsOut {
    pub synced: u64,
    pub deleted: u64,
    pub errors: u64,
    pub retries: u64,
    pub overwrite_warnings: u64,
    pub unchanged: u64,
    #[serde(default)]
    pub last_sync_at: Option<String>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// Tables: concepts held, and those removed from memory by the user.
    #[serde(default)]
    pub concepts: Option<u64>,
    #[serde(default)]
    pub removed: Option<u64>,
}

/// `POST /v1/sources/{name}/sync`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncOut {
    pub source: String,
    pub tables: Vec<TableReportOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableReportOut {
    pub table: String,
    pub full: bool,
    /// Rows (files) read from the source.
    pub rows: u64,
    pub synced: u64,
    pub deleted: u64,
    #[serde(default)]
    pub overwrite_warnings: u64,
}

/// `GET|PATCH /v1/concepts/{name}` (and `DELETE`, with `removed`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConceptOut {
    pub concept: Concept,
    #[serde(default)]
    pub removed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Concept {
    pub name: String,
    pub namespace: String,
    pub source: String,
    pub table: String,
    pub row_id: String,
    /// What memory holds: the overlay when the user edited it, else the source's text.
    pub text: String,
    pub source_text: String,
    #[serde(default)]
    pub overlay: Option<String>,
    pub strength: f64,
    #[serde(default)]
    pub marker: Option<String>,
    pub removed: bool,
    #[serde(default)]
    pub item_id: Option<i64>,
    pub synced_at: String,
    #[serde(default)]
    pub edited_at: Option<String>,
}
