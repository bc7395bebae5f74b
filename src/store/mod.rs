//! The store: one SQLite database in WAL mode, one writer thread, a pool of
//! readers, and the in-memory vector index kept in step with the writer.
//!
//! Invariants:
//! - every write goes through the writer thread ([`writer`]); a write is
//!   acknowledged only after its transaction committed;
//! - blocking SQLite calls never run on async executor threads (the writer
//!   has its own thread, readers run in `spawn_blocking`);
//! - a session's namespace is fixed by its first exchange.

pub mod backup;
mod concepts;
mod documents;
mod dream_backlog;
mod dream_runs;
mod embeddings;
mod eras;
mod error;
mod exchanges;
pub mod export;
mod extraction;
mod facts;
mod fts;
mod gists;
mod inspect;
mod interactions;
mod items;
mod maintenance;
pub mod migrate;
mod quarantine;
mod read;
mod singles;
mod source_state;
pub mod types;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

pub use concepts::{Applied, ConceptEdit, ConceptIn, ConceptView, Concepts, TableTarget};
pub use documents::{Chunk, DocApplied, DocState, DocumentIn, Documents};
pub use dream_backlog::{
    BacklogRows, DreamBacklog, EraMark, GistMonth, NarrativeMark, ProfileMark, ReflectionInput,
    SessionProgress,
};
pub use dream_runs::{DreamRuns, FinishedRun, NewRun};
pub use embeddings::{Backlog, EmbeddingWork, REEMBED_CURSOR, REEMBED_UPTO, Reembed};
pub use eras::{Eras, NewEra};
pub use error::StoreError;
pub use exchanges::{CandidateRows, Conversations};
pub use export::Exports;
pub use extraction::{
    ExtractedFact, Extraction, ExtractionBatch, ExtractionCounts, ExtractionOutcome,
};
pub use facts::{
    Belief, Created, Fact, FactEdit, FactFilter, FactHistory, FactKind, FactRefusal, FactResult,
    FactStatus, Facts, Forgotten, NewFact, retired_fact_partition,
};
pub use fts::{
    DfCache, FtsFixture, FuzzedSearch, LexicalHits, LexicalQuery, Search, or_expression,
};
pub use gists::{GistFacts, GistLookup, Gists, MonthGist, NewGist, TurnRow};
pub use inspect::{Inspect, NamespaceSize};
pub use interactions::{
    ContextRef, ExchangeOrigin, Interaction, InteractionFilter, Interactions, NewInteraction,
    Recorded, Reinforcement,
};
use items::WriteCtx;
pub use items::{Item, ItemSel, ItemWrite, NewItem, Tier, partition};
pub use maintenance::Maintenance;
pub use quarantine::{Mark, MarkCounts, MarkedRow, Quarantine, SCREENED_TIERS, Screened};
pub use read::{Adjacent, PendingRow};
pub use singles::{NewProfile, Single, SingleTiers, Singles};
pub use source_state::{SourceState, SourceValue, TableState};
pub use types::*;
pub use writer::{ImportMsg, blob_to_vector, vector_to_blob};

use crate::config::{StartupCheck, StoreConfig, Synchronous};
use crate::index::{Params, VectorIndex, persist};
use read::ReadPool;
use writer::{WriteOp, Writer};

/// A store in a fresh temp dir with a test model of `dim` dimensions, for
/// the store's unit tests; the dir goes when the `TempDir` is dropped.
#[cfg(test)]
pub(crate) fn test_store(dim: usize) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let model = ModelSpec {
        name: "test".into(),
        dim,
    };
    let (store, _) =
        Store::open(&dir.path().join("t.db"), &StoreConfig::default(), &model).unwrap();
    (dir, store)
}

