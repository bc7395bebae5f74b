//! Reading a SQLite source: always through a read-only connection.
//!
//! memd never writes to a source database: the connection is opened with
//! `SQLITE_OPEN_READ_ONLY` and `PRAGMA query_only`, so even a bug here
//! could not change a byte of it. Each read opens its connection and runs
//! in `spawn_blocking`; rusqlite's values become [`SourceValue`]s here.

use std::path::Path;

use futures_util::future::BoxFuture;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, params_from_iter};

use super::SourceError;
use super::config::SqliteSource;
use super::reader::{Rows, SourceReader};
use super::table::{IdColumn, SourceRow, TablePlan, plan, quote, render};
use crate::store::SourceValue;

/// The reader of one SQLite source.
pub struct SqliteReader {
    src: SqliteSource,
}

impl SqliteReader {
    pub fn new(src: SqliteSource) -> Self {
        Self { src }
    }

    /// Runs `f` on a fresh read-only connection, off the executor.
    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, SourceError> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, SourceError>> {
        let path = self.src.path.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&open(&path)?))
                .await
                .map_err(|e| SourceError::Unavailable(e.to_string()))?
        })
    }
}

impl SourceReader for SqliteReader {
    fn plans(&self) -> BoxFuture<'_, Result<Vec<TablePlan>, SourceError>> {
        let src = self.src.clone();
        self.blocking(move |conn| plans(conn, &src))
    }

    fn page<'a>(
        &'a self,
        plan: &'a TablePlan,
        after: Option<&'a SourceValue>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Rows, SourceError>> {
        let (plan, after) = (plan.clone(), after.cloned().map(Value::from));
        self.blocking(move |conn| {
            let (rows, last) = page(conn, &plan, after.as_ref(), limit)?;
            Ok((rows, last.map(SourceValue::from)))
        })
    }

    fn changed_since<'a>(
        &'a self,
        plan: &'a TablePlan,
        from: Option<&'a SourceValue>,
    ) -> BoxFuture<'a, Result<Rows, SourceError>> {
        let (plan, from) = (plan.clone(), from.cloned().map(Value::from));
        self.blocking(move |conn| {
            let (rows, max) = changed_since(conn, &plan, from.as_ref())?;
            Ok((rows, max.map(SourceValue::from)))
        })
    }

    fn all<'a>(
        &'a self,
        plan: &'a TablePlan,
    ) -> BoxFuture<'a, Result<Vec<SourceRow>, SourceError>> {
        let plan = plan.clone();
        self.blocking(move |conn| all(conn, &plan))
    }

    fn ids<'a>(&'a self, plan: &'a TablePlan) -> BoxFuture<'a, Result<Vec<String>, SourceError>> {
        let plan = plan.clone();
        self.blocking(move |conn| ids(conn, &plan))
    }

    fn by_ids<'a>(
        &'a self,
        plan: &'a TablePlan,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<SourceRow>, SourceError>> {
        let (plan, ids) = (plan.clone(), ids.to_vec());
        self.blocking(move |conn| by_ids(conn, &plan, &ids))
    }

    fn lists_ids_incrementally(&self) -> bool {
        true
    }
}

