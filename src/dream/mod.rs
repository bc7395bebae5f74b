//! The dream cycle: consolidation of raw turns into gists, monthly eras, a
//! profile, a narrative and the agent's self-state, driven by four drives.
//!
//! A pass over a namespace senses the backlog ([`backlog`]), reads the
//! drives ([`drives`]), and lets each drive over its threshold act (all of
//! them when forced); the levels relax because acting empties the backlog.
//! Invariants:
//! - every write is a short transaction through the store's writer; a gist
//!   carries the watermark of the last turn it covers, so a pass stopped
//!   anywhere resumes where it stopped, and a session that got new turns
//!   while it was summarised is simply dirty again;
//! - one pass at a time (one gate for every trigger); a trigger that finds
//!   the gate taken is skipped and logged;
//! - shutdown cancels the token: a pass stops at the next safe point (between
//!   sessions, or by abandoning an LLM call in flight, which writes nothing).

pub mod action;
pub mod backlog;
pub mod drives;
pub mod extractive;
pub mod provider;
pub mod read;
pub mod schedule;
pub mod scheduler;
pub mod text;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, DreamConfig};
use crate::events::MemdEvent;
use crate::store::{ItemSel, NewItem, Store, StoreError, Tier};
use backlog::Backlog;
use drives::{Drive, Levels};
use provider::{Consolidator, ProviderError, Usage};

#[derive(Debug, thiserror::Error)]
pub enum DreamError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a dream pass is already running ({0})")]
    Busy(String),
    #[error("the daemon is shutting down")]
    Stopping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Idle,
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Idle => "idle",
            Trigger::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PassRequest {
    /// `None`: every namespace.
    pub namespace: Option<String>,
    pub trigger: Trigger,
    /// Act whatever the drive levels.
    pub force: bool,
    /// Only this drive.
    pub drive: Option<Drive>,
    pub dry_run: bool,
    /// Repeat bounded passes until the backlog is empty (or no progress).
    pub until_caught_up: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub id: Option<i64>,
    pub namespace: String,
    pub trigger: Trigger,
    pub dry_run: bool,
    pub outcome: String,
    pub started_at: String,
    pub took_ms: u64,
    pub drives_before: Levels,
    pub drives_after: Option<Levels>,
    pub actions: Vec<Value>,
    pub llm: Usage,
    pub errors: Vec<String>,
    pub note: Option<String>,
    /// The backlog read at the end of the pass (the next round's start).
    #[serde(skip)]
    pub backlog_after: Option<Backlog>,
}

pub struct Dream {
    store: Store,
    config: Arc<RwLock<Config>>,
    provider: Arc<dyn Consolidator>,
    gate: Arc<tokio::sync::Mutex<()>>,
    running: Mutex<Option<Value>>,
    last_run: Mutex<Option<Value>>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// Whether the last idle pass did anything (one that made no progress
    /// is not retried until a client writes again).
    idle_progress: AtomicBool,
    /// Drives and backlog as status last read them: sensing scans every
    /// exchange of a namespace, and status may be polled often.
    status_cache: Mutex<Option<(Instant, u64, Value)>>,
    /// Bumped when a pass ends: a reading begun before is not reused.
    generation: std::sync::atomic::AtomicU64,
}

/// How long status reuses its reading of the drives.
const STATUS_TTL: Duration = Duration::from_secs(2);

/// What one drive's action did, for the run record.
struct Work {
    actions: Vec<Value>,
    errors: Vec<String>,
    usage: Usage,
    stopped: bool,
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
    pub fn new(
        store: Store,
        config: Arc<RwLock<Config>>,
        provider: Arc<dyn Consolidator>,
        shutdown: &CancellationToken,
    ) -> Arc<Dream> {
        Arc::new(Dream {
            store,
            config,
            provider,
            gate: Arc::default(),
            running: Mutex::default(),
            last_run: Mutex::default(),
            cancel: shutdown.child_token(),
            tracker: TaskTracker::new(),
            idle_progress: AtomicBool::new(false),
            status_cache: Mutex::default(),
            generation: Default::default(),
        })
    }