/// Cheap to clone; all clones share one writer, one pool and one index.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db_path: PathBuf,
    writer_tx: mpsc::Sender<WriteOp>,
    readers: ReadPool,
    index: Arc<RwLock<VectorIndex>>,
    model_id: i64,
    model_name: String,
    /// Where the index layout is saved at checkpoints (None: never saved).
    layout_path: Option<PathBuf>,
    heartbeat: Arc<std::sync::atomic::AtomicU64>,
    reclustering: Arc<std::sync::atomic::AtomicBool>,
    /// The daemon's event bus: the store is made first, so it holds the
    /// bus that the rest of the daemon is handed (see [`Store::events`]);
    /// client writes are published here once committed.
    events: crate::events::Events,
    writer_thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The embedding model whose vectors the index holds.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub name: String,
    pub dim: usize,
}

#[derive(Debug, Clone)]
pub struct OpenReport {
    pub schema_before: u32,
    pub schema_after: u32,
    pub vectors_loaded: usize,
    pub index_load: Duration,
    /// How the index was built: from the saved layout, from scratch, and why.
    pub index_layout: String,
}

/// The vector index's parameters and where its layout is saved.
#[derive(Debug, Clone, Default)]
pub struct IndexOptions {
    pub params: Params,
    pub layout_path: Option<PathBuf>,
}

impl Store {
    /// Opens (creating if needed) the database at `db_path`, applies
    /// migrations, loads the index and starts the writer thread. Blocking:
    /// call from a blocking context.
    pub fn open(
        db_path: &Path,
        cfg: &StoreConfig,
        model: &ModelSpec,
    ) -> Result<(Store, OpenReport), StoreError> {
        Self::open_with(db_path, cfg, model, IndexOptions::default())
    }

