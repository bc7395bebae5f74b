//! The application hook, `POST /v1/sources/{name}/rows`: an application
//! tells memd which rows it changed (`sync_row`, `sync_batch`) or deleted
//! (`delete_row`), by id or with the rows themselves.

use std::collections::HashSet;

use serde::Deserialize;

use super::registry::Kind;
use super::status::TableReport;
use super::table::{self, SourceRow};
use super::{SourceError, Sources};

/// `POST /v1/sources/{name}/rows`: the application hook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowsRequest {
    pub op: RowOp,
    pub table: String,
    /// sync_row / delete_row: the row's id.
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    /// sync_batch / delete_row: several ids.
    #[serde(default)]
    pub ids: Option<Vec<serde_json::Value>>,
    /// sync_row: the row itself (`{column: value}`), instead of reading it.
    #[serde(default)]
    pub row: Option<serde_json::Map<String, serde_json::Value>>,
    /// sync_batch: rows given in the request.
    #[serde(default)]
    pub rows: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowOp {
    SyncRow,
    SyncBatch,
    DeleteRow,
}

fn id_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn value_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Sources {
    /// `POST /v1/sources/{name}/rows`: sync_row, sync_batch, delete_row.
    pub async fn rows(&self, name: &str, req: RowsRequest) -> Result<TableReport, SourceError> {
        let s = self.get(name)?.clone();
        if let Kind::Files(_) = s.kind {
            return Err(SourceError::Refused(format!(
                "source `{name}` is a folder; it has no rows"
            )));
        }
        let table = self.allowed(&s, &req.table)?;
        let mut ids: Vec<String> = Vec::new();
        for v in req.id.iter().chain(req.ids.iter().flatten()) {
            ids.push(id_text(v).ok_or_else(|| {
                SourceError::Refused(format!("row id {v} is not a string or a number"))
            })?);
        }
        let given: Vec<&serde_json::Map<String, serde_json::Value>> =
            req.row.iter().chain(req.rows.iter().flatten()).collect();
        if ids.is_empty() && given.is_empty() {
            return Err(SourceError::Refused(
                "give `id`, `ids`, `row` or `rows`".into(),
            ));
        }
        if req.op == RowOp::DeleteRow && !given.is_empty() {
            return Err(SourceError::Refused(
                "delete_row takes `id` or `ids`".into(),
            ));
        }
        if req.op == RowOp::SyncRow && ids.len() + given.len() != 1 {
            return Err(SourceError::Refused(
                "sync_row takes one `id` or one `row`; use sync_batch for several".into(),
            ));
        }
        let mut rt = s.rt.lock().await;
        let mut report = TableReport {
            table: table.clone(),
            ..Default::default()
        };
        let r: Result<(), SourceError> = async {
            if req.op == RowOp::DeleteRow {
                report.deleted = self.delete_rows(&s, &mut rt, &table, ids).await?;
                return Ok(());
            }
            self.ensure_plans(&s, &mut rt).await?;
            let plan = rt.plan(&table)?;
            let mut rows = Vec::new();
            for g in given {
                let id = match g.get(plan.id_name()).and_then(id_text) {
                    Some(id) => id,
                    None => {
                        return Err(SourceError::Refused(format!(
                            "a given row lacks its id column `{}`",
                            plan.id_name()
                        )));
                    }
                };
                let vals: Vec<Option<String>> = plan
                    .text_columns
                    .iter()
                    .map(|c| g.get(c).and_then(value_text))
                    .collect();
                let marker = plan
                    .cursor
                    .as_ref()
                    .and_then(|c| g.get(c))
                    .and_then(value_text);
                rows.push(SourceRow {
                    id,
                    text: table::render(&plan.text_columns, &vals),
                    marker,
                });
            }
            if !ids.is_empty() {
                let found = self.read(&s, &table, |r| r.by_ids(&plan, &ids)).await?;
                let present: HashSet<&str> = found.iter().map(|r| r.id.as_str()).collect();
                let missing: Vec<String> = ids
                    .iter()
                    .filter(|i| !present.contains(i.as_str()))
                    .cloned()
                    .collect();
                // A row asked for but gone from the source leaves memory too.
                report.deleted = self.delete_rows(&s, &mut rt, &table, missing).await?;
                rows.extend(found);
            }
            report.rows = rows.len() as u64;
            let (synced, over) = self.apply(&s, &mut rt, &table, rows).await?;
            report.synced = synced;
            report.overwrite_warnings = over;
            Ok(())
        }
        .await;
        self.outcome(&s, &table, r.map(|_| report))
    }
}