    fn cfg(&self) -> DreamConfig {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .dream
            .clone()
    }

    pub fn provider_name(&self) -> &'static str {
        self.provider.name()
    }

    /// Runs left `running` by a daemon that died are marked `interrupted`.
    pub async fn recover(&self) -> Result<(), StoreError> {
        let n = self
            .store
            .write(|ctx| {
                Ok(ctx.conn().execute(
                    "UPDATE dream_runs SET outcome = 'interrupted', ended_at = started_at,
                     note = coalesce(note, 'the daemon stopped during this pass')
                     WHERE outcome = 'running'",
                    [],
                )?)
            })
            .await?;
        if n > 0 {
            tracing::warn!(
                runs = n,
                "dream runs interrupted by an earlier stop; their progress is kept and the backlog resumes"
            );
        }
        Ok(())
    }

    /// Takes the pass gate, or says what holds it.
    pub fn begin(&self) -> Result<OwnedMutexGuard<()>, DreamError> {
        if self.cancel.is_cancelled() {
            return Err(DreamError::Stopping);
        }
        self.gate.clone().try_lock_owned().map_err(|_| {
            let what = self
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "starting".into());
            DreamError::Busy(what)
        })
    }

    /// Runs a request holding the gate; one report per pass.
    pub async fn run(
        self: &Arc<Self>,
        _gate: OwnedMutexGuard<()>,
        req: PassRequest,
    ) -> Result<Vec<RunReport>, DreamError> {
        let namespaces = match &req.namespace {
            Some(ns) => vec![ns.clone()],
            None => self.store.read(backlog::namespaces).await?,
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
                let stopped = report.outcome == "stopped";
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
                if b.is_caught_up() && b.new_gists_since_reflection == 0 {
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
                outcome: r.outcome.clone(),
            });
        }
        Ok(reports)
    }

    fn set_running(&self, v: Option<Value>) {
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = v;
    }

    async fn sense(&self, ns: &str, cfg: &DreamConfig) -> Result<Backlog, StoreError> {
        let (ns, cfg) = (ns.to_owned(), cfg.clone());
        let now = crate::time::now_ms();
        self.store
            .read(move |c| backlog::sense(c, &ns, &cfg, now))
            .await
    }

    async fn pass(&self, ns: &str, req: &PassRequest) -> Result<RunReport, DreamError> {
        let cfg = self.cfg();
        let started = Instant::now();
        let started_ms = crate::time::now_ms();
        let deadline = started + Duration::from_secs(cfg.max_pass_s);
        let before = self.sense(ns, &cfg).await?;
        let levels_before = drives::levels(&before);
        let acting: Vec<Drive> = match (req.force, req.drive) {
            (true, Some(d)) => vec![d],
            (true, None) => vec![Drive::Continuity, Drive::Coherence, Drive::Curiosity],
            (false, d) => levels_before
                .urgent(&cfg)
                .into_iter()
                .filter(|x| d.is_none_or(|d| d == *x))
                .collect(),
        };
        let mut report = RunReport {
            id: None,
            namespace: ns.to_owned(),
            trigger: req.trigger,
            dry_run: req.dry_run,
            outcome: String::new(),
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
            report.outcome = "nothing".into();
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
            report.outcome = "dry-run".into();
            report.actions = plan(&before, &acting, req.force, &cfg);
            report.note = Some("dry run: nothing was written".into());
            report.took_ms = started.elapsed().as_millis() as u64;
            report.id = Some(self.record(&report, started_ms, true).await?);
            return Ok(report);
        }
        let id = self.record(&report, started_ms, false).await?;
        report.id = Some(id);
        // Whatever happens now, the run row must not stay `running`.
        if let Err(e) = self
            .act(
                ns,
                req,
                &before,
                &acting,
                &cfg,
                deadline,
                started,
                &mut report,
            )
            .await
        {
            report.outcome = "failed".into();
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
    #[allow(clippy::too_many_arguments)]
    async fn act(
        &self,
        ns: &str,
        req: &PassRequest,
        before: &Backlog,
        acting: &[Drive],
        cfg: &DreamConfig,
        deadline: Instant,
        started: Instant,
        report: &mut RunReport,
    ) -> Result<(), DreamError> {
        let mut work = Work::new();
        if acting.contains(&Drive::Continuity) {
            self.continuity(ns, before, req.force, cfg, deadline, &mut work)
                .await?;
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
            self.coherence(ns, &mid, cfg, deadline, &mut work).await?;
        }
        if !work.stopped && wants(Drive::Curiosity) && mid.new_gists_since_reflection > 0 {
            self.curiosity(ns, &mid_levels, &mut work).await?;
        }
        let after = self.sense(ns, cfg).await?;
        let levels_after = drives::levels(&after);
        if !work.stopped
            && !work.actions.is_empty()
            && levels_after.stability >= cfg.stability_threshold
        {
            // Calm: tidy the search structures the pass just grew.
            match self
                .store
                .write(|ctx| {
                    ctx.conn().execute_batch(
                        "INSERT INTO items_fts (items_fts) VALUES ('optimize'); PRAGMA optimize;",
                    )?;
                    Ok(())
                })
                .await
            {
                Ok(()) => work.actions.push(json!({"drive": "stability", "action": "maintenance", "did": ["items_fts optimize", "PRAGMA optimize"]})),
                Err(e) => work.errors.push(format!("maintenance: {e}")),
            }
        }
        report.outcome = if work.stopped {
            "stopped"
        } else if work.actions.is_empty() && !work.errors.is_empty() {
            "failed"
        } else if work.actions.is_empty() {
            "nothing"
        } else {
            "done"
        }
        .into();
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
        report.took_ms = started.elapsed().as_millis() as u64;
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

    /// Inserts the run row (`done_now`: a pass that ends as it starts).
    async fn record(
        &self,
        r: &RunReport,
        started_ms: i64,
        done_now: bool,
    ) -> Result<i64, StoreError> {
        let row = (
            r.namespace.clone(),
            r.trigger.as_str(),
            r.dry_run,
            started_ms,
            if done_now {
                r.outcome.clone()
            } else {
                "running".into()
            },
            serde_json::to_string(&r.drives_before).unwrap_or_default(),
            serde_json::to_string(&r.actions).unwrap_or_else(|_| "[]".into()),
            r.note.clone(),
        );
        let keep = self.cfg().keep_runs as i64;
        self.store
            .write(move |ctx| {
                // Years of nightly runs stay bounded.
                ctx.conn().execute(
                    "DELETE FROM dream_runs WHERE namespace = ?1 AND id <= coalesce(
                       (SELECT id FROM dream_runs WHERE namespace = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2 - 1), -1)",
                    params![row.0, keep],
                )?;
                let ended = done_now.then(crate::time::now_ms);
                Ok(ctx.conn().query_row(
                    "INSERT INTO dream_runs (namespace, trigger, dry_run, started_at, ended_at, outcome, drives_before, actions, note)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
                    params![row.0, row.1, row.2, row.3, ended, row.4, row.5, row.6, row.7],
                    |x| x.get(0),
                )?)
            })
            .await
    }

    async fn finish(&self, r: &RunReport) -> Result<(), StoreError> {
        let id = r.id.unwrap_or_default();
        let vals = (
            r.outcome.clone(),
            serde_json::to_string(&r.drives_after).unwrap_or_default(),
            serde_json::to_string(&r.actions).unwrap_or_else(|_| "[]".into()),
            r.llm,
            serde_json::to_string(&r.errors).unwrap_or_else(|_| "[]".into()),
            r.note.clone(),
        );
        self.store
            .write(move |ctx| {
                ctx.conn().execute(
                    "UPDATE dream_runs SET ended_at = ?2, outcome = ?3, drives_after = ?4, actions = ?5,
                     llm_calls = ?6, tokens_in = ?7, tokens_out = ?8, errors = ?9, note = ?10 WHERE id = ?1",
                    params![
                        id,
                        crate::time::now_ms(),
                        vals.0,
                        vals.1,
                        vals.2,
                        vals.3.calls as i64,
                        vals.3.tokens_in as i64,
                        vals.3.tokens_out as i64,
                        vals.4,
                        vals.5
                    ],
                )?;
                Ok(())
            })
            .await
    }

    /// Runs a blocking provider call, abandoned (nothing written) on shutdown.
    async fn call<T: Send + 'static>(
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
    async fn produce<T: Send + 'static>(
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

    /// Removes a namespace's single-row tier (nothing left to build it from).
    async fn remove_single(
        &self,
        table: &'static str,
        ns: &str,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        let ns = ns.to_owned();
        self.store
            .write(move |ctx| {
                ctx.conn()
                    .execute(&format!("DELETE FROM {table} WHERE namespace = ?1"), [&ns])?;
                Ok(())
            })
            .await?;
        let action = format!("{}-removed", table.trim_end_matches('s'));
        work.actions
            .push(json!({"drive": "coherence", "action": action}));
        Ok(())
    }

    fn out_of_time(&self, deadline: Instant) -> bool {
        self.cancel.is_cancelled() || Instant::now() >= deadline
    }

    async fn continuity(
        &self,
        ns: &str,
        b: &Backlog,
        force: bool,
        cfg: &DreamConfig,
        deadline: Instant,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        let list = if force { &b.dirty_ids } else { &b.ripe };
        for sid in list.iter().take(cfg.max_sessions_per_pass) {
            if self.out_of_time(deadline) {
                work.stopped = true;
                return Ok(());
            }
            let sid_q = sid.clone();
            let rows = self.store.read(move |c| read::turns(c, &sid_q)).await?;
            let Some(last) = rows.last() else { continue };
            let upto = last.id;
            let first_at = rows[0].created_at;
            let facts = extractive::statements(&rows);
            let turns = rows.len();
            let (p, c) = (self.provider.clone(), cfg.clone());
            let Some(result) = self.call(move || p.gist(&rows, &c)).await else {
                work.stopped = true;
                return Ok(());
            };
            match result {
                Ok(produced) => {
                    work.usage.add(produced.usage);
                    let written = self
                        .write_gist(ns, sid, produced.value, upto, turns, first_at, facts)
                        .await?;
                    if let Some(item_id) = written {
                        // Found lexically at once; its vector follows from the queue.
                        self.store.events().publish(MemdEvent::ItemsWritten {
                            namespace: ns.to_owned(),
                        });
                        work.actions.push(json!({
                            "drive": "continuity", "action": "gist", "session_id": sid,
                            "id": item_id, "last_exchange_id": upto, "turns": turns,
                        }));
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    tracing::warn!(namespace = ns, session = %sid, error = %msg, "session summary failed; its watermark stays and a later pass retries it");
                    work.errors.push(format!("gist {sid}: {msg}"));
                    let sid = sid.clone();
                    self.store
                        .write(move |ctx| {
                            ctx.conn().execute(
                                "INSERT INTO dream_attempts (session_id, attempts, upto_exchange_id, last_error, last_attempt_at)
                                 VALUES (?1, 1, ?2, ?3, ?4)
                                 ON CONFLICT (session_id) DO UPDATE SET
                                   attempts = CASE WHEN upto_exchange_id = excluded.upto_exchange_id THEN attempts + 1 ELSE 1 END,
                                   upto_exchange_id = excluded.upto_exchange_id,
                                   last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at",
                                params![sid, upto, msg, crate::time::now_ms()],
                            )?;
                            Ok(())
                        })
                        .await?;
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_gist(
        &self,
        ns: &str,
        sid: &str,
        text: String,
        upto: i64,
        turns: usize,
        first_at: i64,
        facts: Vec<extractive::Statement>,
    ) -> Result<Option<i64>, StoreError> {
        let (sid, model, provider) = (sid.to_owned(), self.provider.model(), self.provider.name());
        let month = text::month(first_at);
        let ns_expected = ns.to_owned();
        let facts = serde_json::to_string(&facts).unwrap_or_else(|_| "[]".into());
        self.store
            .write(move |ctx| {
                // Deleted meanwhile: nothing to summarise any more.
                let ns: Option<String> = ctx
                    .conn()
                    .query_row("SELECT namespace FROM sessions WHERE id = ?1", [&sid], |r| r.get(0))
                    .optional()?;
                let Some(ns) = ns.filter(|n| *n == ns_expected) else {
                    return Ok(None);
                };
                let current: Option<i64> = ctx
                    .conn()
                    .query_row("SELECT last_exchange_id FROM gists WHERE session_id = ?1", [&sid], |r| r.get(0))
                    .optional()?;
                if current.is_some_and(|c| c >= upto) {
                    return Ok(None);
                }
                let w = ctx.upsert_item(NewItem {
                    tier: Tier::Gist,
                    namespace: ns.clone(),
                    key: sid.clone(),
                    parent: Some(sid.clone()),
                    text,
                    attrs: json!({"month": month, "turns": turns, "last_exchange_id": upto}),
                    weight: 1.0,
                    created_at: first_at,
                })?;
                let now = crate::time::now_ms();
                ctx.conn().execute(
                    "INSERT INTO gists (session_id, item_id, namespace, month, last_exchange_id, turns, facts, provider, model, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
                     ON CONFLICT (session_id) DO UPDATE SET item_id = excluded.item_id, month = excluded.month,
                       last_exchange_id = excluded.last_exchange_id, turns = excluded.turns, facts = excluded.facts,
                       provider = excluded.provider, model = excluded.model, updated_at = excluded.updated_at",
                    params![sid, w.id, ns, month, upto, turns as i64, facts, provider, model, now],
                )?;
                ctx.conn().execute("DELETE FROM dream_attempts WHERE session_id = ?1", [&sid])?;
                Ok(Some(w.id))
            })
            .await
    }

    async fn coherence(
        &self,
        ns: &str,
        b: &Backlog,
        cfg: &DreamConfig,
        deadline: Instant,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        for month in &b.eras_orphaned {
            let (ns2, m2) = (ns.to_owned(), month.clone());
            self.store
                .write(move |ctx| {
                    ctx.delete_items(Tier::Era, &ns2, ItemSel::Keys(vec![m2.clone()]))?;
                    ctx.conn().execute(
                        "DELETE FROM eras WHERE namespace = ?1 AND month = ?2",
                        params![ns2, m2],
                    )?;
                    Ok(())
                })
                .await?;
            work.actions
                .push(json!({"drive": "coherence", "action": "era-removed", "month": month}));
        }
        let mut eras_changed = !b.eras_orphaned.is_empty();
        for month in &b.eras_due {
            if self.out_of_time(deadline) {
                work.stopped = true;
                return Ok(());
            }
            let (ns2, m2) = (ns.to_owned(), month.clone());
            let gists: Vec<(String, i64, String, i64)> = self
                .store
                .read(move |c| {
                    let mut stmt = c.prepare_cached(
                        "SELECT g.session_id, i.id, i.text, i.created_at FROM gists g JOIN items i ON i.id = g.item_id
                         WHERE g.namespace = ?1 AND g.month = ?2 ORDER BY i.created_at, g.session_id",
                    )?;
                    let v = stmt
                        .query_map(params![ns2, m2], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                        .collect::<Result<_, _>>()?;
                    Ok(v)
                })
                .await?;
            if gists.is_empty() {
                continue;
            }
            let texts: Vec<String> = gists.iter().map(|g| g.2.clone()).collect();
            let (p, c, m) = (self.provider.clone(), cfg.clone(), month.clone());
            let Some(text) = self
                .produce(&format!("era {month}"), work, move || p.era(&m, &texts, &c))
                .await
            else {
                if work.stopped {
                    return Ok(());
                }
                continue;
            };
            let sessions: Vec<&String> = gists.iter().map(|g| &g.0).collect();
            let ids: Vec<i64> = gists.iter().map(|g| g.1).collect();
            let (sessions_json, ids_json) = (json!(sessions).to_string(), json!(ids).to_string());
            let first_at = gists[0].3;
            let (ns2, m2, provider) = (ns.to_owned(), month.clone(), self.provider.name());
            let n = gists.len();
            let item_id = self
                .store
                .write(move |ctx| {
                    // A session deleted while this digest was being written
                    // leaves the era stale, so the next pass rebuilds it
                    // without that session.
                    let still: i64 = ctx.conn().query_row(
                        "SELECT count(*) FROM gists WHERE item_id IN (SELECT value FROM json_each(?1))",
                        [&ids_json],
                        |r| r.get(0),
                    )?;
                    let stale = still as usize != n;
                    let w = ctx.upsert_item(NewItem {
                        tier: Tier::Era,
                        namespace: ns2.clone(),
                        key: m2.clone(),
                        parent: None,
                        text,
                        attrs: json!({"month": m2, "sessions": n}),
                        weight: 1.0,
                        created_at: first_at,
                    })?;
                    ctx.conn().execute(
                        "INSERT INTO eras (namespace, month, item_id, gist_ids, sessions, stale, provider, built_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?8, ?6, ?7)
                         ON CONFLICT (namespace, month) DO UPDATE SET item_id = excluded.item_id, gist_ids = excluded.gist_ids,
                           sessions = excluded.sessions, stale = excluded.stale, provider = excluded.provider, built_at = excluded.built_at",
                        params![ns2, m2, w.id, ids_json, sessions_json, provider, crate::time::now_ms(), stale],
                    )?;
                    Ok(w.id)
                })
                .await?;
            self.store.events().publish(MemdEvent::ItemsWritten {
                namespace: ns.to_owned(),
            });
            eras_changed = true;
            work.actions.push(json!({"drive": "coherence", "action": "era", "month": month, "id": item_id, "gists": n}));
        }
        if b.profile_due {
            self.rebuild_profile(ns, cfg, work).await?;
        }
        if (b.narrative_due || eras_changed) && !work.stopped {
            self.rebuild_narrative(ns, cfg, work).await?;
        }
        Ok(())
    }

    async fn rebuild_profile(
        &self,
        ns: &str,
        cfg: &DreamConfig,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        let ns2 = ns.to_owned();
        let per_session: Vec<(Vec<extractive::Statement>, i64)> = self
            .store
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT g.facts, i.created_at FROM gists g JOIN items i ON i.id = g.item_id WHERE g.namespace = ?1",
                )?;
                let v = stmt
                    .query_map([&ns2], |r| {
                        let f: String = r.get(0)?;
                        Ok((serde_json::from_str(&f).unwrap_or_default(), r.get(1)?))
                    })?
                    .collect::<Result<_, _>>()?;
                Ok(v)
            })
            .await?;
        if per_session.is_empty() {
            return self.remove_single("profiles", ns, work).await;
        }
        let covered = per_session.len();
        let (p, c) = (self.provider.clone(), cfg.clone());
        let Some((text, facts)) = self
            .produce("profile", work, move || p.profile(&per_session, &c))
            .await
        else {
            return Ok(());
        };
        let n_facts = facts.len();
        let ns2 = ns.to_owned();
        let facts = serde_json::to_string(&facts).unwrap_or_else(|_| "[]".into());
        let provider = self.provider.name();
        self.store
            .write(move |ctx| {
                ctx.conn().execute(
                    "INSERT INTO profiles (namespace, text, facts, sessions_covered, stale, provider, built_at)
                     VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)
                     ON CONFLICT (namespace) DO UPDATE SET text = excluded.text, facts = excluded.facts,
                       sessions_covered = excluded.sessions_covered, stale = 0, provider = excluded.provider, built_at = excluded.built_at",
                    params![ns2, text, facts, covered as i64, provider, crate::time::now_ms()],
                )?;
                Ok(())
            })
            .await?;
        work.actions.push(json!({"drive": "coherence", "action": "profile", "sessions_covered": covered, "facts": n_facts}));
        Ok(())
    }

    async fn rebuild_narrative(
        &self,
        ns: &str,
        cfg: &DreamConfig,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        let ns2 = ns.to_owned();
        let eras: Vec<(String, String)> = self
            .store
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT e.month, i.text FROM eras e JOIN items i ON i.id = e.item_id WHERE e.namespace = ?1 ORDER BY e.month",
                )?;
                let v = stmt
                    .query_map([&ns2], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                Ok(v)
            })
            .await?;
        if eras.is_empty() {
            return self.remove_single("narratives", ns, work).await;
        }
        let months = eras.len();
        let (p, c) = (self.provider.clone(), cfg.clone());
        let Some(text) = self
            .produce("narrative", work, move || p.narrative(&eras, &c))
            .await
        else {
            return Ok(());
        };
        let provider = self.provider.name();
        let ns2 = ns.to_owned();
        self.store
            .write(move |ctx| {
                ctx.conn().execute(
                    "INSERT INTO narratives (namespace, text, stale, provider, built_at) VALUES (?1, ?2, 0, ?3, ?4)
                     ON CONFLICT (namespace) DO UPDATE SET text = excluded.text, stale = 0, provider = excluded.provider,
                       built_at = excluded.built_at",
                    params![ns2, text, provider, crate::time::now_ms()],
                )?;
                Ok(())
            })
            .await?;
        work.actions
            .push(json!({"drive": "coherence", "action": "narrative", "months": months}));
        Ok(())
    }

    async fn curiosity(
        &self,
        ns: &str,
        levels: &Levels,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        let ns2 = ns.to_owned();
        let (prev, new_gists, recent_sessions) = self
            .store
            .read(move |c| {
                let prev: Option<(String, i64)> = c
                    .query_row("SELECT state, built_at FROM self_states WHERE namespace = ?1", [&ns2], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                let since = prev.as_ref().map_or(i64::MIN, |p| p.1);
                let texts = backlog::gist_texts_since(c, &ns2, since, 200)?;
                let mut stmt = c.prepare_cached(
                    "SELECT session_id FROM gists WHERE namespace = ?1 AND updated_at > ?2 ORDER BY updated_at DESC LIMIT 10",
                )?;
                let sessions: Vec<String> = stmt
                    .query_map(params![ns2, since], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                let turns_of = sessions
                    .iter()
                    .map(|s| read::turns(c, s))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((prev.map(|p| p.0), texts, turns_of))
            })
            .await?;
        let prev: Value = prev
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_else(|| json!({}));
        let list = |key: &str| -> Vec<String> {
            prev.get(key)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (known_entities, known_topics) = (list("known_entities"), list("known_topics"));
        let open: Vec<String> = recent_sessions
            .iter()
            .flat_map(|t| extractive::open_questions(t))
            .take(20)
            .collect();
        let r = extractive::reflect(&extractive::ReflectInput {
            new_gists: &new_gists,
            known_entities: &known_entities,
            known_topics: &known_topics,
            open_questions: open,
        });
        let mut entities = known_entities.clone();
        entities.extend(r.new_entities.iter().cloned());
        let skip = entities.len().saturating_sub(1000);
        let entities: Vec<String> = entities.into_iter().skip(skip).collect();
        let mut topics = known_topics.clone();
        topics.extend(r.new_topics.iter().cloned());
        let skip = topics.len().saturating_sub(500);
        let topics: Vec<String> = topics.into_iter().skip(skip).collect();
        let state = json!({
            "drives": levels,
            "mood": r.mood,
            "reflections": r.reflections,
            "open_questions": r.open_questions,
            "new_entities": r.new_entities,
            "new_topics": r.new_topics,
            "recurring_topics": r.recurring_topics,
            "gists_reflected": new_gists.len(),
            "known_entities": entities,
            "known_topics": topics,
        });
        let n_reflections = r.reflections.len();
        let ns2 = ns.to_owned();
        self.store
            .write(move |ctx| {
                ctx.conn().execute(
                    "INSERT INTO self_states (namespace, state, built_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (namespace) DO UPDATE SET state = excluded.state, built_at = excluded.built_at",
                    params![ns2, state.to_string(), crate::time::now_ms()],
                )?;
                Ok(())
            })
            .await?;
        work.actions.push(json!({"drive": "curiosity", "action": "reflect", "gists": new_gists.len(), "reflections": n_reflections}));
        Ok(())
    }

    /// Status: drives and backlog per namespace (at most 16), the running
    /// pass, the last one, the next scheduled time.
    pub async fn status(&self) -> Value {
        let cfg = self.cfg();
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let cached = self
            .status_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|(at, g, _)| *g == generation && at.elapsed() < STATUS_TTL);
        let reading = match cached {
            Some((_, _, v)) => v,
            None => {
                let v = self.read_drives(&cfg).await;
                *self.status_cache.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), generation, v.clone()));
                v
            }
        };
        let next = if cfg.enabled {
            schedule::next_after(&cfg.schedule, &cfg.timezone, chrono::Utc::now())
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        } else {
            None
        };
        json!({
            "enabled": cfg.enabled,
            "provider": self.provider.name(),
            "schedule": cfg.schedule,
            "timezone": cfg.timezone,
            "idle_after_s": cfg.idle_after_s,
            "running": self.running.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            "last_run": self.last_run.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            "next_scheduled": next,
            "namespaces": reading["namespaces"],
            "drives": reading["drives"],
            "backlog": reading["backlog"],
        })
    }

    /// Drives and backlog of the first 16 namespaces.
    async fn read_drives(&self, cfg: &DreamConfig) -> Value {
        let namespaces = self
            .store
            .read(backlog::namespaces)
            .await
            .unwrap_or_default();
        let mut drives = serde_json::Map::new();
        let mut backlogs = serde_json::Map::new();
        for ns in namespaces.iter().take(16) {
            if let Ok(b) = self.sense(ns, cfg).await {
                drives.insert(
                    ns.clone(),
                    serde_json::to_value(drives::levels(&b)).unwrap_or(Value::Null),
                );
                backlogs.insert(ns.clone(), serde_json::to_value(&b).unwrap_or(Value::Null));
            }
        }
        json!({"namespaces": namespaces.len(), "drives": drives, "backlog": backlogs})
    }

    /// Runs a request in a tracked task and waits for it: a client that
    /// goes away does not cut the pass short, and shutdown waits for it.
    pub async fn run_tracked(
        self: &Arc<Self>,
        gate: OwnedMutexGuard<()>,
        req: PassRequest,
    ) -> Result<Vec<RunReport>, DreamError> {
        let this = self.clone();
        self.tracker
            .spawn(async move { this.run(gate, req).await })
            .await
            .map_err(|_| DreamError::Stopping)?
    }

    /// Starts a request in the background (tracked for shutdown).
    pub fn spawn(self: &Arc<Self>, gate: OwnedMutexGuard<()>, req: PassRequest) {
        let this = self.clone();
        self.tracker.spawn(async move {
            if let Err(e) = this.run(gate, req).await {
                tracing::error!(error = %e, "dream pass failed");
            }
        });
    }

    /// Stops passes at their next safe point and waits for them (bounded).
    pub async fn shut_down(&self, grace: Duration) {
        self.cancel.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "a dream pass did not stop in time; what it committed stays, the rest resumes next start"
            );
        }
    }
}

/// What a dry run would do.
fn plan(b: &Backlog, acting: &[Drive], force: bool, cfg: &DreamConfig) -> Vec<Value> {
    let mut v = Vec::new();
    if acting.contains(&Drive::Continuity) {
        let list = if force { &b.dirty_ids } else { &b.ripe };
        let take: Vec<&String> = list.iter().take(cfg.max_sessions_per_pass).collect();
        v.push(json!({"drive": "continuity", "action": "gist", "sessions": take, "waiting": list.len().saturating_sub(take.len())}));
    }
    if acting.contains(&Drive::Coherence) {
        v.push(json!({"drive": "coherence", "action": "rebuild", "eras": b.eras_due, "eras_removed": b.eras_orphaned,
            "profile": b.profile_due, "narrative": b.narrative_due}));
    }
    if acting.contains(&Drive::Curiosity) {
        v.push(json!({"drive": "curiosity", "action": "reflect", "new_gists": b.new_gists_since_reflection}));
    }
    v
}
