//! The single writer: one OS thread owns the only read-write connection.
//!
//! Requests arrive as [`WriteOp`]s on an mpsc channel (senders: the store
//! handle, cloned into every request; receiver: this thread; the channel
//! closes when the last handle is dropped, which ends the thread and closes
//! the database). Ops queued together are folded into one transaction (group
//! commit) with a savepoint each, so one failing op never takes its
//! neighbours down, and every reply is sent only after COMMIT returned: an
//! acknowledged write is a committed write. The vector index is updated
//! between the commit and the replies, so a caller that got its answer can
//! already find (or no longer find) what it wrote.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::export::{Record, insert_records};
use super::items::{Tier, WriteCtx, partition};
use super::types::{DEFAULT_NAMESPACE, DeletedSession, InsertOutcome, NewExchange};
use crate::index::VectorIndex;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub enum ImportMsg {
    Batch(Vec<Record>),
    Commit,
}

/// How long an import-all may wait for its next batch before it is abandoned.
const IMPORT_STALL: std::time::Duration = std::time::Duration::from_secs(60);

pub(crate) enum WriteOp {
    Insert {
        rows: Vec<NewExchange>,
        reply: Reply<Vec<InsertOutcome>>,
    },
    DeleteSession {
        session_id: String,
        reply: Reply<Option<DeletedSession>>,
    },
    /// Answered once every op queued before it has been committed.
    Barrier(oneshot::Sender<()>),
    /// `PRAGMA wal_checkpoint(TRUNCATE)`, outside any transaction.
    WalCheckpoint(Reply<(i64, i64, i64)>),
    /// Loads an export into an empty store in ONE transaction fed by
    /// `batches` (sender: the import-all request; closing it without
    /// `Commit` aborts): all of it lands, or none. Other writes wait.
    ImportAll {
        batches: std::sync::mpsc::Receiver<ImportMsg>,
        reply: Reply<(u64, usize)>,
    },
    /// Stores vectors made by the current model (rows deleted meanwhile
    /// are skipped) and sets or clears `meta` keys in the same transaction.
    SetEmbeddings {
        rows: Vec<(i64, Vec<f32>)>,
        meta: Vec<(String, Option<String>)>,
        reply: Reply<usize>,
    },
    /// A closure from another layer (dream, sources) run in its own
    /// savepoint; it replies itself once the transaction has committed.
    Custom(CustomOp),
    /// Commit what was queued before it, then stop and close the database.
    Shutdown,
}

/// A type-erased [`super::Store::write`] call.
pub(crate) type CustomOp = Box<dyn CustomWrite>;

pub(crate) type Deliver = Box<dyn FnOnce(Option<StoreError>) + Send>;

pub(crate) trait CustomWrite: Send {
    /// Runs against the write context; says whether its savepoint stands
    /// and returns what delivers its result (or the commit's failure).
    fn run(self: Box<Self>, ctx: &mut WriteCtx<'_>) -> (bool, Deliver);
    /// Answers without running (the store is closing, or the transaction
    /// could not begin).
    fn fail(self: Box<Self>, err: StoreError);
}

/// The one implementation: a closure and the caller's reply channel.
pub(crate) struct Custom<T, F> {
    pub f: F,
    pub reply: Reply<T>,
}

impl<T, F> CustomWrite for Custom<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut WriteCtx<'_>) -> Result<T, StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, ctx: &mut WriteCtx<'_>) -> (bool, Deliver) {
        let this = *self;
        let result = (this.f)(ctx);
        let reply = this.reply;
        (
            result.is_ok(),
            Box::new(move |commit_err| {
                let r = match commit_err {
                    Some(e) => Err(e),
                    None => result,
                };
                drop(reply.send(r));
            }),
        )
    }

    fn fail(self: Box<Self>, err: StoreError) {
        drop(self.reply.send(Err(err)));
    }
}

