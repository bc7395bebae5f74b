//! Triggers: the cron schedule (tokio-cron-scheduler) and the idle watch.
//! Both go through [`Dream::begin`], so a trigger that fires while a pass
//! runs is skipped and logged, never queued behind it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

use super::{Dream, DreamError, PassRequest, Trigger};
use crate::cron::{self as schedule, Zone};
use crate::events::{IdleTimer, Quiet};
use crate::store::DreamBacklog;

impl Dream {
    /// A scheduled or idle trigger: a drive-based pass over every namespace
    /// (or those given), repeated while it makes progress.
    pub async fn fire(self: &Arc<Self>, trigger: Trigger) {
        let cfg = self.cfg();
        if !cfg.enabled {
            return;
        }
        let gate = match self.begin() {
            Ok(g) => g,
            Err(DreamError::Busy(what)) => {
                tracing::info!(trigger = trigger.as_str(), running = %what, "dream trigger skipped: a pass is running");
                return;
            }
            Err(e) => {
                tracing::debug!(trigger = trigger.as_str(), error = %e, "dream trigger skipped");
                return;
            }
        };
        tracing::info!(trigger = trigger.as_str(), "dream trigger fired");
        let req = PassRequest {
            namespace: None,
            trigger,
            force: false,
            drive: None,
            dry_run: false,
            until_caught_up: true,
        };
        match self.run(gate, req).await {
            Ok(reports) => {
                let progressed = reports.iter().any(|r| !r.actions.is_empty());
                if trigger == Trigger::Idle {
                    self.idle_progress.store(progressed, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::error!(trigger = trigger.as_str(), error = %e, "dream pass failed"),
        }
    }

    /// Starts the cron job and the idle watch; returns the scheduler so the
    /// daemon can stop it. Nothing starts when `dream.enabled` is false.
    pub async fn start_triggers(self: &Arc<Self>) -> Option<JobScheduler> {
        let cfg = self.cfg();
        if !cfg.enabled {
            tracing::info!("dream cycle: schedule and idle triggers off (dream.enabled = false)");
            return None;
        }
        let watch = self.clone();
        // The quiet spell starts now: start-up counts as a client write.
        let timer = IdleTimer::new(&self.store.events());
        self.tracker
            .spawn(async move { watch.idle_watch(timer).await });
        let sched = match JobScheduler::new().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the dream scheduler; only idle and manual passes will run");
                return None;
            }
        };
        let this = self.clone();
        let run = move |_id, _l| {
            let this = this.clone();
            Box::pin(async move {
                // Tracked, so shutdown waits for a scheduled pass too.
                let inner = this.clone();
                this.tracker
                    .spawn(async move { inner.fire(Trigger::Schedule).await });
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        };
        let job = match schedule::zone(&cfg.timezone) {
            Ok(Zone::Local) => Job::new_async_tz(cfg.schedule.as_str(), chrono::Local, run),
            Ok(Zone::Named(tz)) => Job::new_async_tz(cfg.schedule.as_str(), tz, run),
            Err(e) => {
                tracing::error!(error = %e, "dream.timezone; the schedule is off");
                return None;
            }
        };
        let added = match job {
            Ok(job) => sched.add(job).await,
            Err(e) => {
                tracing::error!(error = %e, schedule = %cfg.schedule, "dream.schedule; the schedule is off");
                return None;
            }
        };
        if let Err(e) = added.and(sched.start().await) {
            tracing::error!(error = %e, "cannot start the dream schedule");
            return None;
        }
        tracing::info!(
            schedule = %cfg.schedule,
            timezone = %cfg.timezone,
            next = ?schedule::next_after(&cfg.schedule, &cfg.timezone, chrono::Utc::now()),
            idle_after_s = cfg.idle_after_s,
            provider = self.provider.name(),
            "dream cycle scheduled"
        );
        Some(sched)
    }

    /// Fires an idle pass once no client has written for
    /// `dream.idle_after_s` and a drive is over its threshold. The quiet
    /// spell is an [`IdleTimer`] on the event bus: a sleep that each client
    /// write pushes back. After a spell whose pass did nothing (or found
    /// nothing urgent), it waits for the next client write.
    async fn idle_watch(self: Arc<Self>, mut timer: IdleTimer) {
        let cancel: CancellationToken = self.cancel.clone();
        loop {
            let cfg = self.cfg();
            if !cfg.enabled || cfg.idle_after_s == 0 {
                // Off: look again soon, so turning it on by SIGHUP takes effect.
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                }
            }
            let idle_after = Duration::from_secs(cfg.idle_after_s);
            let quiet = tokio::select! {
                _ = cancel.cancelled() => return,
                q = timer.quiet_for(idle_after) => q,
            };
            if quiet == Quiet::Closed {
                return;
            }
            let urgent = self.any_urgent(&cfg).await;
            if urgent {
                self.idle_progress.store(false, Ordering::Relaxed);
                self.fire(Trigger::Idle).await;
            }
            if urgent && self.idle_progress.load(Ordering::Relaxed) {
                // It caught up as far as it could; look again after a pause.
                let pause =
                    (idle_after / 4).clamp(Duration::from_millis(250), Duration::from_secs(30));
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            } else {
                // Nothing to do this spell: only a client write can change that.
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    q = timer.next_write() => if q == Quiet::Closed { return },
                }
            }
        }
    }

    /// Whether any namespace has a drive over its threshold.
    async fn any_urgent(&self, cfg: &crate::config::DreamConfig) -> bool {
        let namespaces = match self.store.dream_namespaces().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "idle check cannot read namespaces");
                return false;
            }
        };
        for ns in &namespaces {
            if let Ok(b) = self.sense(ns, cfg).await
                && !super::drives::levels(&b).urgent(cfg).is_empty()
            {
                return true;
            }
        }
        false
    }
}
