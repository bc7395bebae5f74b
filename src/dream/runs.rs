//! Run records: one `dream_runs` row per pass, inserted as it starts
//! (bounded to `dream.keep_runs` per namespace), finished as it ends, marked
//! `interrupted` when the daemon died during it, and listed for
//! `/v1/dream/runs`.

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use super::read::parse;
use super::{Dream, Outcome, RunReport};
use crate::store::StoreError;

impl Dream {
    /// Runs left `running` by a daemon that died are marked `interrupted`.
    pub async fn recover(&self) -> Result<(), StoreError> {
        let n = self
            .store
            .write(|ctx| {
                Ok(ctx.conn().execute(
                    "UPDATE dream_runs SET outcome = ?1, ended_at = started_at,
                     note = coalesce(note, 'the daemon stopped during this pass')
                     WHERE outcome = ?2",
                    params![Outcome::Interrupted.as_str(), Outcome::Running.as_str()],
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

    /// Inserts the run row (`done_now`: a pass that ends as it starts).
    pub(super) async fn record(
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
                r.outcome
            } else {
                Outcome::Running
            }
            .as_str(),
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

    pub(super) async fn finish(&self, r: &RunReport) -> Result<(), StoreError> {
        let id = r.id.unwrap_or_default();
        let vals = (
            r.outcome.as_str(),
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
}

/// The latest runs, newest first (`ns`: one namespace's).
pub fn list(conn: &Connection, ns: Option<&str>, limit: usize) -> Result<Vec<Value>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, namespace, trigger, dry_run, started_at, ended_at, outcome, drives_before, drives_after,
                actions, llm_calls, tokens_in, tokens_out, errors, note
         FROM dream_runs WHERE ?1 IS NULL OR namespace = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let v = stmt
        .query_map(params![ns, limit as i64], |r| {
            Ok(json!({
                "id": r.get::<_, i64>(0)?,
                "namespace": r.get::<_, String>(1)?,
                "trigger": r.get::<_, String>(2)?,
                "dry_run": r.get::<_, bool>(3)?,
                "started_at": crate::time::to_rfc3339(r.get(4)?),
                "ended_at": r.get::<_, Option<i64>>(5)?.map(crate::time::to_rfc3339),
                "outcome": r.get::<_, String>(6)?,
                "drives_before": r.get::<_, Option<String>>(7)?.map(parse),
                "drives_after": r.get::<_, Option<String>>(8)?.map(parse),
                "actions": parse(r.get(9)?),
                "llm": {"calls": r.get::<_, i64>(10)?, "tokens_in": r.get::<_, i64>(11)?, "tokens_out": r.get::<_, i64>(12)?},
                "errors": parse(r.get(13)?),
                "note": r.get::<_, Option<String>>(14)?,
            }))
        })?
        .collect::<Result<_, _>>()?;
    Ok(v)
}