fn open(path: &Path) -> Result<Connection, SourceError> {
    let io = |e: rusqlite::Error| SourceError::Unavailable(format!("{}: {e}", path.display()));
    if !path.is_file() {
        return Err(SourceError::Unavailable(format!(
            "{}: no such file",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(io)?;
    conn.pragma_update(None, "query_only", true).map_err(io)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(io)?;
    Ok(conn)
}

/// Checks every allowed table and its configured columns against the
/// file's schema; the error names the source and the key.
fn plans(conn: &Connection, src: &SqliteSource) -> Result<Vec<TablePlan>, SourceError> {
    let prefix = format!("sources.sqlite[{}]", src.name);
    let sql_err =
        |e: rusqlite::Error| SourceError::Unavailable(format!("{}: {e}", src.path.display()));
    let mut out = Vec::new();
    for t in &src.allowed_tables {
        let kind: Option<(String, String)> = conn
            .query_row(
                "SELECT type, coalesce(sql, '') FROM sqlite_schema WHERE name = ?1 AND type IN ('table', 'view')",
                [t],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(sql_err)?;
        let Some((kind, sql)) = kind else {
            return Err(SourceError::Config {
                key: format!("{prefix}.allowed_tables"),
                message: format!("table `{t}` does not exist in {}", src.path.display()),
            });
        };
        let mut stmt = conn
            .prepare("SELECT name, type FROM pragma_table_info(?1)")
            .map_err(sql_err)?;
        let columns: Vec<(String, String)> = stmt
            .query_map([t], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(sql_err)?;
        let without_rowid = kind == "view" || sql.to_ascii_uppercase().contains("WITHOUT ROWID");
        let default_id = (!without_rowid).then_some(IdColumn::Rowid);
        let p = plan(t, &columns, src.tables.get(t), default_id, text_like).map_err(
            |(key, message)| SourceError::Config {
                key: format!("{prefix}.tables.{t}.{key}"),
                message,
            },
        )?;
        out.push(p);
    }
    Ok(out)
}

/// SQLite's TEXT affinity, plus untyped columns.
fn text_like(decl: &str) -> bool {
    let d = decl.to_ascii_uppercase();
    d.is_empty()
        || d.contains("CHAR")
        || d.contains("CLOB")
        || d.contains("TEXT")
        || d.contains("JSON")
}

fn as_text(v: Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Integer(i) => Some(i.to_string()),
        Value::Real(f) => Some(f.to_string()),
        Value::Text(s) => Some(s),
        Value::Blob(b) => Some(String::from_utf8_lossy(&b).into_owned()),
    }
}

fn select_list(p: &TablePlan) -> String {
    let mut cols = vec![p.id_sql()];
    cols.extend(p.text_columns.iter().map(|c| quote(c)));
    if let Some(c) = &p.cursor {
        cols.push(quote(c));
    }
    cols.join(", ")
}

fn read_rows(
    conn: &Connection,
    p: &TablePlan,
    sql: &str,
    params: Vec<Value>,
) -> Result<Vec<(Value, SourceRow, Option<Value>)>, rusqlite::Error> {
    let mut stmt = conn.prepare_cached(sql)?;
    let n = p.text_columns.len();
    let rows = stmt.query_map(params_from_iter(params), |r| {
        let id: Value = r.get(0)?;
        let mut vals = Vec::with_capacity(n);
        for i in 0..n {
            vals.push(as_text(r.get::<_, Value>(i + 1)?));
        }
        let cursor: Option<Value> = match p.cursor {
            Some(_) => Some(r.get(n + 1)?),
            None => None,
        };
        let row = SourceRow {
            id: as_text(id.clone()).unwrap_or_default(),
            text: render(&p.text_columns, &vals),
            marker: cursor.clone().and_then(as_text),
        };
        Ok((id, row, cursor))
    })?;
    rows.collect()
}

/// One page of rows in id order after `after` (keyset paging).
fn page(
    conn: &Connection,
    p: &TablePlan,
    after: Option<&Value>,
    limit: usize,
) -> Result<(Vec<SourceRow>, Option<Value>), SourceError> {
    let id = p.id_sql();
    let (sql, params) = match after {
        None => (
            format!(
                "SELECT {} FROM {} ORDER BY {id} LIMIT ?1",
                select_list(p),
                quote(&p.table)
            ),
            vec![Value::Integer(limit as i64)],
        ),
        Some(a) => (
            format!(
                "SELECT {} FROM {} WHERE {id} > ?1 ORDER BY {id} LIMIT ?2",
                select_list(p),
                quote(&p.table)
            ),
            vec![a.clone(), Value::Integer(limit as i64)],
        ),
    };
    let rows = read_rows(conn, p, &sql, params).map_err(|e| unavailable(p, e))?;
    let last = rows.last().map(|r| r.0.clone());
    Ok((rows.into_iter().map(|r| r.1).collect(), last))
}

/// Rows whose cursor is at or past `from` (None: all), in cursor order;
/// returns the rows and the largest cursor value seen.
fn changed_since(
    conn: &Connection,
    p: &TablePlan,
    from: Option<&Value>,
) -> Result<(Vec<SourceRow>, Option<Value>), SourceError> {
    let c = quote(p.cursor.as_deref().expect("cursor plan"));
    let (sql, params) = match from {
        None => (
            format!(
                "SELECT {} FROM {} ORDER BY {c}",
                select_list(p),
                quote(&p.table)
            ),
            vec![],
        ),
        Some(v) => (
            format!(
                "SELECT {} FROM {} WHERE {c} >= ?1 ORDER BY {c}",
                select_list(p),
                quote(&p.table)
            ),
            vec![v.clone()],
        ),
    };
    let rows = read_rows(conn, p, &sql, params).map_err(|e| unavailable(p, e))?;
    // A NULL cursor is no watermark (`c >= NULL` would match nothing again).
    let max = rows
        .iter()
        .filter_map(|r| r.2.clone())
        .rfind(|v| *v != Value::Null);
    Ok((rows.into_iter().map(|r| r.1).collect(), max))
}

/// Every row (for comparing fingerprints).
fn all(conn: &Connection, p: &TablePlan) -> Result<Vec<SourceRow>, SourceError> {
    let sql = format!("SELECT {} FROM {}", select_list(p), quote(&p.table));
    let rows = read_rows(conn, p, &sql, vec![]).map_err(|e| unavailable(p, e))?;
    Ok(rows.into_iter().map(|r| r.1).collect())
}

/// Every id (for finding deleted rows).
fn ids(conn: &Connection, p: &TablePlan) -> Result<Vec<String>, SourceError> {
    let sql = format!("SELECT {} FROM {}", p.id_sql(), quote(&p.table));
    let mut stmt = conn.prepare_cached(&sql).map_err(|e| unavailable(p, e))?;
    let rows = stmt
        .query_map([], |r| Ok(as_text(r.get(0)?).unwrap_or_default()))
        .and_then(|r| r.collect())
        .map_err(|e| unavailable(p, e))?;
    Ok(rows)
}

/// The rows with these ids (a hook's `sync_row` / `sync_batch`); ids not
/// found are absent from the result.
fn by_ids(conn: &Connection, p: &TablePlan, ids: &[String]) -> Result<Vec<SourceRow>, SourceError> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {} = ?1",
        select_list(p),
        quote(&p.table),
        p.id_sql()
    );
    let mut out = Vec::new();
    for id in ids {
        // The id arrives as text; an integer key is compared as an integer.
        let v = match id.parse::<i64>() {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::Text(id.clone()),
        };
        let mut rows = read_rows(conn, p, &sql, vec![v]).map_err(|e| unavailable(p, e))?;
        if rows.is_empty() && id.parse::<i64>().is_ok() {
            rows = read_rows(conn, p, &sql, vec![Value::Text(id.clone())])
                .map_err(|e| unavailable(p, e))?;
        }
        out.extend(rows.into_iter().map(|r| r.1));
    }
    Ok(out)
}

fn unavailable(p: &TablePlan, e: rusqlite::Error) -> SourceError {
    SourceError::Unavailable(format!("reading table `{}`: {e}", p.table))
}
