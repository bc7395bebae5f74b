//! Group commit: the ops queued together run in one transaction, each in
//! its own savepoint; replies go out only after COMMIT, the vector index
//! updated just before them.

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::ops::{delete_session, insert_rows, set_embeddings};
use super::{CustomOp, Deliver, IndexEffect, Reply, WriteOp, Writer, fail};
use crate::store::StoreError;
use crate::store::items::WriteCtx;
use crate::store::types::{DeletedSession, InsertOutcome};

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

impl Writer {
    pub(super) fn apply(&mut self, batch: Vec<WriteOp>) {
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
