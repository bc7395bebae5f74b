//! Run records: one row per pass, inserted as it starts (bounded to
//! `dream.keep_runs` per namespace), finished as it ends, and marked
//! `interrupted` when the daemon died during it. The rows themselves are
//! the store's ([`crate::store::DreamRuns`]).

use super::{Dream, Outcome, RunReport};
use crate::store::{DreamRuns, FinishedRun, NewRun, StoreError};

impl Dream {
    /// Runs left `running` by a daemon that died are marked `interrupted`.
    pub async fn recover(&self) -> Result<(), StoreError> {
        let n = self
            .store
            .interrupt_runs(Outcome::Running.as_str(), Outcome::Interrupted.as_str())
            .await?;
        if n > 0 {
            tracing::warn!(
                runs = n,
                "dream runs interrupted by an earlier stop; their progress is kept and the backlog resumes"
            );
        }
        Ok(())
    }

    /// Inserts the run row (`done_now`: a pass that ends as it starts).
    pub(super) async fn record(
        &self,
        r: &RunReport,
        started_ms: i64,
        done_now: bool,
    ) -> Result<i64, StoreError> {
        let run = NewRun {
            namespace: r.namespace.clone(),
            trigger: r.trigger.as_str(),
            dry_run: r.dry_run,
            started_at: started_ms,
            done_now,
            outcome: if done_now {
                r.outcome
            } else {
                Outcome::Running
            }
            .as_str(),
            drives_before: serde_json::to_string(&r.drives_before).unwrap_or_default(),
            actions: serde_json::to_string(&r.actions).unwrap_or_else(|_| "[]".into()),
            note: r.note.clone(),
            keep: self.cfg().keep_runs as i64,
        };
        self.store.start_run(run).await
    }

    pub(super) async fn finish(&self, r: &RunReport) -> Result<(), StoreError> {
        let run = FinishedRun {
            id: r.id.unwrap_or_default(),
            outcome: r.outcome.as_str(),
            drives_after: serde_json::to_string(&r.drives_after).unwrap_or_default(),
            actions: serde_json::to_string(&r.actions).unwrap_or_else(|_| "[]".into()),
            llm_calls: r.llm.calls as i64,
            tokens_in: r.llm.tokens_in as i64,
            tokens_out: r.llm.tokens_out as i64,
            errors: serde_json::to_string(&r.errors).unwrap_or_else(|_| "[]".into()),
            note: r.note.clone(),
        };
        self.store.finish_run(run).await
    }
}
