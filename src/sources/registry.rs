//! The registry: every configured source with its reader, status and
//! lock, built once from `[sources]`; looking sources up, starting their
//! tasks, checking their schemas, and syncing on request.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::config::{self, FilesSource, PostgresSource, SourcesConfig, SqliteSource};
use super::postgres::PostgresReader;
use super::reader::SourceReader;
use super::sqlite::SqliteReader;
use super::status::{Status, TableReport};
use super::table::TablePlan;
use super::{SourceError, Sources};
use crate::config::FirewallConfig;
use crate::store::{DocState, SourceValue, Store};

pub(super) enum Kind {
    Sqlite(SqliteSource),
    Postgres(PostgresSource),
    Files(FilesSource),
}

impl Kind {
    pub(super) fn as_str(&self) -> &'static str {
        match self {
            Kind::Sqlite(_) => "sqlite",
            Kind::Postgres(_) => "postgres",
            Kind::Files(_) => "files",
        }
    }
}

/// What a source's syncs keep between operations (behind its lock).
#[derive(Default)]
pub(super) struct Runtime {
    pub(super) plans: Option<BTreeMap<String, TablePlan>>,
    pub(super) tables: HashMap<String, TableMem>,
    pub(super) docs: Option<HashMap<String, DocState>>,
}

#[derive(Default)]
pub(super) struct TableMem {
    /// Row id → fingerprint of every concept of the table.
    pub(super) fps: HashMap<String, String>,
    pub(super) cursor: Option<SourceValue>,
}

pub(super) struct Source {
    pub(super) name: String,
    pub(super) namespace: String,
    pub(super) kind: Kind,
    /// Database sources' reads (None: a folder).
    pub(super) reader: Option<Arc<dyn SourceReader>>,
    /// Tables whose concept names carry the source (shared table names).
    pub(super) qualified: HashSet<String>,
    pub(super) status: Mutex<Status>,
    pub(super) rt: tokio::sync::Mutex<Runtime>,
    /// File-system events (watcher thread) → the source's task.
    pub(super) wake: Arc<Notify>,
}

pub(super) struct Inner {
    pub(super) store: Store,
    pub(super) cfg: SourcesConfig,
    /// What the write firewall does with a row's or a chunk's text.
    pub(super) firewall: FirewallConfig,
    pub(super) list: Vec<Arc<Source>>,
}

impl Sources {
    pub fn new(store: Store, cfg: &SourcesConfig, firewall: &FirewallConfig) -> Sources {
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
        let make = |name: &str, namespace: &str, tables: &[String], kind: Kind| {
            let reader: Option<Arc<dyn SourceReader>> = match &kind {
                Kind::Sqlite(q) => Some(Arc::new(SqliteReader::new(q.clone()))),
                Kind::Postgres(p) => Some(Arc::new(PostgresReader::new(p.clone()))),
                Kind::Files(_) => None,
            };
            Arc::new(Source {
                name: name.to_owned(),
                namespace: namespace.to_owned(),
                qualified: tables
                    .iter()
                    .filter(|t| shared.contains(*t))
                    .cloned()
                    .collect(),
                kind,
                reader,
                status: Mutex::new(Status::starting(tables)),
                rt: tokio::sync::Mutex::new(Runtime::default()),
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
                firewall: firewall.clone(),
                list,
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.inner.list.is_empty()
    }

    pub(super) fn get(&self, name: &str) -> Result<&Arc<Source>, SourceError> {
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

    /// The table, if the source allows it (a name from a request or a
    /// notice is checked before it reaches any query).
    pub(super) fn allowed(&self, s: &Source, table: &str) -> Result<String, SourceError> {
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
}

impl Source {
    pub(super) fn allowed_tables(&self) -> &[String] {
        match &self.kind {
            Kind::Sqlite(q) => &q.allowed_tables,
            Kind::Postgres(p) => &p.allowed_tables,
            Kind::Files(_) => &[],
        }
    }
}

impl Runtime {
    pub(super) fn plan(&self, table: &str) -> Result<TablePlan, SourceError> {
        self.plans
            .as_ref()
            .and_then(|p| p.get(table))
            .cloned()
            .ok_or_else(|| {
                SourceError::Unavailable(format!("table `{table}` has not been read yet"))
            })
    }
}

/// Checks each database source of `cfg` against its schema (bounded by its
/// connect timeout). Unreachable sources pass with a warning.
pub async fn check_schemas(cfg: &SourcesConfig) -> Result<(), SourceError> {
    let mut checks = Vec::new();
    for q in &cfg.sqlite {
        let reader = SqliteReader::new(q.clone());
        let name = q.name.clone();
        checks.push(tokio::spawn(async move {
            (name, reader.plans().await.map(|_| ()))
        }));
    }
    for p in &cfg.postgres {
        let reader = PostgresReader::new(p.clone());
        let (name, limit) = (
            p.name.clone(),
            Duration::from_secs(p.connect_timeout_s.max(1) + 5),
        );
        checks.push(tokio::spawn(async move {
            let r = tokio::time::timeout(limit, reader.plans())
                .await
                .unwrap_or_else(|_| Err(SourceError::Unavailable("timed out".into())));
            (name, r.map(|_| ()))
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
