//! Each source's task: catch up at start, then sync on file-system events
//! (debounced), PostgreSQL notices, the poll interval and the full-sync
//! schedule; a source that is down is retried every `down_retry_s`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::config::FilesSource;
use super::registry::{Kind, Source};
use super::{SourceError, Sources, postgres, watch};

/// What wakes a database source's task besides file-system events.
struct DbTimers {
    /// PostgreSQL: the poll interval.
    poll: Option<Duration>,
    /// The full-sync cron expression.
    schedule: Option<String>,
    /// PostgreSQL: the LISTEN channel.
    channel: Option<String>,
}

impl Sources {
    pub(super) async fn run(&self, s: Arc<Source>, cancel: CancellationToken) {
        let timers = match &s.kind {
            Kind::Files(f) => return self.run_files(&s, f.clone(), cancel).await,
            Kind::Sqlite(q) => DbTimers {
                poll: None,
                schedule: q.full_sync_schedule.clone(),
                channel: None,
            },
            Kind::Postgres(p) => DbTimers {
                poll: Some(Duration::from_secs(p.poll_interval_s)),
                schedule: p.full_sync_schedule.clone(),
                channel: p.notify_channel.clone(),
            },
        };
        self.run_db(&s, timers, cancel).await
    }

    async fn run_db(&self, s: &Arc<Source>, timers: DbTimers, cancel: CancellationToken) {
        let down_retry = Duration::from_secs(self.inner.cfg.down_retry_s);
        let quiet = Duration::from_millis(self.inner.cfg.debounce_ms);
        let DbTimers {
            poll,
            schedule,
            channel,
        } = timers;
        let schedule = schedule.and_then(|e| crate::cron::parse(&e).ok());
        let mut _watch = None;
        if let Kind::Sqlite(q) = &s.kind
            && q.watch
        {
            let files = watch::sqlite_files(&q.path);
            let dir = q
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."))
                .to_owned();
            match watch::watch(
                &dir,
                false,
                move |p| files.iter().any(|f| f == p),
                s.wake.clone(),
            ) {
                Ok(w) => _watch = Some(w),
                Err(e) => {
                    tracing::warn!(source = %s.name, error = %e, "not watching; changes are read on the schedule or on request")
                }
            }
        }
        // Notices of the LISTEN connection → this task.
        let (ntx, mut nrx) = mpsc::channel::<postgres::Notice>(1024);
        let listener = match (&s.kind, channel) {
            (Kind::Postgres(p), Some(ch)) => {
                let (p, cancel) = (p.clone(), cancel.clone());
                Some(tokio::spawn(async move {
                    loop {
                        let r = postgres::listen(&p, &ch, ntx.clone()).await;
                        if let Err(e) = r {
                            tracing::debug!(source = %p.name, error = %e, "listen connection ended");
                        }
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            _ = tokio::time::sleep(down_retry) => {}
                        }
                    }
                }))
            }
            _ => None,
        };
        // Catch up at start: a full pass finds what changed while memd was
        // stopped, deletions included.
        let mut healthy = self.sync_all(s, true).await.is_ok();
        loop {
            let next_full = schedule.as_ref().and_then(crate::cron::until_next);
            let wait = if healthy { poll } else { Some(down_retry) };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = s.wake.notified() => {
                    watch::debounce(&s.wake, quiet).await;
                    if cancel.is_cancelled() { break; }
                    // After an outage, the first pass is a full one.
                    healthy = self.sync_all(s, !healthy).await.is_ok();
                }
                Some(n) = nrx.recv() => {
                    if healthy && self.apply_notice(s, n).await.is_err() {
                        healthy = false;
                    }
                }
                _ = sleep_opt(wait) => {
                    healthy = self.sync_all(s, !healthy).await.is_ok();
                }
                _ = sleep_opt(next_full) => {
                    tracing::info!(source = %s.name, "scheduled full sync");
                    healthy = self.sync_all(s, true).await.is_ok();
                }
            }
        }
        if let Some(l) = listener {
            l.abort();
        }
    }

    async fn run_files(&self, s: &Arc<Source>, f: FilesSource, cancel: CancellationToken) {
        let down_retry = Duration::from_secs(self.inner.cfg.down_retry_s);
        let quiet = Duration::from_millis(self.inner.cfg.debounce_ms);
        let mut _watch = None;
        let mut healthy = false;
        loop {
            if _watch.is_none() {
                match watch::watch(&f.path, true, |_| true, s.wake.clone()) {
                    Ok(w) => _watch = Some(w),
                    Err(e) => {
                        let r = Err(SourceError::Unavailable(e));
                        let _ = self.outcome(s, "files", r);
                    }
                }
            }
            if _watch.is_some() && !healthy {
                let mut rt = s.rt.lock().await;
                let r = self.scan_files(s, &mut rt, false).await;
                healthy = self.outcome(s, "files", r).is_ok();
            }
            let wait = if healthy { None } else { Some(down_retry) };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = s.wake.notified() => {
                    watch::debounce(&s.wake, quiet).await;
                    if cancel.is_cancelled() { break; }
                    let mut rt = s.rt.lock().await;
                    let r = self.scan_files(s, &mut rt, false).await;
                    healthy = self.outcome(s, "files", r).is_ok();
                }
                _ = sleep_opt(wait) => {
                    healthy = false;
                    _watch = None;
                }
            }
        }
    }
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