/// What a committed op changes in the in-memory index.
pub(crate) enum IndexEffect {
    Add {
        id: i64,
        namespace: String,
        session_id: String,
        vector: Vec<f32>,
    },
    Remove {
        namespace: String,
        ids: Vec<i64>,
    },
}

impl Pending {
    /// The op's failure when it is the storage's (full disk, read-only or
    /// failing I/O), which then explains a failed transaction.
    fn storage_error(&self) -> Option<StoreError> {
        let err = match self {
            Pending::Count(_, Err(e)) => e,
            Pending::Insert(_, Err(e)) => e,
            Pending::Delete(_, Err(e)) => e,
            _ => return None,
        };
        err.is_storage().then(|| err.duplicate())
    }
}

enum Pending {
    Count(Reply<usize>, Result<usize, StoreError>),
    Insert(
        Reply<Vec<InsertOutcome>>,
        Result<Vec<InsertOutcome>, StoreError>,
    ),
    Delete(
        Reply<Option<DeletedSession>>,
        Result<Option<DeletedSession>, StoreError>,
    ),
    Barrier(oneshot::Sender<()>),
    Custom(Deliver),
}

pub(crate) struct Writer {
    pub conn: Connection,
    pub rx: mpsc::Receiver<WriteOp>,
    pub index: Arc<RwLock<VectorIndex>>,
    pub model_id: i64,
    pub max_batch_ops: usize,
    /// Bumped whenever the writer finishes a unit of work; the watchdog
    /// reads it to tell a long but progressing job from a wedged writer.
    pub heartbeat: Arc<std::sync::atomic::AtomicU64>,
    /// Set while a background thread re-clusters a namespace (one at a time).
    pub reclustering: Arc<std::sync::atomic::AtomicBool>,
}

impl Writer {
    pub fn run(mut self) {
        let mut stop = false;
        while !stop {
            let Some(first) = self.rx.blocking_recv() else {
                break;
            };
            let mut batch = Vec::new();
            let mut next = Some(first);
            while let Some(op) = next {
                let op = match op {
                    WriteOp::Shutdown => {
                        stop = true;
                        break;
                    }
                    // These run alone, outside the group transaction.
                    WriteOp::WalCheckpoint(reply) => {
                        if !batch.is_empty() {
                            self.apply(std::mem::take(&mut batch));
                        }
                        drop(reply.send(self.wal_checkpoint()));
                        next = self.rx.try_recv().ok();
                        continue;
                    }
                    WriteOp::ImportAll { batches, reply } => {
                        if !batch.is_empty() {
                            self.apply(std::mem::take(&mut batch));
                        }
                        drop(reply.send(self.import_all(batches)));
                        next = self.rx.try_recv().ok();
                        continue;
                    }
                    other => other,
                };
                batch.push(op);
                next = if batch.len() < self.max_batch_ops {
                    self.rx.try_recv().ok()
                } else {
                    None
                };
            }
            if !batch.is_empty() {
                self.apply(batch);
            }
        }
        // Ops that raced in after Shutdown see a closed store.
        self.rx.close();
        while let Ok(op) = self.rx.try_recv() {
            fail(op, &StoreError::Closed);
        }
        tracing::debug!("writer stopped; closing the database");
    }

