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

mod blob;
mod commit;
mod import;
mod ops;

use std::sync::{Arc, RwLock};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::export::Record;
use super::items::WriteCtx;
use super::types::{DeletedSession, InsertOutcome, NewExchange};
use crate::index::VectorIndex;

pub use blob::{blob_to_vector, vector_to_blob};

pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub enum ImportMsg {
    Batch(Vec<Record>),
    Commit,
}

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

    fn beat(&self) {
        self.heartbeat
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
