//! Sources: memory kept in step with databases and folders that stay the
//! source of truth elsewhere.
//!
//! - SQLite and PostgreSQL sources: each row of an allowed table becomes a
//!   *concept* named `table:row_id` (`source/table:row_id` when two sources
//!   share a table name). SQLite files are watched (debounced) and read
//!   read-only; PostgreSQL is polled by a cursor column, optionally woken by
//!   LISTEN/NOTIFY, and fully synced on a schedule to find deletions.
//! - Files sources: watched folders whose Markdown, text and JSONL files
//!   become heading-aware *chunks*.
//!
//! Each source has one task ([`Sources::spawn`]) and one lock: its task,
//! and API calls (`sync`, the row hook), take the lock for each operation,
//! so two syncs of one source never interleave. Reads from a source retry
//! `max_retries` times with linear backoff; a source that stays down is
//! marked `down` in its status and retried every `down_retry_s`, and never
//! stops the daemon or the other sources. memd never writes to a source.
//!
//! Invariant: the in-memory fingerprint map of a table mirrors the
//! `concepts` rows of that table; it is loaded from the store before the
//! first sync and updated only after a write committed.

pub mod chunk;
pub mod config;
mod files;
pub mod memory;
pub mod postgres;
pub mod retry;
pub mod sqlite;
pub mod table;
mod watch;

/// The fuzz harness's path to the cron module (`crate::cron`).
pub use crate::cron as schedule;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::Value;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError};
use config::{FilesSource, PostgresSource, SourcesConfig, SqliteSource};
use memory::{ConceptIn, TableTarget};
use table::{SourceRow, TablePlan};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The configuration does not match the source (or its own shape).
    #[error("{key}: {message}")]
    Config { key: String, message: String },
    /// The source cannot be reached or read right now.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    NotFound(String),
    /// A request that names something the source does not allow.
    #[error("{0}")]
    Refused(String),
}

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
struct Status {
    state: State,
    last_error: Option<String>,
    since: String,
    tables: BTreeMap<String, SyncStats>,
}

enum Kind {
    Sqlite(SqliteSource),
    Postgres(PostgresSource),
    Files(FilesSource),
}

impl Kind {
    fn as_str(&self) -> &'static str {
        match self {
            Kind::Sqlite(_) => "sqlite",
            Kind::Postgres(_) => "postgres",
            Kind::Files(_) => "files",
        }
    }
}

/// What a source's syncs keep between operations (behind its lock).
#[derive(Default)]
struct Runtime {
    plans: Option<BTreeMap<String, TablePlan>>,
    tables: HashMap<String, TableMem>,
    docs: Option<HashMap<String, memory::DocState>>,
}

#[derive(Default)]
struct TableMem {
    /// Row id → fingerprint of every concept of the table.
    fps: HashMap<String, String>,
    cursor: Option<Value>,
}

struct Source {
    name: String,
    namespace: String,
    kind: Kind,
    /// Tables whose concept names carry the source (shared table names).
    qualified: HashSet<String>,
    status: Mutex<Status>,
    rt: tokio::sync::Mutex<Runtime>,
    pg: tokio::sync::Mutex<Option<Arc<tokio_postgres::Client>>>,
    /// File-system events (watcher thread) → the source's task.
    wake: Arc<Notify>,
}

/// All configured sources. Cheap to clone.
#[derive(Clone)]
pub struct Sources {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    cfg: SourcesConfig,
    list: Vec<Arc<Source>>,
}

/// Write batches a sync may have in flight at once. The writer folds
/// queued batches into one transaction, so a full sync pays one commit per
/// up to this many batches instead of one per batch.
const PIPELINE: usize = 16;

/// Batches handed to the writer and not yet awaited, with the fingerprints
/// to record once each has committed.
/// One batch on its way: the write and the (row id, fingerprint) pairs it
/// carries.
type InFlight = (
    JoinHandle<Result<memory::Applied, StoreError>>,
    Vec<(String, String)>,
);

#[derive(Default)]
struct Pending {
    inflight: std::collections::VecDeque<InFlight>,
    written: u64,
    over: u64,
}

/// The table read request of one attempt (retried as a whole).
#[derive(Clone)]
enum ReadReq {
    Page { after: Option<Value>, limit: usize },
    Since(Option<Value>),
    All,
    Ids,
    ByIds(Vec<String>),
}

enum ReadResp {
    Rows(Vec<SourceRow>, Option<Value>),
    Ids(Vec<String>),
}