    fn wal_checkpoint(&mut self) -> Result<(i64, i64, i64), StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?)
    }

    fn import_all(
        &mut self,
        batches: std::sync::mpsc::Receiver<ImportMsg>,
    ) -> Result<(u64, usize), StoreError> {
        let heartbeat = self.heartbeat.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = super::export::user_rows(&tx)?;
        if existing > 0 {
            return Err(StoreError::NotEmpty(existing));
        }
        let mut model_map = HashMap::new();
        let mut rows = 0u64;
        loop {
            match batches.recv_timeout(IMPORT_STALL) {
                Ok(ImportMsg::Batch(records)) => {
                    insert_records(&tx, &records, &mut model_map)?;
                    rows += records.len() as u64;
                    heartbeat.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(ImportMsg::Commit) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(StoreError::Invalid(format!(
                        "import stalled for {}s; nothing was loaded",
                        IMPORT_STALL.as_secs()
                    )));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(StoreError::Invalid(
                        "import abandoned; nothing was loaded".into(),
                    ));
                }
            }
        }
        tx.commit()?;
        let vectors = self.reload_index()?;
        Ok((rows, vectors))
    }

    fn reload_index(&mut self) -> Result<usize, StoreError> {
        let (dim, params) = {
            let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
            (idx.dim(), idx.params())
        };
        let mut fresh = VectorIndex::with_params(dim, params);
        fresh.begin_bulk(None);
        super::load_index(&self.conn, self.model_id, &mut fresh)?;
        super::items::load_item_vectors(&self.conn, self.model_id, &mut fresh)?;
        fresh.finish_bulk();
        let n = fresh.len();
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(n)
    }

    /// Hands a namespace that has doubled since it was last clustered to a
    /// background thread (see [`crate::index::recluster`]): recalls and
    /// writes go on while it computes; both wait only for the final swap.
    /// One at a time: a namespace still due is offered again by its next
    /// insert.
    fn recluster_in_background(&mut self, ns: String) {
        use std::sync::atomic::Ordering;
        if self.reclustering.load(Ordering::Acquire) {
            return;
        }
        self.reclustering.store(true, Ordering::Release);
        let (index, flag) = (self.index.clone(), self.reclustering.clone());
        let spawned = std::thread::Builder::new()
            .name("memd-recluster".into())
            .spawn(move || {
                if let Some(r) = crate::index::recluster(&index, &ns) {
                    tracing::info!(
                        namespace = %ns,
                        vectors = r.vectors,
                        cells = r.cells,
                        compute_ms = r.compute.as_millis() as u64,
                        swap_ms = r.swap.as_millis() as u64,
                        "vector index: namespace re-clustered after doubling"
                    );
                }
                flag.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the re-clustering thread; will retry");
            self.reclustering.store(false, Ordering::Release);
        }
    }

    fn beat(&self) {
        self.heartbeat
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn apply(&mut self, batch: Vec<WriteOp>) {
        self.beat();
        let mut pending = Vec::with_capacity(batch.len());
        let mut effects = Vec::new();
        let tx = match self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
        {
            Ok(tx) => tx,
            Err(e) => {
                let err = StoreError::from(e);
                tracing::error!(error = %err, "cannot begin write transaction");
                for op in batch {
                    fail(op, &err);
                }
                return;
            }
        };
        let mut tx = tx;
        let mut ops = batch.into_iter();
        // Set when SQLite rolled the whole transaction back by itself (it
        // may on SQLITE_FULL or an I/O error): nothing in it will commit.
        let mut aborted: Option<StoreError> = None;
        for op in ops.by_ref() {
            match op {
                WriteOp::Insert { rows, reply } => {
                    let result = in_savepoint(&mut tx, |sp| {
                        insert_rows(sp, rows, self.model_id, &mut effects)
                    });
                    pending.push(Pending::Insert(reply, result));
                }
                WriteOp::DeleteSession { session_id, reply } => {
                    let result =
                        in_savepoint(&mut tx, |sp| delete_session(sp, &session_id, &mut effects));
                    pending.push(Pending::Delete(reply, result));
                }
                WriteOp::SetEmbeddings { rows, meta, reply } => {
                    let result = in_savepoint(&mut tx, |sp| {
                        set_embeddings(sp, rows, &meta, self.model_id, &mut effects)
                    });
                    pending.push(Pending::Count(reply, result));
                }
                WriteOp::Custom(f) => {
                    let deliver = run_custom(&mut tx, f, self.model_id, &mut effects);
                    pending.push(Pending::Custom(deliver));
                }
                WriteOp::Barrier(reply) => pending.push(Pending::Barrier(reply)),
                WriteOp::Shutdown | WriteOp::WalCheckpoint(_) | WriteOp::ImportAll { .. } => {}
            }
            if tx.is_autocommit() {
                aborted = Some(
                    pending
                        .iter()
                        .rev()
                        .find_map(Pending::storage_error)
                        .unwrap_or_else(|| {
                            StoreError::Unavailable(
                                "SQLite rolled the write transaction back".into(),
                            )
                        }),
                );
                break;
            }
        }
        let committed = match aborted {
            Some(err) => {
                drop(tx);
                // Ops not yet run see the same failure; none of it is applied.
                for op in ops {
                    fail(op, &err);
                }
                Err(err)
            }
            None => tx.commit().map_err(|e| {
                // A commit that fails after an op hit the storage limit
                // fails for that reason, whatever COMMIT itself reports.
                pending
                    .iter()
                    .rev()
                    .find_map(Pending::storage_error)
                    .unwrap_or_else(|| StoreError::from(e))
            }),
        };
        if let Err(err) = committed {
            if err.is_storage() {
                tracing::warn!(error = %err, "write transaction not committed; nothing in it was acknowledged");
            } else {
                tracing::error!(error = %err, "write transaction failed to commit; nothing in it was acknowledged");
            }
            for p in pending {
                match p {
                    Pending::Count(reply, _) => drop(reply.send(Err(err.duplicate()))),
                    Pending::Insert(reply, _) => drop(reply.send(Err(err.duplicate()))),
                    Pending::Delete(reply, _) => drop(reply.send(Err(err.duplicate()))),
                    Pending::Barrier(reply) => drop(reply.send(())),
                    Pending::Custom(deliver) => deliver(Some(err.duplicate())),
                }
            }
            return;
        }
        // A namespace this batch grew to twice its size at its last
        // clustering (only those it inserted into can have).
        let mut grown: Option<String> = None;
        if !effects.is_empty() {
            let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
            for effect in effects {
                match effect {
                    IndexEffect::Add {
                        id,
                        namespace,
                        session_id,
                        vector,
                    } => {
                        index.insert(id, &namespace, &session_id, &vector);
                        if grown.is_none() && index.needs_repartition(&namespace) {
                            grown = Some(namespace);
                        }
                    }
                    IndexEffect::Remove { namespace, ids } => index.remove(&namespace, &ids),
                }
            }
        }
        if let Some(ns) = grown {
            self.recluster_in_background(ns);
        }
        for p in pending {
            // A dropped receiver means the client went away; the write stands.
            match p {
                Pending::Count(reply, r) => drop(reply.send(r)),
                Pending::Insert(reply, r) => drop(reply.send(r)),
                Pending::Delete(reply, r) => drop(reply.send(r)),
                Pending::Barrier(reply) => drop(reply.send(())),
                Pending::Custom(deliver) => deliver(None),
            }
        }
    }
}

/// Runs a [`WriteOp::Custom`] in its own savepoint; its index effects count
/// only if the savepoint stands.
fn run_custom(
    tx: &mut Transaction<'_>,
    op: CustomOp,
    model_id: i64,
    effects: &mut Vec<IndexEffect>,
) -> Deliver {
    let mut sp = match tx.savepoint() {
        Ok(sp) => sp,
        Err(e) => {
            let err = StoreError::from(e);
            return Box::new(move |_| op.fail(err));
        }
    };
    let mut staged = Vec::new();
    let (ok, deliver) = op.run(&mut WriteCtx {
        conn: &sp,
        effects: &mut staged,
        model_id,
    });
    let kept = if ok {
        sp.commit().map_err(StoreError::from)
    } else {
        // The op's own failure is what its caller hears about.
        if let Err(e) = sp.rollback() {
            tracing::debug!(error = %e, "savepoint rollback after a failed op");
        }
        Ok(())
    };
    match kept {
        Ok(()) => {
            if ok {
                effects.extend(staged);
            }
            deliver
        }
        Err(e) => Box::new(move |_| deliver(Some(e))),
    }
}

fn fail(op: WriteOp, err: &StoreError) {
    match op {
        WriteOp::Insert { reply, .. } => drop(reply.send(Err(err.duplicate()))),
        WriteOp::DeleteSession { reply, .. } => drop(reply.send(Err(err.duplicate()))),
        WriteOp::Barrier(reply) => drop(reply.send(())),
        WriteOp::ImportAll { reply, .. } => drop(reply.send(Err(err.duplicate()))),
        WriteOp::SetEmbeddings { reply, .. } => drop(reply.send(Err(err.duplicate()))),
        WriteOp::WalCheckpoint(reply) => drop(reply.send(Err(err.duplicate()))),
        WriteOp::Custom(op) => op.fail(err.duplicate()),
        WriteOp::Shutdown => {}
    }
}

/// Runs `f` inside a savepoint, so its failure rolls back only its own work.
/// Index effects recorded by a failed op are discarded with it. When the
/// rollback itself fails (SQLite already rolled everything back after a
/// full disk), the op's own error is the one reported.
fn in_savepoint<T>(
    tx: &mut Transaction<'_>,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut sp = tx.savepoint()?;
    match f(&sp) {
        Ok(v) => {
            sp.commit()?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rollback) = sp.rollback() {
                tracing::debug!(error = %rollback, "savepoint rollback after a failed op");
            }
            Err(e)
        }
    }
}

