//! `memd restore SNAPSHOT`: put a snapshot back as the live database.
//!
//! Runs with the daemon stopped (the data-dir lock proves it). The snapshot
//! is verified with `integrity_check` first; the current database and its
//! WAL are moved aside, never deleted; the snapshot is copied in under a
//! temporary name, synced, and renamed into place.

use std::path::{Path, PathBuf};

use crate::config::{self, Config};
use crate::daemon::{LockError, acquire_lock};
use crate::store::{StoreError, backup, migrate};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(
        "refusing to restore while a daemon holds {dir} (pid {pid}); stop it first (systemctl stop memd)"
    )]
    DaemonRunning { dir: PathBuf, pid: String },
    #[error(transparent)]
    Lock(LockError),
    #[error("snapshot {path} failed its integrity check: {problems}")]
    BadSnapshot { path: PathBuf, problems: String },
    #[error(
        "snapshot {path} has schema version {found}, newer than this memd understands ({supported})"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug)]
pub struct Report {
    pub restored_from: PathBuf,
    pub db_path: PathBuf,
    pub moved_aside: Vec<PathBuf>,
    pub bytes: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.to_owned(),
        source,
    }
}

pub fn restore(config: &Config, snapshot: &Path) -> Result<Report, RestoreError> {
    let data_dir = config.data_dir();
    std::fs::create_dir_all(&data_dir).map_err(io(&data_dir))?;
    let _lock = acquire_lock(&data_dir).map_err(|e| match e {
        LockError::Busy { dir, pid } => RestoreError::DaemonRunning { dir, pid },
        other => RestoreError::Lock(other),
    })?;

    let problems = backup::check_file(snapshot, true)?;
    if !problems.is_empty() {
        return Err(RestoreError::BadSnapshot {
            path: snapshot.to_owned(),
            problems: problems.join("; "),
        });
    }
    let found = backup::schema_version(snapshot)?;
    if found > migrate::SCHEMA_VERSION {
        return Err(RestoreError::TooNew {
            path: snapshot.to_owned(),
            found,
            supported: migrate::SCHEMA_VERSION,
        });
    }

    let db = config::db_path(&data_dir);
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let aside = PathBuf::from(format!("{}.before-restore-{stamp}", db.display()));
    let mut moved = Vec::new();
    // The WAL and shm must follow the database under the new name, or the
    // committed transactions still in the WAL would be lost to it.
    let pairs = std::iter::once((db.clone(), aside.clone())).chain(
        backup::sidecars(&db)
            .into_iter()
            .zip(backup::sidecars(&aside)),
    );
    for (from, to) in pairs {
        if from.exists() {
            std::fs::rename(&from, &to).map_err(io(&from))?;
            moved.push(to);
        }
    }

    // The saved index layout describes the database being replaced.
    let layout = config::index_layout_path(&data_dir);
    if let Err(e) = std::fs::remove_file(&layout)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(io(&layout)(e));
    }

    let tmp = data_dir.join(".memd.db.restoring");
    std::fs::copy(snapshot, &tmp).map_err(io(&tmp))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, &db).map_err(io(&db))?;
    backup::sync_dir(&data_dir)?;
    let bytes = std::fs::metadata(&db).map_err(io(&db))?.len();
    Ok(Report {
        restored_from: snapshot.to_owned(),
        db_path: db,
        moved_aside: moved,
        bytes,
    })
}
