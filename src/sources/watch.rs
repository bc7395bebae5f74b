//! File-system watching: a `notify` watcher whose callback (on notify's own
//! thread) wakes the source's task through a [`Notify`]. The task debounces
//! (waits for a quiet spell) and then reads what changed, so a burst of
//! writes costs one read.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::Notify;

/// Keeps the watch alive; dropping it stops watching.
pub struct Watch {
    _watcher: notify::RecommendedWatcher,
}

/// Watches `dir` and wakes `wake` for every create, modify or remove whose
/// path passes `filter`.
pub fn watch(
    dir: &Path,
    recursive: bool,
    filter: impl Fn(&Path) -> bool + Send + 'static,
    wake: Arc<Notify>,
) -> Result<Watch, String> {
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) => {
                let relevant = matches!(
                    ev.kind,
                    EventKind::Create(_)
                        | EventKind::Modify(_)
                        | EventKind::Remove(_)
                        | EventKind::Any
                ) && (ev.paths.is_empty() || ev.paths.iter().any(|p| filter(p)));
                if relevant {
                    wake.notify_one();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "file watch error; rescanning");
                wake.notify_one();
            }
        })
        .map_err(|e| format!("cannot create a file watcher: {e}"))?;
    let mode = if recursive {
        RecursiveMode::Recursive
    } else {
        RecursiveMode::NonRecursive
    };
    watcher
        .watch(dir, mode)
        .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    Ok(Watch { _watcher: watcher })
}

/// Waits until no wake-up has come for `quiet` (bounded by 20 × quiet so
/// a file written without pause is still read).
pub async fn debounce(wake: &Notify, quiet: Duration) {
    let deadline = tokio::time::Instant::now() + quiet * 20;
    loop {
        tokio::select! {
            _ = wake.notified() => {
                if tokio::time::Instant::now() >= deadline {
                    return;
                }
            }
            _ = tokio::time::sleep(quiet) => return,
        }
    }
}

/// The files whose change means a SQLite database changed: the database,
/// its WAL and its rollback journal.
pub fn sqlite_files(db: &Path) -> Vec<PathBuf> {
    let mut out = vec![db.to_owned()];
    for suffix in ["-wal", "-journal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        out.push(PathBuf::from(p));
    }
    out
}