fn insert_rows(
    conn: &Connection,
    rows: Vec<NewExchange>,
    model_id: i64,
    effects: &mut Vec<IndexEffect>,
) -> Result<Vec<InsertOutcome>, StoreError> {
    let mut staged = Vec::new();
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut touched: HashSet<String> = HashSet::new();
    let now = crate::time::now_ms();
    let mut find_session = conn.prepare_cached("SELECT namespace FROM sessions WHERE id = ?1")?;
    let mut new_session = conn.prepare_cached(
        "INSERT INTO sessions (id, namespace, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO exchanges (session_id, role, content, created_at, ext_id, metadata, embedding, embed_model_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (session_id, ext_id) WHERE ext_id IS NOT NULL DO NOTHING
         RETURNING id",
    )?;
    let mut existing =
        conn.prepare_cached("SELECT id FROM exchanges WHERE session_id = ?1 AND ext_id = ?2")?;
    for row in rows {
        let stored_ns: Option<String> = find_session
            .query_row([&row.session_id], |r| r.get(0))
            .optional()?;
        let namespace = match (stored_ns, &row.namespace) {
            (Some(stored), Some(asked)) if &stored != asked => {
                outcomes.push(InsertOutcome::NamespaceMismatch { existing: stored });
                continue;
            }
            (Some(stored), _) => stored,
            (None, asked) => {
                let ns = asked
                    .clone()
                    .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
                new_session.execute(params![row.session_id, ns, now])?;
                ns
            }
        };
        let blob = row.embedding.as_deref().map(vector_to_blob);
        let model = row.embedding.as_ref().map(|_| model_id);
        let id: Option<i64> = insert
            .query_row(
                params![
                    row.session_id,
                    row.role.as_str(),
                    row.content,
                    row.created_at,
                    row.ext_id,
                    row.metadata,
                    blob,
                    model
                ],
                |r| r.get(0),
            )
            .optional()?;
        match id {
            Some(id) => {
                touched.insert(row.session_id.clone());
                if let Some(vector) = row.embedding {
                    staged.push(IndexEffect::Add {
                        id,
                        namespace: namespace.clone(),
                        session_id: row.session_id,
                        vector,
                    });
                }
                outcomes.push(InsertOutcome::Inserted { id, namespace });
            }
            None => {
                let id: i64 =
                    existing.query_row(params![row.session_id, row.ext_id], |r| r.get(0))?;
                outcomes.push(InsertOutcome::Duplicate { id, namespace });
            }
        }
    }
    let mut touch =
        conn.prepare_cached("UPDATE sessions SET updated_at = max(updated_at, ?2) WHERE id = ?1")?;
    for sid in touched {
        touch.execute(params![sid, now])?;
    }
    effects.extend(staged);
    Ok(outcomes)
}

