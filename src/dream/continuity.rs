//! Continuity's action: summarise each ripe (or, forced, dirty) session
//! into its gist, watermarked with the last turn it covers; a failed summary
//! is counted in `dream_attempts` and retried by a later pass.

use rusqlite::{OptionalExtension, params};
use serde_json::json;

use super::action::Action;
use super::backlog::Backlog;
use super::extractive::{self, Statement};
use super::pass::{PassCtx, Work};
use super::{Dream, DreamError, read, text};
use crate::events::MemdEvent;
use crate::store::{NewItem, StoreError, Tier};

/// A session's summary, ready to be written as its gist.
struct Draft {
    session_id: String,
    text: String,
    /// The last turn the summary covers (the watermark).
    upto: i64,
    turns: usize,
    first_at: i64,
    facts: Vec<Statement>,
}

impl Dream {
    pub(super) async fn continuity(
        &self,
        p: &PassCtx<'_>,
        b: &Backlog,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        let (ns, cfg) = (p.ns, &p.cfg);
        let list = if p.req.force { &b.dirty_ids } else { &b.ripe };
        for sid in list.iter().take(cfg.max_sessions_per_pass) {
            if self.out_of_time(p.deadline) {
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
            let (provider, c) = (self.provider.clone(), cfg.clone());
            let Some(result) = self.call(move || provider.gist(&rows, &c)).await else {
                work.stopped = true;
                return Ok(());
            };
            match result {
                Ok(produced) => {
                    work.usage.add(produced.usage);
                    let draft = Draft {
                        session_id: sid.clone(),
                        text: produced.value,
                        upto,
                        turns,
                        first_at,
                        facts,
                    };
                    if let Some(item_id) = self.write_gist(ns, draft).await? {
                        // Found lexically at once; its vector follows from the queue.
                        self.store.events().publish(MemdEvent::ItemsWritten {
                            namespace: ns.to_owned(),
                        });
                        work.actions.push(Action::Gist {
                            session_id: sid.clone(),
                            id: item_id,
                            last_exchange_id: upto,
                            turns,
                        });
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    tracing::warn!(namespace = ns, session = %sid, error = %msg, "session summary failed; its watermark stays and a later pass retries it");
                    work.errors.push(format!("gist {sid}: {msg}"));
                    self.count_attempt(sid, upto, msg).await?;
                }
            }
        }
        Ok(())
    }

    /// Records a failed summary of `sid` up to `upto`.
    async fn count_attempt(&self, sid: &str, upto: i64, msg: String) -> Result<(), StoreError> {
        let sid = sid.to_owned();
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
            .await
    }

    /// Writes a gist unless its session was deleted (or moved) meanwhile or
    /// already has a gist this far; its item id when written.
    async fn write_gist(&self, ns: &str, draft: Draft) -> Result<Option<i64>, StoreError> {
        let Draft {
            session_id: sid,
            text,
            upto,
            turns,
            first_at,
            facts,
        } = draft;
        let (model, provider) = (self.provider.model(), self.provider.name());
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
}
