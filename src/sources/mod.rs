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
//! The modules: `registry` (the sources, lookup, start, sync on request),
//! `task` (each source's loop), `reader` (the [`SourceReader`] trait,
//! implemented by [`sqlite`] and [`postgres`]), `sync` (database table
//! sync), `files` (folder sync), `hook` (the row hook), `status` (state,
//! stats and the JSON views). What memory keeps
//! (concepts, documents, cursors) the store's `Concepts`, `Documents` and
//! `SourceState` methods write and read.

pub mod chunk;
pub mod config;
mod files;
mod hook;
pub mod postgres;
mod reader;
mod registry;
pub mod retry;
pub mod sqlite;
mod status;
mod sync;
pub mod table;
mod task;
mod watch;

/// The fuzz harness's path to the cron module (`crate::cron`).
pub use crate::cron as schedule;
pub use hook::{RowOp, RowsRequest};
pub use reader::SourceReader;
pub use registry::check_schemas;
pub use status::{State, SyncStats, TableReport};

use std::sync::Arc;

use crate::store::StoreError;

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

/// All configured sources. Cheap to clone.
#[derive(Clone)]
pub struct Sources {
    inner: Arc<registry::Inner>,
}