    /// [`open`](Self::open) with the index's own options.
    pub fn open_with(
        db_path: &Path,
        cfg: &StoreConfig,
        model: &ModelSpec,
        index_opts: IndexOptions,
    ) -> Result<(Store, OpenReport), StoreError> {
        let existed = db_path.exists();
        let mut conn = open_connection(db_path, cfg, false)?;
        if existed && cfg.startup_check != StartupCheck::Off {
            let problems = backup::check(&conn, cfg.startup_check == StartupCheck::Full).or_else(
                |e| match e {
                    StoreError::Sqlite(e) => Ok(vec![e.to_string()]),
                    StoreError::Corrupt(m) => Ok(vec![m]),
                    other => Err(other),
                },
            )?;
            if !problems.is_empty() {
                let mut shown: Vec<String> = problems.iter().take(5).cloned().collect();
                if problems.len() > 5 {
                    shown.push(format!("… {} more", problems.len() - 5));
                }
                return Err(StoreError::FailedCheck {
                    path: db_path.to_owned(),
                    problems: shown.join("; "),
                });
            }
        }
        let journal: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "cannot switch {} to WAL mode (got {journal})",
                db_path.display()
            )));
        }
        let (schema_before, schema_after) = migrate::migrate(&mut conn)?;
        let model_id = register_model(&conn, model)?;

        let started = Instant::now();
        let mut index = VectorIndex::with_params(model.dim, index_opts.params);
        let (layout, index_layout) = match &index_opts.layout_path {
            None => (None, "not kept (index.layout_file = false)".to_owned()),
            Some(p) => match persist::load(p, &model.name, model.dim) {
                Ok(Some(l)) => (Some(l), format!("placed by {}", p.display())),
                Ok(None) => (
                    None,
                    "built from scratch (no saved layout for this model)".into(),
                ),
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "ignoring the saved index layout; rebuilding the index");
                    (
                        None,
                        format!("built from scratch ({} unusable: {e})", p.display()),
                    )
                }
            },
        };
        index.begin_bulk(layout);
        load_index(&conn, model_id, &mut index)?;
        items::load_item_vectors(&conn, model_id, &mut index)?;
        facts::load_fact_vectors(&conn, model_id, &mut index)?;
        index.finish_bulk();
        let vectors_loaded = index.len();
        let index = Arc::new(RwLock::new(index));

        let readers = (0..cfg.read_connections)
            .map(|_| open_connection(db_path, cfg, true))
            .collect::<Result<Vec<_>, _>>()?;

        let (writer_tx, rx) = mpsc::channel(1024);
        let heartbeat = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let reclustering: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let writer = Writer {
            conn,
            rx,
            index: index.clone(),
            model_id,
            max_batch_ops: cfg.max_batch_ops,
            heartbeat: heartbeat.clone(),
            reclustering: reclustering.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("memd-writer".into())
            .spawn(move || writer.run())
            .map_err(|source| StoreError::Io {
                path: db_path.to_owned(),
                source,
            })?;
        let store = Store {
            inner: Arc::new(Inner {
                db_path: db_path.to_owned(),
                writer_tx,
                readers: ReadPool::new(readers),
                index,
                model_id,
                model_name: model.name.clone(),
                layout_path: index_opts.layout_path,
                heartbeat,
                reclustering,
                events: crate::events::Events::new(),
                writer_thread: std::sync::Mutex::new(Some(handle)),
            }),
        };
        Ok((
            store,
            OpenReport {
                schema_before,
                schema_after,
                vectors_loaded,
                index_load: started.elapsed(),
                index_layout,
            },
        ))
    }

    /// The daemon's event bus (one per store; clones share it).
    pub fn events(&self) -> crate::events::Events {
        self.inner.events.clone()
    }

    pub fn db_path(&self) -> &Path {
        &self.inner.db_path
    }

    pub fn model_id(&self) -> i64 {
        self.inner.model_id
    }

    /// Grows whenever the writer finishes a unit of work (see the watchdog).
    pub fn writer_heartbeat(&self) -> u64 {
        self.inner
            .heartbeat
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn index(&self) -> &Arc<RwLock<VectorIndex>> {
        &self.inner.index
    }

    /// True while a namespace of the index is being re-clustered.
    pub fn reclustering(&self) -> bool {
        self.inner
            .reclustering
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Saves the index layout so the next start places rows instead of
    /// clustering them again; removes a stale file when no namespace is
    /// partitioned. Returns the file's size. Blocking.
    pub fn save_index_layout(&self) -> Result<Option<u64>, StoreError> {
        let Some(path) = &self.inner.layout_path else {
            return Ok(None);
        };
        // Copy out under the read lock (ids and centroids only), write
        // without it: recall never waits on the disk.
        let layout = self
            .inner
            .index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .layout();
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        if layout.namespaces.is_empty() {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
                _ => return Ok(None),
            }
        }
        persist::save(&layout, &self.inner.model_name, path)
            .map(Some)
            .map_err(io)
    }

    async fn send<T>(
        &self,
        make: impl FnOnce(writer::Reply<T>) -> WriteOp,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .writer_tx
            .send(make(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Inserts rows in one transaction; one outcome per row, in order.
    pub async fn insert(&self, rows: Vec<NewExchange>) -> Result<Vec<InsertOutcome>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let namespaces: std::collections::BTreeSet<String> = rows
            .iter()
            .map(|r| {
                r.namespace
                    .clone()
                    .unwrap_or_else(|| types::DEFAULT_NAMESPACE.to_owned())
            })
            .collect();
        let outcomes = self.send(|reply| WriteOp::Insert { rows, reply }).await?;
        let count = outcomes
            .iter()
            .filter(|o| matches!(o, InsertOutcome::Inserted { .. }))
            .count();
        // Published even when everything was a duplicate: a client was
        // active, which is what the idle trigger listens for.
        for namespace in namespaces {
            self.inner
                .events
                .publish(crate::events::MemdEvent::ExchangesWritten { namespace, count });
        }
        Ok(outcomes)
    }

    /// Deletes a session and its exchanges; `None` if it did not exist.
    pub async fn delete_session(
        &self,
        session_id: String,
    ) -> Result<Option<DeletedSession>, StoreError> {
        let deleted = self
            .send(|reply| WriteOp::DeleteSession {
                session_id: session_id.clone(),
                reply,
            })
            .await;
        self.inner
            .events
            .publish(crate::events::MemdEvent::SessionDeleted { session_id });
        deleted
    }

    /// Runs `f` on the writer thread in its own savepoint of a group
    /// transaction (short: every other write waits for it). The result is
    /// returned once the transaction has committed; an `Err` from `f` rolls
    /// back only its own savepoint. Index changes recorded through the
    /// context apply after the commit.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.send(|reply| WriteOp::Custom(Box::new(writer::Custom { f, reply })))
            .await
    }

    /// Truncates the WAL; returns SQLite's (busy, log pages, checkpointed pages).
    pub async fn wal_checkpoint(&self) -> Result<(i64, i64, i64), StoreError> {
        self.send(WriteOp::WalCheckpoint).await
    }

    /// Starts an all-or-nothing import of export records (see
    /// [`writer::WriteOp::ImportAll`]): send batches on the returned sender,
    /// then `ImportMsg::Commit`; the future resolves to (rows, vectors).
    pub async fn import_all(
        &self,
    ) -> Result<
        (
            std::sync::mpsc::SyncSender<ImportMsg>,
            oneshot::Receiver<Result<(u64, usize), StoreError>>,
        ),
        StoreError,
    > {
        let (tx, batches) = std::sync::mpsc::sync_channel(2);
        let (reply, rx) = oneshot::channel();
        self.inner
            .writer_tx
            .send(WriteOp::ImportAll { batches, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok((tx, rx))
    }

    /// Stores vectors of the current model and updates `meta` keys (None
    /// deletes) in one transaction; returns how many rows still existed.
    pub async fn set_embeddings(
        &self,
        rows: Vec<(i64, Vec<f32>)>,
        meta: Vec<(String, Option<String>)>,
    ) -> Result<usize, StoreError> {
        self.send(|reply| WriteOp::SetEmbeddings { rows, meta, reply })
            .await
    }

    /// Resolves once everything queued before it is committed; the writer's
    /// liveness probe (the watchdog pings only while this answers).
    pub async fn barrier(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .writer_tx
            .send(WriteOp::Barrier(tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
    }

    async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        self.inner.readers.run(f).await
    }

    /// Sizes of the database and its WAL in bytes.
    pub fn file_sizes(&self) -> (u64, u64) {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.inner.db_path.clone().into_os_string();
        wal.push("-wal");
        (size(&self.inner.db_path), size(Path::new(&wal)))
    }

    /// Stops the writer after it has committed what was queued, and waits
    /// for it to close the database. Later writes through any clone fail
    /// with [`StoreError::Closed`]. Blocking.
    pub fn close(self) {
        if self
            .inner
            .writer_tx
            .blocking_send(WriteOp::Shutdown)
            .is_err()
        {
            tracing::debug!("writer already stopped");
        }
        let handle = self
            .inner
            .writer_thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(self);
        if let Some(h) = handle
            && h.join().is_err()
        {
            tracing::error!("writer thread panicked");
        }
    }
}

fn open_connection(
    path: &Path,
    cfg: &StoreConfig,
    read_only: bool,
) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn =
        Connection::open_with_flags(path, flags).map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => {
                StoreError::NotADatabase(path.to_owned(), e.to_string())
            }
            _ => StoreError::from(e),
        })?;
    conn.busy_timeout(Duration::from_millis(cfg.busy_timeout_ms))?;
    let sync = match cfg.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = {sync}; PRAGMA temp_store = MEMORY; \
         SELECT count(*) FROM sqlite_master;"
    ))
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => {
            StoreError::NotADatabase(path.to_owned(), e.to_string())
        }
        _ => StoreError::from(e),
    })?;
    if read_only {
        conn.execute_batch("PRAGMA query_only = ON;")?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn register_model(conn: &Connection, model: &ModelSpec) -> Result<i64, StoreError> {
    let found: Option<(i64, i64)> = conn
        .query_row(
            "SELECT id, dim FROM embed_models WHERE name = ?1",
            [&model.name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match found {
        Some((id, dim)) if dim as usize == model.dim => Ok(id),
        Some((_, dim)) => Err(StoreError::Corrupt(format!(
            "model {} is registered with dimension {dim}, but the embedder reports {}",
            model.name, model.dim
        ))),
        None => {
            conn.execute(
                "INSERT INTO embed_models (name, dim, created_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![model.name, model.dim as i64, crate::time::now_ms()],
            )?;
            Ok(conn.last_insert_rowid())
        }
    }
}

pub(crate) fn load_index(
    conn: &Connection,
    model_id: i64,
    index: &mut VectorIndex,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(
        "SELECT e.id, s.namespace, e.session_id, e.embedding FROM exchanges e
         JOIN sessions s ON s.id = e.session_id
         WHERE e.embed_model_id = ?1 AND e.embedding IS NOT NULL",
    )?;
    let mut rows = stmt.query([model_id])?;
    let mut skipped = 0usize;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let ns: String = r.get(1)?;
        let sid: String = r.get(2)?;
        let blob = r.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?;
        match blob_to_vector(blob) {
            Some(v) if v.len() == index.dim() => index.insert(id, &ns, &sid, &v),
            _ => skipped += 1,
        }
    }
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "exchange vectors with the wrong size were left out of the index"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_default_namespace_is_the_stores() {
        assert_eq!(
            crate::config::sources::DEFAULT_NAMESPACE,
            types::DEFAULT_NAMESPACE
        );
    }

    fn open(dir: &Path) -> Store {
        let model = ModelSpec {
            name: "test".into(),
            dim: 4,
        };
        Store::open(&dir.join("t.db"), &StoreConfig::default(), &model)
            .unwrap()
            .0
    }

    fn row(session: &str, ns: Option<&str>, ext: Option<&str>, text: &str) -> NewExchange {
        NewExchange {
            session_id: session.into(),
            namespace: ns.map(Into::into),
            role: Role::User,
            content: text.into(),
            created_at: 1,
            ext_id: ext.map(Into::into),
            metadata: None,
            embedding: Some(vec![1.0, 0.0, 0.0, 0.0]),
            screen: None,
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn insert_dedup_namespace_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let out = store
            .insert(vec![
                row("s1", Some("alice"), Some("a"), "one"),
                row("s1", None, Some("a"), "one again"),
                row("s1", Some("bob"), None, "wrong namespace"),
                row("s1", None, None, "two"),
            ])
            .await
            .unwrap();
        assert!(
            matches!(&out[0], InsertOutcome::Inserted { namespace, .. } if namespace == "alice")
        );
        assert!(matches!(&out[1], InsertOutcome::Duplicate { .. }));
        assert!(
            matches!(&out[2], InsertOutcome::NamespaceMismatch { existing } if existing == "alice")
        );
        assert!(matches!(&out[3], InsertOutcome::Inserted { .. }));
        assert_eq!(store.index().read().unwrap().len(), 2);
        let counts = store.read(read::counts).await.unwrap();
        assert_eq!((counts.sessions, counts.exchanges), (1, 2));

        let deleted = store.delete_session("s1".into()).await.unwrap().unwrap();
        assert_eq!(deleted.exchanges, 2);
        assert!(store.index().read().unwrap().is_empty());
        assert!(store.delete_session("s1".into()).await.unwrap().is_none());
        store.barrier().await.unwrap();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn reopen_rebuilds_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store
            .insert(vec![row("s", None, None, "x"), row("s", None, None, "y")])
            .await
            .unwrap();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .unwrap();
        let store = open(dir.path());
        assert_eq!(store.index().read().unwrap().len(), 2);
        tokio::task::spawn_blocking(move || store.close())
            .await
            .unwrap();
    }
}
