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
//!
//! Layout: this file holds the handle ([`Dream`]), its gate and its
//! tracked tasks; `pass` the pass loop, [`runs`] the run records, `status`
//! the status readout, and one module per drive's actions (`continuity`,
//! `coherence`, `curiosity`); [`action`] types what a run records. The
//! SQL is the store's: the backlog's watermarks, gists, eras, the single-row
//! tiers and the run rows are its capability traits.

pub mod action;
pub mod backlog;
mod coherence;
mod continuity;
mod curiosity;
pub mod drives;
pub mod extractive;
pub mod facts;
mod pass;
pub mod provider;
pub mod runs;
/// The fuzz harness's path to the cron module (`crate::cron`).
pub use crate::cron as schedule;
pub mod scheduler;
mod status;
pub mod text;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::OwnedMutexGuard;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, DreamConfig};
use crate::store::{Store, StoreError};
pub use action::{Action, Outcome};
use backlog::Backlog;
use drives::{Drive, Levels};
use provider::{Consolidator, Usage};

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
    pub outcome: Outcome,
    pub started_at: String,
    pub took_ms: u64,
    pub drives_before: Levels,
    pub drives_after: Option<Levels>,
    pub actions: Vec<Action>,
    pub llm: Usage,
    pub errors: Vec<String>,
    pub note: Option<String>,
    /// The backlog read at the end of the pass (the next round's start).
    #[serde(skip)]
    pub backlog_after: Option<Backlog>,
}

pub struct Dream {
    store: Store,
    config: watch::Receiver<Arc<Config>>,
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

impl Dream {
    pub fn new(
        store: Store,
        config: watch::Receiver<Arc<Config>>,
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
        self.config.borrow().dream.clone()
    }

    pub fn provider_name(&self) -> &'static str {
        self.provider.name()
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

    fn set_running(&self, v: Option<Value>) {
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = v;
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
