//! Checkpoints: WAL truncation, verified snapshots, rotation, restore.
//!
//! A checkpoint (periodic, on demand, or at shutdown) truncates the WAL when
//! it has grown, copies the live database into `checkpoint.dir` with the
//! online backup API (consistent, writers keep going), verifies the copy,
//! publishes it by an atomic rename and deletes the oldest beyond `keep`.
//! Snapshots are whole SQLite files named by UTC time, so `memd restore` or
//! plain `sqlite3` can open them. SQLite is the single source of truth: the
//! in-memory index is rebuilt from it on start, never snapshotted.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::{CheckpointConfig, Config};
use crate::store::{Store, StoreError, backup};

const PREFIX: &str = "memd-";
const SUFFIX: &str = ".db";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint task failed: {0}")]
    Task(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub path: PathBuf,
    pub bytes: u64,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Taken {
    pub path: PathBuf,
    pub bytes: u64,
    pub duration_ms: f64,
    pub wal_truncated: bool,
    pub removed: Vec<PathBuf>,
    /// Size of the saved index layout (absent when no namespace is
    /// partitioned or `index.layout_file = false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_layout_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub dir: PathBuf,
    pub interval_s: u64,
    pub keep: usize,
    pub last_at: Option<String>,
    pub last_path: Option<PathBuf>,
    pub last_bytes: Option<u64>,
    pub last_duration_ms: Option<f64>,
    pub next_due: Option<String>,
    pub taken: u64,
    pub failures: u64,
    pub last_error: Option<String>,
}

pub struct Checkpointer {
    store: Store,
    db_path: PathBuf,
    cfg: CheckpointConfig,
    dir: PathBuf,
    busy_timeout: Duration,
    status: Mutex<Status>,
    /// One checkpoint at a time; a second request waits for the first.
    running: tokio::sync::Mutex<()>,
}

impl Checkpointer {
    pub fn new(store: Store, config: &Config) -> Arc<Self> {
        let dir = config.snapshot_dir();
        remove_partials(&dir);
        Arc::new(Self {
            db_path: store.db_path().to_owned(),
            store,
            cfg: config.checkpoint.clone(),
            busy_timeout: Duration::from_millis(config.store.busy_timeout_ms),
            status: Mutex::new(Status {
                dir: dir.clone(),
                interval_s: config.checkpoint.interval_s,
                keep: config.checkpoint.keep,
                ..Status::default()
            }),
            dir,
            running: tokio::sync::Mutex::new(()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes a checkpoint now; `reason` goes to the log.
    pub async fn take(&self, reason: &str) -> Result<Taken, CheckpointError> {
        let _one = self.running.lock().await;
        let started = Instant::now();
        let result = self.take_inner().await;
        let mut st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(t) => {
                st.last_at = Some(crate::time::to_rfc3339(crate::time::now_ms()));
                st.last_path = Some(t.path.clone());
                st.last_bytes = Some(t.bytes);
                st.last_duration_ms = Some(t.duration_ms);
                st.taken += 1;
                tracing::info!(
                    reason,
                    path = %t.path.display(),
                    bytes = t.bytes,
                    ms = t.duration_ms,
                    wal_truncated = t.wal_truncated,
                    removed = t.removed.len(),
                    "checkpoint written"
                );
            }
            Err(e) => {
                st.failures += 1;
                st.last_error = Some(e.to_string());
                tracing::error!(reason, error = %e, ms = started.elapsed().as_millis() as u64, "checkpoint failed");
            }
        }
        result
    }

    async fn take_inner(&self) -> Result<Taken, CheckpointError> {
        let started = Instant::now();
        let wal = backup::sidecars(&self.db_path)[0].clone();
        let wal_bytes = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let mut wal_truncated = false;
        if wal_bytes > self.cfg.wal_truncate_bytes {
            let (busy, _, _) = self.store.wal_checkpoint().await?;
            wal_truncated = busy == 0;
            if busy != 0 {
                tracing::debug!(
                    wal_bytes,
                    "WAL checkpoint could not finish (readers busy); will retry next time"
                );
            }
        }
        let dir = self.dir.clone();
        let db = self.db_path.clone();
        let pages = self.cfg.pages_per_step;
        let busy = self.busy_timeout;
        let keep = self.cfg.keep;
        let (path, bytes, removed) =
            tokio::task::spawn_blocking(move || -> Result<_, CheckpointError> {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)
                    .map_err(io(&dir))?;
                let name = snapshot_name(chrono::Utc::now());
                let final_path = dir.join(&name);
                let partial = dir.join(format!(".{name}.partial"));
                let _ = std::fs::remove_file(&partial);
                backup::snapshot(&db, &partial, pages, busy)?;
                std::fs::rename(&partial, &final_path).map_err(io(&final_path))?;
                backup::sync_dir(&dir)?;
                let bytes = std::fs::metadata(&final_path)
                    .map_err(io(&final_path))?
                    .len();
                let removed = rotate(&dir, keep)?;
                Ok((final_path, bytes, removed))
            })
            .await
            .map_err(|e| CheckpointError::Task(e.to_string()))??;
        // The layout is only a start-up hint (SQLite stays the truth), so a
        // failure to save it is logged and never fails the checkpoint.
        let store = self.store.clone();
        let index_layout_bytes = match tokio::task::spawn_blocking(move || {
            store.save_index_layout()
        })
        .await
        {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not save the index layout; the next start rebuilds the index");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "index layout task failed");
                None
            }
        };
        Ok(Taken {
            path,
            bytes,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            wal_truncated,
            removed,
            index_layout_bytes,
        })
    }

    /// Runs periodic checkpoints until `shutdown`; none when `interval_s = 0`.
    pub fn spawn_worker(
        self: &Arc<Self>,
        shutdown: CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if self.cfg.interval_s == 0 {
            return None;
        }
        let this = self.clone();
        let period = Duration::from_secs(this.cfg.interval_s);
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                this.set_next_due(period);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                // Failures are counted and logged by take(); the worker goes on.
                let _ = this.take("periodic").await;
            }
        }))
    }

    fn set_next_due(&self, period: Duration) {
        let next = chrono::Utc::now() + chrono::Duration::from_std(period).unwrap_or_default();
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_due = Some(crate::time::to_rfc3339(next.timestamp_millis()));
    }
}

