//! What the sources report: each source's state machine (starting → ok ⇄
//! down / error), per-table counters, a sync's outcome, and the JSON views
//! of `GET /v1/sources` and `status`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::registry::{Kind, Source};
use super::{SourceError, Sources, postgres};
use crate::store::{Concepts, Documents};

/// Counters of one table (or of a files source), since the daemon started.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncStats {
    /// Concepts (chunks' files) created or replaced.
    pub synced: u64,
    /// Concepts (files) removed because they left the source.
    pub deleted: u64,
    /// Operations that failed after their retries.
    pub errors: u64,
    /// Retries of failed reads.
    pub retries: u64,
    /// User edits that a change in the source replaced.
    pub overwrite_warnings: u64,
    /// Rows (files) read that had not changed.
    pub unchanged: u64,
    pub last_sync_at: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Starting,
    Ok,
    /// Unreachable; retried every `down_retry_s`.
    Down,
    /// The configuration does not match the source; retried too, in case
    /// the source's schema is fixed.
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct Status {
    pub(super) state: State,
    pub(super) last_error: Option<String>,
    pub(super) since: String,
    pub(super) tables: BTreeMap<String, SyncStats>,
}

impl Status {
    /// A source not synced yet, with empty counters for its tables.
    pub(super) fn starting(tables: &[String]) -> Status {
        Status {
            state: State::Starting,
            last_error: None,
            since: crate::time::to_rfc3339(crate::time::now_ms()),
            tables: tables
                .iter()
                .map(|t| (t.clone(), SyncStats::default()))
                .collect(),
        }
    }
}

/// A sync's outcome for one table (or a files source).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableReport {
    pub table: String,
    pub full: bool,
    /// Rows (files) read from the source.
    pub rows: u64,
    pub synced: u64,
    pub deleted: u64,
    pub overwrite_warnings: u64,
}

impl Sources {
    /// Each source with its state and stats (`GET /v1/sources`).
    pub async fn list(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for s in &self.inner.list {
            let st = s.status.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let store = &self.inner.store;
            let mut v = json!({
                "name": s.name,
                "kind": s.kind.as_str(),
                "namespace": s.namespace,
                "state": st.state,
                "last_error": st.last_error,
                "since": st.since,
            });
            match &s.kind {
                Kind::Files(f) => {
                    let counts = store
                        .document_counts(s.name.clone())
                        .await
                        .unwrap_or((0, 0));
                    v["path"] = json!(f.path);
                    v["documents"] = json!(counts.0);
                    v["chunks"] = json!(counts.1);
                    v["stats"] = json!(st.tables.get("files"));
                }
                Kind::Sqlite(_) | Kind::Postgres(_) => {
                    if let Kind::Sqlite(q) = &s.kind {
                        v["path"] = json!(q.path);
                    }
                    if let Kind::Postgres(p) = &s.kind {
                        v["url"] = json!(postgres::redact(&p.url));
                    }
                    let mut tables = serde_json::Map::new();
                    for (t, stats) in st.tables {
                        let (concepts, removed) = store
                            .concept_counts(s.name.clone(), t.clone())
                            .await
                            .unwrap_or((0, 0));
                        let mut tv = serde_json::to_value(stats).unwrap_or_default();
                        tv["concepts"] = json!(concepts);
                        tv["removed"] = json!(removed);
                        tables.insert(t, tv);
                    }
                    v["tables"] = serde_json::Value::Object(tables);
                }
            }
            out.push(v);
        }
        out
    }

    /// A short summary for `status`: each source's state and error.
    pub fn summary(&self) -> serde_json::Value {
        let list: Vec<serde_json::Value> = self
            .inner
            .list
            .iter()
            .map(|s| {
                let st = s.status.lock().unwrap_or_else(|p| p.into_inner());
                let synced: u64 = st.tables.values().map(|t| t.synced).sum();
                let errors: u64 = st.tables.values().map(|t| t.errors).sum();
                json!({"name": s.name, "kind": s.kind.as_str(), "state": st.state,
                       "last_error": st.last_error, "synced": synced, "errors": errors})
            })
            .collect();
        json!(list)
    }

    /// Records a sync's result in the table's stats and moves the source's
    /// state: any success makes it `ok`; an unreachable source is `down`, a
    /// configuration that does not match it `error`.
    pub(super) fn outcome(
        &self,
        s: &Source,
        table: &str,
        r: Result<TableReport, SourceError>,
    ) -> Result<TableReport, SourceError> {
        let mut st = s.status.lock().unwrap_or_else(|p| p.into_inner());
        match &r {
            Ok(_) => {
                let t = st.tables.entry(table.to_owned()).or_default();
                t.last_sync_at = Some(crate::time::to_rfc3339(crate::time::now_ms()));
                t.last_error = None;
                if st.state != State::Ok {
                    st.state = State::Ok;
                    st.last_error = None;
                    st.since = crate::time::to_rfc3339(crate::time::now_ms());
                }
            }
            Err(e) => {
                let t = st.tables.entry(table.to_owned()).or_default();
                t.errors += 1;
                t.last_error = Some(e.to_string());
                let state = match e {
                    SourceError::Unavailable(_) => Some(State::Down),
                    SourceError::Config { .. } => Some(State::Error),
                    _ => None,
                };
                if let Some(state) = state {
                    if st.state != state {
                        st.since = crate::time::to_rfc3339(crate::time::now_ms());
                        tracing::warn!(source = %s.name, error = %e, "source is {}", if state == State::Down { "down" } else { "misconfigured" });
                    }
                    st.state = state;
                    st.last_error = Some(e.to_string());
                }
            }
        }
        r
    }

    /// Tells the daemon that a source wrote text (the embedding queue
    /// wakes so it is embedded without delay).
    pub(super) fn wrote(&self, source: &str) {
        self.inner
            .store
            .events()
            .publish(crate::events::MemdEvent::SourceSynced {
                source: source.to_owned(),
            });
    }

    pub(super) fn stat(&self, s: &Source, table: &str, f: impl FnOnce(&mut SyncStats)) {
        let mut st = s.status.lock().unwrap_or_else(|p| p.into_inner());
        f(st.tables.entry(table.to_owned()).or_default());
    }
}
