//! The dream cycle's run records: one `dream_runs` row per pass, inserted
//! as it starts (bounded per namespace), finished as it ends, marked
//! interrupted when the daemon died during it, and listed for the API.
//! Outcomes and triggers are the dream cycle's words, stored as given.

use std::future::Future;

use rusqlite::params;
use serde_json::{Value, json};

use super::singles::json_column;
use super::{Store, StoreError};

/// A run row as its pass starts.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub namespace: String,
    pub trigger: &'static str,
    pub dry_run: bool,
    pub started_at: i64,
    /// The pass ends as it starts: its end time is the insert's.
    pub done_now: bool,
    pub outcome: &'static str,
    /// JSON of the drive levels.
    pub drives_before: String,
    /// JSON array of the actions.
    pub actions: String,
    pub note: Option<String>,
    /// How many of the namespace's runs to keep, this one included.
    pub keep: i64,
}

/// What a run row gets when its pass ends (its end time is the update's).
#[derive(Debug, Clone)]
pub struct FinishedRun {
    pub id: i64,
    pub outcome: &'static str,
    /// JSON of the drive levels.
    pub drives_after: String,
    /// JSON array of the actions.
    pub actions: String,
    pub llm_calls: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    /// JSON array of the error messages.
    pub errors: String,
    pub note: Option<String>,
}

pub trait DreamRuns {
    /// Rows whose outcome is `running` get `interrupted` (ended as they
    /// started, with a note unless they had one); how many.
    fn interrupt_runs(
        &self,
        running: &'static str,
        interrupted: &'static str,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Inserts a run row, first trimming the namespace's older rows to
    /// `keep`; its id.
    fn start_run(&self, run: NewRun) -> impl Future<Output = Result<i64, StoreError>> + Send;

    fn finish_run(&self, run: FinishedRun) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The latest runs, newest first (`namespace`: one namespace's), as the
    /// API shows them.
    fn dream_runs(
        &self,
        namespace: Option<String>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Value>, StoreError>> + Send;
}

impl DreamRuns for Store {
    async fn interrupt_runs(
        &self,
        running: &'static str,
        interrupted: &'static str,
    ) -> Result<usize, StoreError> {
        self.write(move |ctx| {
            Ok(ctx.conn().execute(
                "UPDATE dream_runs SET outcome = ?1, ended_at = started_at,
                 note = coalesce(note, 'the daemon stopped during this pass')
                 WHERE outcome = ?2",
                params![interrupted, running],
            )?)
        })
        .await
    }

    async fn start_run(&self, run: NewRun) -> Result<i64, StoreError> {
        self.write(move |ctx| {
            // Years of nightly runs stay bounded.
            ctx.conn().execute(
                "DELETE FROM dream_runs WHERE namespace = ?1 AND id <= coalesce(
                   (SELECT id FROM dream_runs WHERE namespace = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2 - 1), -1)",
                params![run.namespace, run.keep],
            )?;
            let ended = run.done_now.then(crate::time::now_ms);
            Ok(ctx.conn().query_row(
                "INSERT INTO dream_runs (namespace, trigger, dry_run, started_at, ended_at, outcome, drives_before, actions, note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
                params![
                    run.namespace,
                    run.trigger,
                    run.dry_run,
                    run.started_at,
                    ended,
                    run.outcome,
                    run.drives_before,
                    run.actions,
                    run.note
                ],
                |x| x.get(0),
            )?)
        })
        .await
    }

    async fn finish_run(&self, run: FinishedRun) -> Result<(), StoreError> {
        self.write(move |ctx| {
            ctx.conn().execute(
                "UPDATE dream_runs SET ended_at = ?2, outcome = ?3, drives_after = ?4, actions = ?5,
                 llm_calls = ?6, tokens_in = ?7, tokens_out = ?8, errors = ?9, note = ?10 WHERE id = ?1",
                params![
                    run.id,
                    crate::time::now_ms(),
                    run.outcome,
                    run.drives_after,
                    run.actions,
                    run.llm_calls,
                    run.tokens_in,
                    run.tokens_out,
                    run.errors,
                    run.note
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn dream_runs(
        &self,
        namespace: Option<String>,
        limit: usize,
    ) -> Result<Vec<Value>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, namespace, trigger, dry_run, started_at, ended_at, outcome, drives_before, drives_after,
                        actions, llm_calls, tokens_in, tokens_out, errors, note
                 FROM dream_runs WHERE ?1 IS NULL OR namespace = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let v = stmt
                .query_map(params![namespace, limit as i64], |r| {
                    Ok(json!({
                        "id": r.get::<_, i64>(0)?,
                        "namespace": r.get::<_, String>(1)?,
                        "trigger": r.get::<_, String>(2)?,
                        "dry_run": r.get::<_, bool>(3)?,
                        "started_at": crate::time::to_rfc3339(r.get(4)?),
                        "ended_at": r.get::<_, Option<i64>>(5)?.map(crate::time::to_rfc3339),
                        "outcome": r.get::<_, String>(6)?,
                        "drives_before": r.get::<_, Option<String>>(7)?.map(json_column),
                        "drives_after": r.get::<_, Option<String>>(8)?.map(json_column),
                        "actions": json_column(r.get(9)?),
                        "llm": {"calls": r.get::<_, i64>(10)?, "tokens_in": r.get::<_, i64>(11)?, "tokens_out": r.get::<_, i64>(12)?},
                        "errors": json_column(r.get(13)?),
                        "note": r.get::<_, Option<String>>(14)?,
                    }))
                })?
                .collect::<Result<_, _>>()?;
            Ok(v)
        })
        .await
    }
}
