//! The store layer's one error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("the disk holding the database is full: {0}")]
    DiskFull(String),
    #[error("the database is read-only: {0}")]
    ReadOnly(String),
    /// The storage failed under SQLite (an I/O error, a transaction it had
    /// to roll back): nothing was written, and retrying later may succeed.
    #[error("the storage is failing: {0}")]
    Unavailable(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "database schema version {found} is newer than this memd understands ({supported}); \
         run a newer memd or restore a snapshot"
    )]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("{0} is not a memd database ({1})")]
    NotADatabase(PathBuf, String),
    #[error("the store is shutting down")]
    Closed,
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database {path} failed its integrity check: {problems}")]
    FailedCheck { path: PathBuf, problems: String },
    #[error("{0}")]
    Invalid(String),
    #[error("the store is not empty ({0} rows)")]
    NotEmpty(i64),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull(e.to_string()),
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly(e.to_string()),
            Some(ErrorCode::SystemIoFailure) | Some(ErrorCode::CannotOpen) => {
                StoreError::Unavailable(e.to_string())
            }
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt(e.to_string()),
            _ => StoreError::Sqlite(e),
        }
    }
}

impl StoreError {
    /// A copy for fan-out to every request of a failed group commit.
    pub(crate) fn duplicate(&self) -> StoreError {
        match self {
            StoreError::DiskFull(m) => StoreError::DiskFull(m.clone()),
            StoreError::ReadOnly(m) => StoreError::ReadOnly(m.clone()),
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
            StoreError::Io { path, source } if source.raw_os_error() == Some(libc::ENOSPC) => {
                StoreError::DiskFull(format!("{}: {source}", path.display()))
            }
            StoreError::Closed => StoreError::Closed,
            StoreError::Invalid(m) => StoreError::Invalid(m.clone()),
            StoreError::NotEmpty(n) => StoreError::NotEmpty(*n),
            other => StoreError::Unavailable(format!("commit failed: {other}")),
        }
    }

    /// A failure of the storage under the database (full, read-only,
    /// failing I/O) rather than of memd or the request.
    pub fn is_storage(&self) -> bool {
        match self {
            StoreError::DiskFull(_) | StoreError::ReadOnly(_) | StoreError::Unavailable(_) => true,
            StoreError::Io { source, .. } => matches!(
                source.raw_os_error(),
                Some(libc::ENOSPC | libc::EROFS | libc::EIO | libc::EDQUOT)
            ),
            _ => false,
        }
    }
}
