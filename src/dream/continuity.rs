//! Continuity's action: summarise each ripe (or, forced, dirty) session
//! into its gist, watermarked with the last turn it covers; a failed summary
//! is counted in `dream_attempts` and retried by a later pass.

use super::action::Action;
use super::backlog::Backlog;
use super::extractive::{self, Statement};
use super::pass::{PassCtx, Work};
use super::text::{self, Turn};
use super::{Dream, DreamError};
use crate::events::MemdEvent;
use crate::store::{Gists, NewGist, StoreError};

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
            let rows: Vec<Turn> = self
                .store
                .session_turns(sid)
                .await?
                .into_iter()
                .map(Turn::from)
                .collect();
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
        if !work.stopped {
            self.extract_facts(p, b, work).await?;
        }
        Ok(())
    }

    /// Records a failed summary of `sid` up to `upto`.
    async fn count_attempt(&self, sid: &str, upto: i64, msg: String) -> Result<(), StoreError> {
        self.store.count_gist_attempt(sid, upto, msg).await
    }

    /// Writes a gist unless its session was deleted (or moved) meanwhile or
    /// already has a gist this far; its item id when written.
    async fn write_gist(&self, ns: &str, draft: Draft) -> Result<Option<i64>, StoreError> {
        let Draft {
            session_id,
            text,
            upto,
            turns,
            first_at,
            facts,
        } = draft;
        self.store
            .write_gist(NewGist {
                session_id,
                namespace: ns.to_owned(),
                text,
                upto,
                turns,
                first_at,
                month: text::month(first_at),
                facts: serde_json::to_string(&facts).unwrap_or_else(|_| "[]".into()),
                provider: self.provider.name(),
                model: self.provider.model(),
            })
            .await
    }
}
