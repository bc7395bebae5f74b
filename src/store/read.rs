//! Read side: a small pool of connections used from blocking threads.
//!
//! WAL mode lets these read while the writer writes; each one is opened
//! `query_only`, so a bug here cannot modify the database.

use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::Semaphore;

use super::StoreError;
use super::quarantine::EXCHANGE_NOT_QUARANTINED;
use super::types::{Counts, Exchange, SessionInfo};

pub(crate) struct ReadPool {
    conns: Vec<Arc<Mutex<Connection>>>,
    permits: Semaphore,
}

impl ReadPool {
    pub fn new(conns: Vec<Connection>) -> Self {
        let n = conns.len();
        Self {
            conns: conns.into_iter().map(|c| Arc::new(Mutex::new(c))).collect(),
            permits: Semaphore::new(n),
        }
    }

    /// Runs `f` with a free connection on a blocking thread.
    pub async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        // The permit guarantees that at least one slot is unlocked.
        let slot = self
            .conns
            .iter()
            .find(|c| !c.is_locked_hint())
            .or_else(|| self.conns.first())
            .cloned()
            .ok_or(StoreError::Closed)?;
        tokio::task::spawn_blocking(move || {
            // A panic in an earlier reader poisons the mutex but leaves the
            // connection usable.
            let conn = slot.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn)
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("reader task failed: {e}")))?
    }
}

trait LockedHint {
    fn is_locked_hint(&self) -> bool;
}

impl LockedHint for Arc<Mutex<Connection>> {
    fn is_locked_hint(&self) -> bool {
        matches!(self.try_lock(), Err(std::sync::TryLockError::WouldBlock))
    }
}

const EXCHANGE_COLUMNS: &str =
    "e.id, e.session_id, s.namespace, e.role, e.content, e.created_at, e.ext_id, e.metadata";

fn exchange_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Exchange> {
    Ok(Exchange {
        id: r.get(0)?,
        session_id: r.get(1)?,
        namespace: r.get(2)?,
        role: r.get(3)?,
        content: r.get(4)?,
        created_at: r.get(5)?,
        ext_id: r.get(6)?,
        metadata: r.get(7)?,
    })
}

const SESSION_COLUMNS: &str = "s.id, s.namespace, s.created_at, s.updated_at, \
     (SELECT count(*) FROM exchanges e WHERE e.session_id = s.id)";

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionInfo> {
    Ok(SessionInfo {
        id: r.get(0)?,
        namespace: r.get(1)?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
        exchanges: r.get(4)?,
    })
}

pub fn session(conn: &Connection, id: &str) -> Result<Option<SessionInfo>, StoreError> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], session_row)
        .optional()?)
}

/// Sessions of one namespace, most recently written first.
pub fn sessions(
    conn: &Connection,
    namespace: &str,
    limit: usize,
    offset: usize,
) -> Result<Vec<SessionInfo>, StoreError> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.namespace = ?1
         ORDER BY s.updated_at DESC, s.id LIMIT ?2 OFFSET ?3"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params![namespace, limit as i64, offset as i64], session_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A session's exchanges, oldest first, after exchange id `after`.
