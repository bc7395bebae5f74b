//! The pass loop: for each namespace, sense the backlog, choose the drives
//! that act, let them act (or, dry, plan), record the run, and repeat while
//! `until_caught_up` asks for it and the passes make progress.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::OwnedMutexGuard;

use super::action::{Action, Outcome};
use super::backlog::{self, Backlog};
use super::drives::{self, Drive};
use super::provider::{self, ProviderError, Usage};
use super::{Dream, DreamError, PassRequest, RunReport, Trigger};
use crate::config::DreamConfig;
use crate::events::MemdEvent;
use crate::store::{DreamBacklog, Maintenance, StoreError};

/// One pass over one namespace, as it started.
pub(super) struct PassCtx<'a> {
    pub ns: &'a str,
    pub req: &'a PassRequest,
    /// The configuration read when the pass started.
    pub cfg: DreamConfig,
    pub started: Instant,
    /// `dream.max_pass_s` after the start: the pass stops between actions.
    pub deadline: Instant,
}

/// What the drives' actions did, for the run record.
pub(super) struct Work {
    pub actions: Vec<Action>,
    pub errors: Vec<String>,
    pub usage: Usage,
    /// Out of time or shutting down: the pass stops where it is.
    pub stopped: bool,
}

impl Work {
    fn new() -> Work {
        Work {
            actions: Vec::new(),
            errors: Vec::new(),
            usage: Usage::default(),
            stopped: false,
        }
    }
}