fn set_embeddings(
    conn: &Connection,
    rows: Vec<(i64, Vec<f32>)>,
    meta: &[(String, Option<String>)],
    model_id: i64,
    effects: &mut Vec<IndexEffect>,
) -> Result<usize, StoreError> {
    let mut update = conn.prepare_cached(
        "UPDATE exchanges SET embedding = ?2, embed_model_id = ?3 WHERE id = ?1
         RETURNING session_id, (SELECT namespace FROM sessions s WHERE s.id = exchanges.session_id)",
    )?;
    let mut staged = Vec::with_capacity(rows.len());
    for (id, vector) in rows {
        let found: Option<(String, String)> = update
            .query_row(params![id, vector_to_blob(&vector), model_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let Some((session_id, namespace)) = found {
            staged.push(IndexEffect::Add {
                id,
                namespace,
                session_id,
                vector,
            });
        }
    }
    for (key, value) in meta {
        match value {
            Some(v) => conn.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, v],
            )?,
            None => conn.execute("DELETE FROM meta WHERE key = ?1", [key])?,
        };
    }
    let n = staged.len();
    effects.extend(staged);
    Ok(n)
}

fn delete_session(
    conn: &Connection,
    session_id: &str,
    effects: &mut Vec<IndexEffect>,
) -> Result<Option<DeletedSession>, StoreError> {
    let namespace: Option<String> = conn
        .query_row(
            "SELECT namespace FROM sessions WHERE id = ?1",
            [session_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(namespace) = namespace else {
        return Ok(None);
    };
    let ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM exchanges WHERE session_id = ?1")?
        .query_map([session_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // What the dream cycle built from this session must follow it: its gist
    // goes, and its month's era, the profile and the narrative are rebuilt
    // by the next pass (marked stale, never left citing it). Without a gist
    // nothing was built from it: eras, profile and narrative come from gists.
    let gist: Option<(i64, String)> = conn
        .query_row(
            "SELECT item_id, month FROM gists WHERE session_id = ?1",
            [session_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((item_id, month)) = &gist {
        conn.execute("DELETE FROM items WHERE id = ?1", [item_id])?;
        conn.execute(
            "UPDATE eras SET stale = 1 WHERE namespace = ?1 AND month = ?2",
            params![namespace, month],
        )?;
        conn.execute(
            "UPDATE profiles SET stale = 1 WHERE namespace = ?1",
            [&namespace],
        )?;
        conn.execute(
            "UPDATE narratives SET stale = 1 WHERE namespace = ?1",
            [&namespace],
        )?;
    }
    // Explicit deletes (not only the FK cascade) keep the FTS triggers obvious.
    conn.execute("DELETE FROM exchanges WHERE session_id = ?1", [session_id])?;
    conn.execute("DELETE FROM sessions WHERE id = ?1", [session_id])?;
    let exchanges = ids.len();
    // Index effects only once every statement has succeeded: a failed op's
    // savepoint rolls back, and the index must not lose what stays.
    if let Some((item_id, _)) = gist {
        effects.push(IndexEffect::Remove {
            namespace: partition(Tier::Gist, &namespace),
            ids: vec![item_id],
        });
    }
    effects.push(IndexEffect::Remove {
        namespace: namespace.clone(),
        ids,
    });
    Ok(Some(DeletedSession {
        namespace,
        exchanges,
    }))
}

pub fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

pub fn blob_to_vector(b: &[u8]) -> Option<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    Some(
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}