pub fn session_exchanges(
    conn: &Connection,
    session_id: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<Exchange>, StoreError> {
    let sql = format!(
        "SELECT {EXCHANGE_COLUMNS} FROM exchanges e JOIN sessions s ON s.id = e.session_id
         WHERE e.session_id = ?1 AND e.id > ?2 ORDER BY e.created_at, e.id LIMIT ?3"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params![session_id, after, limit as i64], exchange_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// One page of a session's exchanges in (created_at, id) order: those
/// after exchange id `after` and, when `from` is the last row of the
/// previous page, after it.
pub fn session_exchanges_from(
    conn: &Connection,
    session_id: &str,
    after: i64,
    from: Option<(i64, i64)>,
    limit: usize,
) -> Result<Vec<Exchange>, StoreError> {
    let Some((created_at, id)) = from else {
        return session_exchanges(conn, session_id, after, limit);
    };
    let sql = format!(
        "SELECT {EXCHANGE_COLUMNS} FROM exchanges e JOIN sessions s ON s.id = e.session_id
         WHERE e.session_id = ?1 AND e.id > ?2 AND (e.created_at, e.id) > (?3, ?4)
         ORDER BY e.created_at, e.id LIMIT ?5"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(
            params![session_id, after, created_at, id, limit as i64],
            exchange_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Exchanges by id, in the order of `ids`; missing ids are skipped.
pub fn exchanges_by_id(conn: &Connection, ids: &[i64]) -> Result<Vec<Exchange>, StoreError> {
    let sql = format!(
        "SELECT {EXCHANGE_COLUMNS} FROM exchanges e JOIN sessions s ON s.id = e.session_id WHERE e.id = ?1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(x) = stmt.query_row([id], exchange_row).optional()? {
            out.push(x);
        }
    }
    Ok(out)
}

pub fn counts(conn: &Connection) -> Result<Counts, StoreError> {
    Ok(conn.query_row(
        "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM exchanges)",
        [],
        |r| {
            Ok(Counts {
                sessions: r.get(0)?,
                exchanges: r.get(1)?,
            })
        },
    )?)
}

/// A row waiting for (re-)embedding.
#[derive(Debug, Clone)]
pub struct PendingRow {
    pub id: i64,
    pub content: String,
    /// The model that made its current vector, if any.
    pub model_id: Option<i64>,
}

/// Rows after `cursor` (by id, oldest first) whose vector is missing or
/// from another model than `model_id`, plus — up to `force_upto` — rows to
/// re-embed whatever their model.
pub fn pending_embeddings(
    conn: &Connection,
    model_id: i64,
    cursor: i64,
    force_upto: i64,
    limit: usize,
) -> Result<Vec<PendingRow>, StoreError> {
    let rows = conn
        .prepare_cached(
            "SELECT id, content, embed_model_id FROM exchanges
             WHERE id > ?1 AND (embed_model_id IS NULL OR embed_model_id != ?2 OR id <= ?3)
             ORDER BY id LIMIT ?4",
        )?
        .query_map(params![cursor, model_id, force_upto, limit as i64], |r| {
            Ok(PendingRow {
                id: r.get(0)?,
                content: r.get(1)?,
                model_id: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Rows without a vector of `model_id`: (never embedded, embedded by another model).
pub fn embedding_backlog(conn: &Connection, model_id: i64) -> Result<(i64, i64), StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FILTER (WHERE embed_model_id IS NULL),
                    count(*) FILTER (WHERE embed_model_id IS NOT NULL AND embed_model_id != ?1)
             FROM exchanges",
        )?
        .query_row([model_id], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

pub fn meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

/// The `limit` most recent exchanges of a session, newest first; they go
/// to a prompt (recall's back-fill, the context pack), so quarantined
/// exchanges are skipped.
pub fn recent_exchanges(
    conn: &Connection,
    session_id: &str,
    limit: usize,
) -> Result<Vec<Exchange>, StoreError> {
    let sql = format!(
        "SELECT {EXCHANGE_COLUMNS} FROM exchanges e JOIN sessions s ON s.id = e.session_id
         WHERE e.session_id = ?1 AND {EXCHANGE_NOT_QUARANTINED}
         ORDER BY e.created_at DESC, e.id DESC LIMIT ?2"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params![session_id, limit as i64], exchange_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// `(id, previous, next)`: an exchange and its session neighbours.
pub type Adjacent = (i64, Option<i64>, Option<i64>);

/// For each id, the previous and next exchange of the same session (by id).
pub fn adjacent(conn: &Connection, ids: &[i64]) -> Result<Vec<Adjacent>, StoreError> {
    let mut prev = conn.prepare_cached(
        "SELECT p.id FROM exchanges e JOIN exchanges p ON p.session_id = e.session_id AND p.id < e.id
         WHERE e.id = ?1 ORDER BY p.id DESC LIMIT 1",
    )?;
    let mut next = conn.prepare_cached(
        "SELECT n.id FROM exchanges e JOIN exchanges n ON n.session_id = e.session_id AND n.id > e.id
         WHERE e.id = ?1 ORDER BY n.id LIMIT 1",
    )?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let p: Option<i64> = prev.query_row([id], |r| r.get(0)).optional()?;
        let n: Option<i64> = next.query_row([id], |r| r.get(0)).optional()?;
        out.push((*id, p, n));
    }
    Ok(out)
}