impl Dream {
    /// Runs a request holding the gate; one report per pass.
    pub async fn run(
        self: &Arc<Self>,
        _gate: OwnedMutexGuard<()>,
        req: PassRequest,
    ) -> Result<Vec<RunReport>, DreamError> {
        let namespaces = match &req.namespace {
            Some(ns) => vec![ns.clone()],
            None => self.store.dream_namespaces().await?,
        };
        let mut reports = Vec::new();
        'outer: for ns in namespaces {
            for round in 0..10_000 {
                if self.cancel.is_cancelled() {
                    break 'outer;
                }
                self.set_running(Some(json!({
                    "namespace": ns, "trigger": req.trigger, "round": round + 1,
                    "since": crate::time::to_rfc3339(crate::time::now_ms()),
                })));
                let report = self.pass(&ns, &req).await;
                let report = match report {
                    Ok(r) => r,
                    Err(e) => {
                        self.set_running(None);
                        return Err(e);
                    }
                };
                let progressed = !report.actions.is_empty();
                let stopped = report.outcome == Outcome::Stopped;
                *self.last_run.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(serde_json::to_value(&report).unwrap_or(Value::Null));
                reports.push(report);
                if !req.until_caught_up
                    || req.dry_run
                    || !progressed
                    || (stopped && self.cancel.is_cancelled())
                {
                    break;
                }
                // The pass read the backlog as it ended; nothing else writes
                // dream tiers while the gate is held.
                let b = match reports.last().and_then(|r| r.backlog_after.clone()) {
                    Some(b) => b,
                    None => self.sense(&ns, &self.cfg()).await?,
                };
                if b.is_caught_up()
                    && b.new_gists_since_reflection == 0
                    && b.new_facts_since_reflection == 0
                {
                    break;
                }
            }
        }
        self.set_running(None);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let events = self.store.events();
        for r in &reports {
            if !r.actions.is_empty() {
                // New gists and eras want vectors.
                events.publish(MemdEvent::ItemsWritten {
                    namespace: r.namespace.clone(),
                });
            }
            events.publish(MemdEvent::DreamFinished {
                namespace: r.namespace.clone(),
                outcome: r.outcome.to_string(),
            });
        }
        Ok(reports)
    }

    pub(super) async fn sense(&self, ns: &str, cfg: &DreamConfig) -> Result<Backlog, StoreError> {
        let now = crate::time::now_ms();
        let rows = self.store.backlog_rows(ns, backlog::REFLECT_TEXTS).await?;
        Ok(backlog::sense(ns, rows, cfg, now))
    }

    async fn pass(&self, ns: &str, req: &PassRequest) -> Result<RunReport, DreamError> {
        let cfg = self.cfg();
        let started = Instant::now();
        let started_ms = crate::time::now_ms();
        let p = PassCtx {
            ns,
            req,
            deadline: started + Duration::from_secs(cfg.max_pass_s),
            started,
            cfg,
        };
        let cfg = &p.cfg;
        let before = self.sense(ns, cfg).await?;
        let levels_before = drives::levels(&before);
        let acting: Vec<Drive> = match (req.force, req.drive) {
            (true, Some(d)) => vec![d],
            (true, None) => vec![Drive::Continuity, Drive::Coherence, Drive::Curiosity],
            (false, d) => levels_before
                .urgent(cfg)
                .into_iter()
                .filter(|x| d.is_none_or(|d| d == *x))
                .collect(),
        };
        let mut report = RunReport {
            id: None,
            namespace: ns.to_owned(),
            trigger: req.trigger,
            dry_run: req.dry_run,
            outcome: Outcome::Running,
            started_at: crate::time::to_rfc3339(started_ms),
            took_ms: 0,
            drives_before: levels_before.clone(),
            drives_after: None,
            actions: Vec::new(),
            llm: Usage::default(),
            errors: Vec::new(),
            note: None,
            backlog_after: None,
        };
        if acting.is_empty() {
            report.outcome = Outcome::Nothing;
            report.note = Some(format!(
                "no drive over its threshold (continuity {:.2}/{:.2}, coherence {:.2}/{:.2}, curiosity {:.2}/{:.2})",
                levels_before.continuity,
                cfg.continuity_threshold,
                levels_before.coherence,
                cfg.coherence_threshold,
                levels_before.curiosity,
                cfg.curiosity_threshold
            ));
            report.took_ms = started.elapsed().as_millis() as u64;
            // The idle watch looks often; its empty passes are not history.
            if req.trigger == Trigger::Idle {
                tracing::debug!(namespace = ns, note = ?report.note, "idle pass: nothing to do");
            } else {
                report.id = Some(self.record(&report, started_ms, true).await?);
            }
            return Ok(report);
        }
        if req.dry_run {
            report.outcome = Outcome::DryRun;
            report.actions = plan(&before, &acting, req.force, cfg);
            report.note = Some("dry run: nothing was written".into());
            report.took_ms = started.elapsed().as_millis() as u64;
            report.id = Some(self.record(&report, started_ms, true).await?);
            return Ok(report);
        }
        let id = self.record(&report, started_ms, false).await?;
        report.id = Some(id);
        // Whatever happens now, the run row must not stay `running`.
        if let Err(e) = self.act(&p, &before, &acting, &mut report).await {
            report.outcome = Outcome::Failed;
            report.errors.push(e.to_string());
            report.took_ms = started.elapsed().as_millis() as u64;
            if let Err(f) = self.finish(&report).await {
                tracing::error!(error = %f, run = id, "cannot record the failed dream run");
            }
            return Err(e);
        }
        Ok(report)
    }

    /// The acting part of a pass, after its run row exists.
    async fn act(
        &self,
        p: &PassCtx<'_>,
        before: &Backlog,
        acting: &[Drive],
        report: &mut RunReport,
    ) -> Result<(), DreamError> {
        let (ns, req, cfg) = (p.ns, p.req, &p.cfg);
        let mut work = Work::new();
        if acting.contains(&Drive::Continuity) {
            self.continuity(p, before, &mut work).await?;
        }
        // Acting on one drive moves the others (new gists build coherence
        // and curiosity): read them again before deciding.
        let mid = self.sense(ns, cfg).await?;
        let mid_levels = drives::levels(&mid);
        let urgent_now = mid_levels.urgent(cfg);
        let wants = |d: Drive| {
            req.drive.is_none_or(|x| x == d) && (acting.contains(&d) || urgent_now.contains(&d))
        };
        if !work.stopped && wants(Drive::Coherence) {
            self.coherence(p, &mid, &mut work).await?;
        }
        if !work.stopped
            && wants(Drive::Curiosity)
            && (mid.new_gists_since_reflection > 0 || mid.new_facts_since_reflection > 0)
        {
            self.curiosity(ns, &mid_levels, mid.new_facts_since_reflection, &mut work)
                .await?;
        }
        let after = self.sense(ns, cfg).await?;
        let levels_after = drives::levels(&after);
        if !work.stopped
            && !work.actions.is_empty()
            && levels_after.stability >= cfg.stability_threshold
        {
            // Calm: tidy the search structures the pass just grew.
            match self.maintain().await {
                Ok(()) => work.actions.push(Action::Maintenance),
                Err(e) => work.errors.push(format!("maintenance: {e}")),
            }
        }
        report.outcome = if work.stopped {
            Outcome::Stopped
        } else if work.actions.is_empty() && !work.errors.is_empty() {
            Outcome::Failed
        } else if work.actions.is_empty() {
            Outcome::Nothing
        } else {
            Outcome::Done
        };
        if work.stopped {
            report.note = Some(if self.cancel.is_cancelled() {
                "stopped for shutdown; the next pass resumes from the watermarks".into()
            } else {
                format!(
                    "stopped at dream.max_pass_s = {}; the next pass continues",
                    cfg.max_pass_s
                )
            });
        }
        report.actions = work.actions;
        report.errors = work.errors;
        report.llm = work.usage;
        report.drives_after = Some(levels_after);
        report.backlog_after = Some(after);
        report.took_ms = p.started.elapsed().as_millis() as u64;
        self.finish(report).await?;
        tracing::info!(
            namespace = ns,
            trigger = req.trigger.as_str(),
            outcome = %report.outcome,
            actions = report.actions.len(),
            errors = report.errors.len(),
            took_ms = report.took_ms,
            "dream pass"
        );
        Ok(())
    }

    /// Stability's action: [`super::action::MAINTENANCE`].
    async fn maintain(&self) -> Result<(), StoreError> {
        self.store.optimize_search().await
    }

    /// Runs a blocking provider call, abandoned (nothing written) on shutdown.
    pub(super) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<provider::Produced<T>, ProviderError> + Send + 'static,
    ) -> Option<Result<provider::Produced<T>, ProviderError>> {
        let job = tokio::task::spawn_blocking(f);
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => None,
            r = job => Some(r.unwrap_or_else(|e| Err(ProviderError::Request(format!("task failed: {e}"))))),
        }
    }

    /// One provider call for an action: its value, or `None` when it was
    /// abandoned for shutdown (the pass stops) or failed (recorded as `what`).
    pub(super) async fn produce<T: Send + 'static>(
        &self,
        what: &str,
        work: &mut Work,
        f: impl FnOnce() -> Result<provider::Produced<T>, ProviderError> + Send + 'static,
    ) -> Option<T> {
        match self.call(f).await {
            None => {
                work.stopped = true;
                None
            }
            Some(Err(e)) => {
                work.errors.push(format!("{what}: {e}"));
                None
            }
            Some(Ok(p)) => {
                work.usage.add(p.usage);
                Some(p.value)
            }
        }
    }

    pub(super) fn out_of_time(&self, deadline: Instant) -> bool {
        self.cancel.is_cancelled() || Instant::now() >= deadline
    }
}

/// What a dry run would do.
fn plan(b: &Backlog, acting: &[Drive], force: bool, cfg: &DreamConfig) -> Vec<Action> {
    let mut v = Vec::new();
    if acting.contains(&Drive::Continuity) {
        let list = if force { &b.dirty_ids } else { &b.ripe };
        let take: Vec<String> = list
            .iter()
            .take(cfg.max_sessions_per_pass)
            .cloned()
            .collect();
        v.push(Action::PlanGists {
            waiting: list.len().saturating_sub(take.len()),
            sessions: take,
        });
    }
    if acting.contains(&Drive::Coherence) {
        v.push(Action::PlanRebuild {
            eras: b.eras_due.clone(),
            eras_removed: b.eras_orphaned.clone(),
            profile: b.profile_due,
            narrative: b.narrative_due,
        });
    }
    if acting.contains(&Drive::Curiosity) {
        v.push(Action::PlanReflect {
            new_gists: b.new_gists_since_reflection,
        });
    }
    v
}