use std::os::unix::fs::DirBuilderExt;

fn snapshot_name(now: chrono::DateTime<chrono::Utc>) -> String {
    format!("{PREFIX}{}{SUFFIX}", now.format("%Y%m%dT%H%M%S%.3fZ"))
}

fn is_snapshot_name(name: &str) -> bool {
    name.starts_with(PREFIX)
        && name.ends_with(SUFFIX)
        && name.len() == PREFIX.len() + 20 + SUFFIX.len()
}

/// Removes what a checkpoint cut short (kill -9, power loss) left behind:
/// `.memd-….db.partial` and its journal. Such a file was never renamed into
/// place, so it is never a snapshot; left alone it would only fill the disk.
pub fn remove_partials(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(&format!(".{PREFIX}")) && name.contains(".partial") {
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::warn!(path = %path.display(), "removed a snapshot left unfinished by an interrupted checkpoint");
                    removed += 1;
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove an unfinished snapshot")
                }
            }
        }
    }
    removed
}

/// Snapshots in `dir`, newest first.
pub fn list(dir: &Path) -> Result<Vec<Snapshot>, CheckpointError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_snapshot_name(&name) {
            continue;
        }
        let meta = entry.metadata().map_err(io(&entry.path()))?;
        let stamp = &name[PREFIX.len()..name.len() - SUFFIX.len()];
        let created_at = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.3fZ")
            .map(|t| crate::time::to_rfc3339(t.and_utc().timestamp_millis()))
            .unwrap_or_default();
        out.push(Snapshot {
            path: entry.path(),
            bytes: meta.len(),
            created_at,
        });
    }
    // The names sort by time.
    out.sort_by(|a, b| b.path.cmp(&a.path));
    Ok(out)
}

/// Deletes all but the newest `keep` snapshots; returns what it removed.
fn rotate(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, CheckpointError> {
    let mut removed = Vec::new();
    for old in list(dir)?.into_iter().skip(keep) {
        std::fs::remove_file(&old.path).map_err(io(&old.path))?;
        removed.push(old.path);
    }
    Ok(removed)
}

/// The newest snapshot in `dir` that passes `quick_check` (looking at the
/// newest few only, as each check reads the whole file).
pub fn newest_good(dir: &Path) -> Option<PathBuf> {
    list(dir)
        .ok()?
        .into_iter()
        .take(5)
        .find(|s| matches!(backup::check_file(&s.path, false), Ok(p) if p.is_empty()))
        .map(|s| s.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_snapshots_are_removed_and_finished_ones_kept() {
        let t = tempfile::tempdir().unwrap();
        let keep = t.path().join("memd-20231114T221320.000Z.db");
        let partial = t.path().join(".memd-20231114T221320.000Z.db.partial");
        let journal = t
            .path()
            .join(".memd-20231114T221320.000Z.db.partial-journal");
        for p in [&keep, &partial, &journal] {
            std::fs::write(p, b"x").unwrap();
        }
        assert_eq!(remove_partials(t.path()), 2);
        assert!(keep.exists() && !partial.exists() && !journal.exists());
        assert_eq!(remove_partials(&t.path().join("missing")), 0);
    }

    #[test]
    fn names_sort_by_time_and_are_recognised() {
        let a = snapshot_name(chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap());
        let b = snapshot_name(chrono::DateTime::from_timestamp_millis(1_700_000_000_001).unwrap());
        assert_eq!(a, "memd-20231114T221320.000Z.db");
        assert!(a < b);
        assert!(is_snapshot_name(&a));
        assert!(!is_snapshot_name("memd-x.db"));
        assert!(!is_snapshot_name(".memd-20231114T221320.000Z.db.partial"));
    }

    #[test]
    fn rotation_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for ms in 0..5 {
            let name = snapshot_name(
                chrono::DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap(),
            );
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::write(dir.path().join("unrelated.txt"), b"x").unwrap();
        let removed = rotate(dir.path(), 2).unwrap();
        assert_eq!(removed.len(), 3);
        let left: Vec<String> = list(dir.path())
            .unwrap()
            .iter()
            .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            left,
            vec![
                "memd-20231114T221320.004Z.db",
                "memd-20231114T221320.003Z.db"
            ]
        );
        assert!(dir.path().join("unrelated.txt").exists());
    }
}