impl ReadResp {
    fn rows(self) -> (Vec<SourceRow>, Option<Value>) {
        match self {
            ReadResp::Rows(r, v) => (r, v),
            ReadResp::Ids(_) => (Vec::new(), None),
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
    pub fn new(store: Store, cfg: &SourcesConfig) -> Sources {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for t in cfg
            .sqlite
            .iter()
            .flat_map(|s| &s.allowed_tables)
            .chain(cfg.postgres.iter().flat_map(|s| &s.allowed_tables))
        {
            *seen.entry(t.as_str()).or_default() += 1;
        }
        let shared: HashSet<String> = seen
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(t, _)| t.to_owned())
            .collect();
        let now = crate::time::to_rfc3339(crate::time::now_ms());
        let make = |name: &str, namespace: &str, tables: &[String], kind: Kind| {
            let mut status = Status {
                state: State::Starting,
                last_error: None,
                since: now.clone(),
                tables: BTreeMap::new(),
            };
            for t in tables {
                status.tables.insert(t.clone(), SyncStats::default());
            }
            Arc::new(Source {
                name: name.to_owned(),
                namespace: namespace.to_owned(),
                qualified: tables
                    .iter()
                    .filter(|t| shared.contains(*t))
                    .cloned()
                    .collect(),
                kind,
                status: Mutex::new(status),
                rt: tokio::sync::Mutex::new(Runtime::default()),
                pg: tokio::sync::Mutex::new(None),
                wake: Arc::new(Notify::new()),
            })
        };
        let mut list = Vec::new();
        for s in &cfg.sqlite {
            list.push(make(
                &s.name,
                &s.namespace,
                &s.allowed_tables,
                Kind::Sqlite(s.clone()),
            ));
        }
        for s in &cfg.postgres {
            list.push(make(
                &s.name,
                &s.namespace,
                &s.allowed_tables,
                Kind::Postgres(s.clone()),
            ));
        }
        for s in &cfg.files {
            list.push(make(
                &s.name,
                &s.namespace,
                &["files".to_owned()],
                Kind::Files(s.clone()),
            ));
        }
        Sources {
            inner: Arc::new(Inner {
                store,
                cfg: cfg.clone(),
                list,
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.inner.list.is_empty()
    }

    fn get(&self, name: &str) -> Result<&Arc<Source>, SourceError> {
        self.inner
            .list
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| SourceError::NotFound(format!("no source named `{name}`")))
    }

    /// Checks every reachable database source's tables and columns against
    /// its schema. A mismatch is an error (naming source and key); an
    /// unreachable source is only logged (its task keeps trying).
    pub async fn check_schemas(&self) -> Result<(), SourceError> {
        check_schemas(&self.inner.cfg).await
    }

    /// Starts one task per source; each stops when `cancel` fires.
    pub fn spawn(&self, cancel: CancellationToken) -> Vec<JoinHandle<()>> {
        self.inner
            .list
            .iter()
            .map(|s| {
                let (me, src, cancel) = (self.clone(), s.clone(), cancel.clone());
                tokio::spawn(async move { me.run(src, cancel).await })
            })
            .collect()
    }

    /// Each source with its state and stats (`GET /v1/sources`).
    pub async fn list(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for s in &self.inner.list {
            let st = s.status.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let (name, store) = (s.name.clone(), self.inner.store.clone());
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
                        .read(move |c| memory::document_counts(c, &name))
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
                        let (n, tname) = (name.clone(), t.clone());
                        let (concepts, removed) = store
                            .read(move |c| memory::concept_counts(c, &n, &tname))
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

    /// `POST /v1/sources/{name}/sync`: syncs now (one table or all), and
    /// waits for it.
    pub async fn sync(
        &self,
        name: &str,
        table: Option<&str>,
        full: bool,
    ) -> Result<Vec<TableReport>, SourceError> {
        let s = self.get(name)?.clone();
        if let Kind::Files(_) = s.kind {
            if table.is_some_and(|t| t != "files") {
                return Err(SourceError::Refused(format!(
                    "source `{name}` is a folder; it has no tables"
                )));
            }
            let mut rt = s.rt.lock().await;
            let r = self.scan_files(&s, &mut rt, full).await;
            return self.outcome(&s, "files", r).map(|r| vec![r]);
        }
        let tables = match table {
            Some(t) => vec![self.allowed(&s, t)?],
            None => s.allowed_tables().to_vec(),
        };
        let mut rt = s.rt.lock().await;
        if let Err(e) = self.ensure_plans(&s, &mut rt).await {
            return self.outcome(&s, &tables[0], Err(e)).map(|_| Vec::new());
        }
        let mut out = Vec::new();
        for t in tables {
            let r = if full {
                self.full_sync_table(&s, &mut rt, &t).await
            } else {
                self.incremental(&s, &mut rt, &t).await
            };
            out.push(self.outcome(&s, &t, r)?);
        }
        Ok(out)
    }

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
                let (found, _) = self
                    .read(&s, &plan, ReadReq::ByIds(ids.clone()))
                    .await?
                    .rows();
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

    /// Records a sync's result in the table's stats.
    fn outcome(
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
    fn wrote(&self, source: &str) {
        self.inner
            .store
            .events()
            .publish(crate::events::MemdEvent::SourceSynced {
                source: source.to_owned(),
            });
    }

    fn stat(&self, s: &Source, table: &str, f: impl FnOnce(&mut SyncStats)) {
        let mut st = s.status.lock().unwrap_or_else(|p| p.into_inner());
        f(st.tables.entry(table.to_owned()).or_default());
    }

    fn allowed(&self, s: &Source, table: &str) -> Result<String, SourceError> {
        if !config::is_identifier(table) {
            return Err(SourceError::Refused(format!(
                "`{table}` is not a plain table name; refused"
            )));
        }
        if !s.allowed_tables().iter().any(|t| t == table) {
            return Err(SourceError::Refused(format!(
                "table `{table}` is not in allowed_tables of source `{}`",
                s.name
            )));
        }
        Ok(table.to_owned())
    }

    // ---- database sources -------------------------------------------------

    /// Reads the source's schema (first use, or after it was down) and the
    /// tables' fingerprints and cursors from the store.
    async fn ensure_plans(&self, s: &Source, rt: &mut Runtime) -> Result<(), SourceError> {
        if rt.plans.is_none() {
            let plans = match &s.kind {
                Kind::Sqlite(q) => {
                    let q = q.clone();
                    tokio::task::spawn_blocking(move || {
                        let conn = sqlite::open(&q.path)?;
                        sqlite::plans(&conn, &q)
                    })
                    .await
                    .map_err(|e| SourceError::Unavailable(e.to_string()))??
                }
                Kind::Postgres(p) => {
                    let client = self.pg(s).await?;
                    match postgres::plans(&client, p).await {
                        Ok(p) => p,
                        Err(e) => {
                            *s.pg.lock().await = None;
                            return Err(e);
                        }
                    }
                }
                Kind::Files(_) => Vec::new(),
            };
            rt.plans = Some(plans.into_iter().map(|p| (p.table.clone(), p)).collect());
        }
        for t in s.allowed_tables() {
            if rt.tables.contains_key(t) {
                continue;
            }
            let (name, table) = (s.name.clone(), t.clone());
            let (fps, cursor) = self
                .inner
                .store
                .read(move |c| {
                    Ok((
                        memory::load_fingerprints(c, &name, &table)?,
                        memory::load_cursor(c, &name, &table)?,
                    ))
                })
                .await?;
            rt.tables.insert(t.clone(), TableMem { fps, cursor });
        }
        Ok(())
    }

    async fn pg(&self, s: &Source) -> Result<Arc<tokio_postgres::Client>, SourceError> {
        let Kind::Postgres(p) = &s.kind else {
            return Err(SourceError::Unavailable("not a postgres source".into()));
        };
        let mut slot = s.pg.lock().await;
        if let Some(c) = slot.as_ref()
            && !c.is_closed()
        {
            return Ok(c.clone());
        }
        let c = Arc::new(postgres::connect(p).await?);
        *slot = Some(c.clone());
        Ok(c)
    }

    async fn read_once(
        &self,
        s: &Source,
        plan: &TablePlan,
        req: &ReadReq,
    ) -> Result<ReadResp, SourceError> {
        match &s.kind {
            Kind::Sqlite(q) => {
                let (path, plan, req) = (q.path.clone(), plan.clone(), req.clone());
                tokio::task::spawn_blocking(move || {
                    let conn = sqlite::open(&path)?;
                    Ok(match req {
                        ReadReq::Page { after, limit } => {
                            let (rows, last) = sqlite::page(&conn, &plan, after.as_ref(), limit)?;
                            ReadResp::Rows(rows, last)
                        }
                        ReadReq::Since(from) => {
                            let (rows, max) = sqlite::changed_since(&conn, &plan, from.as_ref())?;
                            ReadResp::Rows(rows, max)
                        }
                        ReadReq::All => ReadResp::Rows(sqlite::all(&conn, &plan)?, None),
                        ReadReq::Ids => ReadResp::Ids(sqlite::ids(&conn, &plan)?),
                        ReadReq::ByIds(ids) => {
                            ReadResp::Rows(sqlite::by_ids(&conn, &plan, &ids)?, None)
                        }
                    })
                })
                .await
                .map_err(|e| SourceError::Unavailable(e.to_string()))?
            }
            Kind::Postgres(_) => {
                let client = self.pg(s).await?;
                let text = |v: &Value| match v {
                    Value::Text(t) => t.clone(),
                    Value::Integer(i) => i.to_string(),
                    Value::Real(f) => f.to_string(),
                    _ => String::new(),
                };
                let r = match req {
                    ReadReq::Page { after, limit } => {
                        let a = after.as_ref().map(text);
                        postgres::page(&client, plan, a.as_deref(), *limit)
                            .await
                            .map(|rows| {
                                let last = rows.last().map(|r| Value::Text(r.id.clone()));
                                ReadResp::Rows(rows, last)
                            })
                    }
                    ReadReq::Since(from) => {
                        let f = from.as_ref().map(text);
                        postgres::changed_since(&client, plan, f.as_deref())
                            .await
                            .map(|rows| {
                                let max = rows
                                    .iter()
                                    .rev()
                                    .find_map(|r| r.marker.clone())
                                    .map(Value::Text);
                                ReadResp::Rows(rows, max)
                            })
                    }
                    ReadReq::All => postgres::all(&client, plan)
                        .await
                        .map(|r| ReadResp::Rows(r, None)),
                    ReadReq::Ids => postgres::all(&client, plan)
                        .await
                        .map(|r| ReadResp::Ids(r.into_iter().map(|r| r.id).collect())),
                    ReadReq::ByIds(ids) => postgres::by_ids(&client, plan, ids)
                        .await
                        .map(|r| ReadResp::Rows(r, None)),
                };
                if r.is_err() && client.is_closed() {
                    *s.pg.lock().await = None;
                }
                r
            }
            Kind::Files(_) => Err(SourceError::Refused("a folder has no tables".into())),
        }
    }

    /// One read with the retry policy; retries are counted in the stats.
    async fn read(
        &self,
        s: &Source,
        plan: &TablePlan,
        req: ReadReq,
    ) -> Result<ReadResp, SourceError> {
        let policy = retry::Policy::new(self.inner.cfg.max_retries, self.inner.cfg.retry_delay_s);
        let never = CancellationToken::new();
        retry::retry(
            policy,
            &never,
            |n, e: &SourceError| {
                tracing::debug!(source = %s.name, table = %plan.table, retry = n, error = %e, "retrying a source read");
                self.stat(s, &plan.table, |t| t.retries += 1);
            },
            || async {
                match self.read_once(s, plan, &req).await {
                    // A schema problem does not go away by retrying.
                    Err(e @ SourceError::Config { .. }) => Err(e),
                    r => r,
                }
            },
        )
        .await
    }

    fn target(&self, s: &Source, table: &str) -> TableTarget {
        TableTarget {
            source: s.name.clone(),
            table: table.to_owned(),
            namespace: s.namespace.clone(),
            default_strength: self.inner.cfg.default_strength,
        }
    }

    fn concept_name(&self, s: &Source, table: &str, id: &str) -> String {
        if s.qualified.contains(table) {
            format!("{}/{table}:{id}", s.name)
        } else {
            format!("{table}:{id}")
        }
    }

    /// Writes the rows whose fingerprint changed and waits for them;
    /// returns (written, overwrite warnings).
    async fn apply(
        &self,
        s: &Source,
        rt: &mut Runtime,
        table: &str,
        rows: Vec<SourceRow>,
    ) -> Result<(u64, u64), SourceError> {
        let mut p = Pending::default();
        self.submit(s, rt, table, rows, &mut p);
        self.settle(s, rt, table, &mut p, 0).await?;
        Ok((p.written, p.over))
    }

    /// Hands the changed rows to the writer in `batch_size` batches without
    /// waiting for them (see [`Pending`]).
    fn submit(
        &self,
        s: &Source,
        rt: &mut Runtime,
        table: &str,
        rows: Vec<SourceRow>,
        p: &mut Pending,
    ) {
        let mem = rt.tables.entry(table.to_owned()).or_default();
        let total = rows.len() as u64;
        let mut changed: Vec<ConceptIn> = Vec::new();
        let mut in_batch = HashSet::new();
        for r in rows {
            let fp = r.fingerprint();
            if mem.fps.get(&r.id) == Some(&fp) || !in_batch.insert(r.id.clone()) {
                continue;
            }
            changed.push(ConceptIn {
                name: self.concept_name(s, table, &r.id),
                row_id: r.id,
                text: r.text,
                fingerprint: fp,
                marker: r.marker,
            });
        }
        self.stat(s, table, |t| t.unchanged += total - changed.len() as u64);
        let target = self.target(s, table);
        for batch in changed.chunks(self.inner.cfg.batch_size) {
            let (t, rows, now) = (target.clone(), batch.to_vec(), crate::time::now_ms());
            let store = self.inner.store.clone();
            // Spawned so that it reaches the writer now, not when awaited.
            let handle = tokio::spawn(async move {
                store
                    .write(move |ctx| memory::apply_concepts(ctx, &t, rows, now))
                    .await
            });
            let fps = batch
                .iter()
                .map(|c| (c.row_id.clone(), c.fingerprint.clone()))
                .collect();
            p.inflight.push_back((handle, fps));
        }
    }

    /// Waits until at most `max` batches are in flight, recording what the
    /// committed ones wrote. After an error every batch is still awaited
    /// (the fingerprints stay true to the store), then the error returns.
    async fn settle(
        &self,
        s: &Source,
        rt: &mut Runtime,
        table: &str,
        p: &mut Pending,
        max: usize,
    ) -> Result<(), SourceError> {
        let mem = rt.tables.entry(table.to_owned()).or_default();
        let (mut written, mut over) = (0, 0);
        let mut failed: Option<SourceError> = None;
        while p.inflight.len() > max || (failed.is_some() && !p.inflight.is_empty()) {
            let (handle, fps) = p.inflight.pop_front().expect("non-empty");
            match handle.await {
                Ok(Ok(applied)) => {
                    mem.fps.extend(fps);
                    for name in &applied.overwritten {
                        tracing::warn!(source = %s.name, concept = %name, "the source changed a concept the user had edited; the edit was overwritten");
                    }
                    written += applied.written;
                    over += applied.overwritten.len() as u64;
                }
                Ok(Err(e)) => {
                    failed.get_or_insert(e.into());
                }
                Err(e) => {
                    failed.get_or_insert(SourceError::Unavailable(format!("write task: {e}")));
                }
            }
        }
        if written > 0 {
            self.wrote(&s.name);
        }
        p.written += written;
        p.over += over;
        self.stat(s, table, |t| {
            t.synced += written;
            t.overwrite_warnings += over;
        });
        failed.map_or(Ok(()), Err)
    }

    async fn delete_rows(
        &self,
        s: &Source,
        rt: &mut Runtime,
        table: &str,
        ids: Vec<String>,
    ) -> Result<u64, SourceError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let target = self.target(s, table);
        let mut n = 0;
        for batch in ids.chunks(self.inner.cfg.batch_size) {
            let (t, batch_ids) = (target.clone(), batch.to_vec());
            n += self
                .inner
                .store
                .write(move |ctx| memory::delete_concepts(ctx, &t, &batch_ids))
                .await?;
            if let Some(mem) = rt.tables.get_mut(table) {
                for id in batch {
                    mem.fps.remove(id);
                }
            }
        }
        self.stat(s, table, |t| t.deleted += n);
        Ok(n)
    }

    /// Reads the whole table in `batch_size` pages (by id), writes what
    /// changed and removes concepts whose rows are gone.
    async fn full_sync_table(
        &self,
        s: &Source,
        rt: &mut Runtime,
        table: &str,
    ) -> Result<TableReport, SourceError> {
        let plan = rt.plan(table)?;
        let batch = self.inner.cfg.batch_size;
        let mut report = TableReport {
            table: table.to_owned(),
            full: true,
            ..Default::default()
        };
        let mut seen: HashSet<String> = HashSet::new();
        let mut after: Option<Value> = None;
        // Pages are read while the previous ones are being written.
        let mut p = Pending::default();
        let r: Result<(), SourceError> = async {
            loop {
                let (rows, last) = self
                    .read(
                        s,
                        &plan,
                        ReadReq::Page {
                            after: after.clone(),
                            limit: batch,
                        },
                    )
                    .await?
                    .rows();
                let n = rows.len();
                report.rows += n as u64;
                seen.extend(rows.iter().map(|r| r.id.clone()));
                self.submit(s, rt, table, rows, &mut p);
                self.settle(s, rt, table, &mut p, PIPELINE).await?;
                if n < batch || last.is_none() {
                    return Ok(());
                }
                after = last;
            }
        }
        .await;
        let settled = self.settle(s, rt, table, &mut p, 0).await;
        r.and(settled)?;
        report.synced = p.written;
        report.overwrite_warnings = p.over;
        let gone: Vec<String> = rt
            .tables
            .get(table)
            .map(|m| {
                m.fps
                    .keys()
                    .filter(|k| !seen.contains(*k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        report.deleted = self.delete_rows(s, rt, table, gone).await?;
        tracing::info!(source = %s.name, table, rows = report.rows, synced = report.synced, deleted = report.deleted, "full sync");
        Ok(report)
    }

    /// Reads what changed since the last sync: by the cursor column when
    /// there is one, else every row compared by fingerprint. Deleted rows
    /// are found by their ids (PostgreSQL with a cursor: by the full sync).
    async fn incremental(
        &self,
        s: &Source,
        rt: &mut Runtime,
        table: &str,
    ) -> Result<TableReport, SourceError> {
        let plan = rt.plan(table)?;
        let mut report = TableReport {
            table: table.to_owned(),
            ..Default::default()
        };
        let present: Option<HashSet<String>>;
        if plan.cursor.is_some() {
            let from = rt.tables.get(table).and_then(|m| m.cursor.clone());
            let (rows, max) = self
                .read(s, &plan, ReadReq::Since(from.clone()))
                .await?
                .rows();
            report.rows = rows.len() as u64;
            let (w, o) = self.apply(s, rt, table, rows).await?;
            report.synced = w;
            report.overwrite_warnings = o;
            if let Some(max) = max
                && Some(&max) != from.as_ref()
            {
                let (name, t, m, now) = (
                    s.name.clone(),
                    table.to_owned(),
                    max.clone(),
                    crate::time::now_ms(),
                );
                self.inner
                    .store
                    .write(move |ctx| memory::set_cursor(ctx, &name, &t, &m, now))
                    .await?;
                rt.tables.entry(table.to_owned()).or_default().cursor = Some(max);
            }
            present = match s.kind {
                Kind::Sqlite(_) => match self.read(s, &plan, ReadReq::Ids).await? {
                    ReadResp::Ids(ids) => Some(ids.into_iter().collect()),
                    ReadResp::Rows(..) => None,
                },
                _ => None,
            };
        } else {
            let (rows, _) = self.read(s, &plan, ReadReq::All).await?.rows();
            report.rows = rows.len() as u64;
            present = Some(rows.iter().map(|r| r.id.clone()).collect());
            let (w, o) = self.apply(s, rt, table, rows).await?;
            report.synced = w;
            report.overwrite_warnings = o;
        }
        if let Some(present) = present {
            let gone: Vec<String> = rt
                .tables
                .get(table)
                .map(|m| {
                    m.fps
                        .keys()
                        .filter(|k| !present.contains(*k))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            report.deleted = self.delete_rows(s, rt, table, gone).await?;
        }
        if report.synced + report.deleted > 0 {
            tracing::info!(source = %s.name, table, synced = report.synced, deleted = report.deleted, "synced changes");
        }
        Ok(report)
    }

    async fn apply_notice(&self, s: &Source, n: postgres::Notice) -> Result<(), SourceError> {
        let Ok(table) = self.allowed(s, &n.table) else {
            tracing::debug!(source = %s.name, table = %n.table, "ignoring a notice for a table that is not allowed");
            return Ok(());
        };
        let Some(id) = n.id else { return Ok(()) };
        let mut rt = s.rt.lock().await;
        let r = async {
            if n.op.eq_ignore_ascii_case("DELETE") {
                self.delete_rows(s, &mut rt, &table, vec![id]).await?;
                return Ok(TableReport::default());
            }
            self.ensure_plans(s, &mut rt).await?;
            let plan = rt.plan(&table)?;
            let (rows, _) = self
                .read(s, &plan, ReadReq::ByIds(vec![id.clone()]))
                .await?
                .rows();
            if rows.is_empty() {
                self.delete_rows(s, &mut rt, &table, vec![id]).await?;
            } else {
                self.apply(s, &mut rt, &table, rows).await?;
            }
            Ok(TableReport::default())
        }
        .await;
        self.outcome(s, &table, r).map(|_| ())
    }

    /// Every table, full or incremental; the first error stops the round.
    async fn sync_all(&self, s: &Source, full: bool) -> Result<(), SourceError> {
        let mut rt = s.rt.lock().await;
        if let Err(e) = self.ensure_plans(s, &mut rt).await {
            let first = s.allowed_tables().first().cloned().unwrap_or_default();
            return self.outcome(s, &first, Err(e)).map(|_| ());
        }
        for t in s.allowed_tables() {
            let r = if full {
                self.full_sync_table(s, &mut rt, t).await
            } else {
                self.incremental(s, &mut rt, t).await
            };
            if let Err(e) = self.outcome(s, t, r) {
                // The schema may have changed under us: check it again
                // before the next attempt.
                rt.plans = None;
                return Err(e);
            }
        }
        Ok(())
    }

    // ---- the source's task -------------------------------------------------

    async fn run(&self, s: Arc<Source>, cancel: CancellationToken) {
        match &s.kind {
            Kind::Files(f) => self.run_files(&s, f.clone(), cancel).await,
            _ => self.run_db(&s, cancel).await,
        }
    }

    async fn run_db(&self, s: &Arc<Source>, cancel: CancellationToken) {
        let down_retry = Duration::from_secs(self.inner.cfg.down_retry_s);
        let quiet = Duration::from_millis(self.inner.cfg.debounce_ms);
        let (poll, schedule, channel) = match &s.kind {
            Kind::Sqlite(q) => (None, q.full_sync_schedule.clone(), None),
            Kind::Postgres(p) => (
                Some(Duration::from_secs(p.poll_interval_s)),
                p.full_sync_schedule.clone(),
                p.notify_channel.clone(),
            ),
            Kind::Files(_) => unreachable!("files sources run run_files"),
        };
        let schedule = schedule.and_then(|e| schedule::parse(&e).ok());
        let mut _watch = None;
        if let Kind::Sqlite(q) = &s.kind
            && q.watch
        {
            let files = watch::sqlite_files(&q.path);
            let dir = q
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."))
                .to_owned();
            match watch::watch(
                &dir,
                false,
                move |p| files.iter().any(|f| f == p),
                s.wake.clone(),
            ) {
                Ok(w) => _watch = Some(w),
                Err(e) => {
                    tracing::warn!(source = %s.name, error = %e, "not watching; changes are read on the schedule or on request")
                }
            }
        }
        // Notices of the LISTEN connection → this task.
        let (ntx, mut nrx) = mpsc::channel::<postgres::Notice>(1024);
        let listener = match (&s.kind, channel) {
            (Kind::Postgres(p), Some(ch)) => {
                let (p, cancel) = (p.clone(), cancel.clone());
                Some(tokio::spawn(async move {
                    loop {
                        let r = postgres::listen(&p, &ch, ntx.clone()).await;
                        if let Err(e) = r {
                            tracing::debug!(source = %p.name, error = %e, "listen connection ended");
                        }
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            _ = tokio::time::sleep(down_retry) => {}
                        }
                    }
                }))
            }
            _ => None,
        };
        // Catch up at start: a full pass finds what changed while memd was
        // stopped, deletions included.
        let mut healthy = self.sync_all(s, true).await.is_ok();
        loop {
            let next_full = schedule.as_ref().and_then(schedule::until_next);
            let wait = if healthy { poll } else { Some(down_retry) };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = s.wake.notified() => {
                    watch::debounce(&s.wake, quiet).await;
                    if cancel.is_cancelled() { break; }
                    // After an outage, the first pass is a full one.
                    healthy = self.sync_all(s, !healthy).await.is_ok();
                }
                Some(n) = nrx.recv() => {
                    if healthy && self.apply_notice(s, n).await.is_err() {
                        healthy = false;
                    }
                }
                _ = sleep_opt(wait) => {
                    healthy = self.sync_all(s, !healthy).await.is_ok();
                }
                _ = sleep_opt(next_full) => {
                    tracing::info!(source = %s.name, "scheduled full sync");
                    healthy = self.sync_all(s, true).await.is_ok();
                }
            }
        }
        if let Some(l) = listener {
            l.abort();
        }
    }

    async fn run_files(&self, s: &Arc<Source>, f: FilesSource, cancel: CancellationToken) {
        let down_retry = Duration::from_secs(self.inner.cfg.down_retry_s);
        let quiet = Duration::from_millis(self.inner.cfg.debounce_ms);
        let mut _watch = None;
        let mut healthy = false;
        loop {
            if _watch.is_none() {
                match watch::watch(&f.path, true, |_| true, s.wake.clone()) {
                    Ok(w) => _watch = Some(w),
                    Err(e) => {
                        let r = Err(SourceError::Unavailable(e));
                        let _ = self.outcome(s, "files", r);
                    }
                }
            }
            if _watch.is_some() && !healthy {
                let mut rt = s.rt.lock().await;
                let r = self.scan_files(s, &mut rt, false).await;
                healthy = self.outcome(s, "files", r).is_ok();
            }
            let wait = if healthy { None } else { Some(down_retry) };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = s.wake.notified() => {
                    watch::debounce(&s.wake, quiet).await;
                    if cancel.is_cancelled() { break; }
                    let mut rt = s.rt.lock().await;
                    let r = self.scan_files(s, &mut rt, false).await;
                    healthy = self.outcome(s, "files", r).is_ok();
                }
                _ = sleep_opt(wait) => {
                    healthy = false;
                    _watch = None;
                }
            }
        }
    }

    async fn scan_files(
        &self,
        s: &Source,
        rt: &mut Runtime,
        full: bool,
    ) -> Result<TableReport, SourceError> {
        let Kind::Files(f) = &s.kind else {
            return Err(SourceError::Refused("not a files source".into()));
        };
        if rt.docs.is_none() {
            let name = s.name.clone();
            rt.docs = Some(
                self.inner
                    .store
                    .read(move |c| memory::load_documents(c, &name))
                    .await?,
            );
        }
        files::scan(self, s, f, rt.docs.as_mut().expect("loaded"), full).await
    }
}

impl Source {
    fn allowed_tables(&self) -> &[String] {
        match &self.kind {
            Kind::Sqlite(q) => &q.allowed_tables,
            Kind::Postgres(p) => &p.allowed_tables,
            Kind::Files(_) => &[],
        }
    }
}

impl Runtime {
    fn plan(&self, table: &str) -> Result<TablePlan, SourceError> {
        self.plans
            .as_ref()
            .and_then(|p| p.get(table))
            .cloned()
            .ok_or_else(|| {
                SourceError::Unavailable(format!("table `{table}` has not been read yet"))
            })
    }
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Checks each database source of `cfg` against its schema (bounded by its
/// connect timeout). Unreachable sources pass with a warning.
pub async fn check_schemas(cfg: &SourcesConfig) -> Result<(), SourceError> {
    let mut checks = Vec::new();
    for q in &cfg.sqlite {
        let q = q.clone();
        checks.push(tokio::spawn(async move {
            let name = q.name.clone();
            let r = tokio::task::spawn_blocking(move || {
                let conn = sqlite::open(&q.path)?;
                sqlite::plans(&conn, &q).map(|_| ())
            })
            .await
            .unwrap_or_else(|e| Err(SourceError::Unavailable(e.to_string())));
            (name, r)
        }));
    }
    for p in &cfg.postgres {
        let p = p.clone();
        checks.push(tokio::spawn(async move {
            let r = async {
                let c = postgres::connect(&p).await?;
                postgres::plans(&c, &p).await.map(|_| ())
            };
            let limit = Duration::from_secs(p.connect_timeout_s.max(1) + 5);
            let r = tokio::time::timeout(limit, r)
                .await
                .unwrap_or_else(|_| Err(SourceError::Unavailable("timed out".into())));
            (p.name.clone(), r)
        }));
    }
    for c in checks {
        let (name, r) = c
            .await
            .map_err(|e| SourceError::Unavailable(e.to_string()))?;
        match r {
            Ok(()) => {}
            Err(e @ SourceError::Config { .. }) => return Err(e),
            Err(e) => {
                tracing::warn!(source = %name, error = %e, "source unreachable at start; retrying in the background")
            }
        }
    }
    Ok(())
}

/// The root of a files source and a file under it → the relative path
/// memory knows the file by.
pub(crate) fn relative(root: &std::path::Path, p: &std::path::Path) -> Option<String> {
    p.strip_prefix(root)
        .ok()
        .map(|r| r.to_string_lossy().into_owned())
}
