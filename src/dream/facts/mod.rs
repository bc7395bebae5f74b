//! Fact extraction, continuity's second action: for each session with
//! turns after its extraction cursor, the provider proposes facts from
//! those turns (the extractive rules in [`rules`], or an LLM given the
//! live facts of the same speakers) and the store applies them with the
//! cursor in one transaction (see `store::extraction`: loop guard,
//! duplicates, supersession). A failed call leaves the cursor where it was:
//! the session is retried by a later pass, and after `max_attempts` at the
//! same last turn it waits for new turns, as a failing summary does.

pub mod guard;
pub mod llm;
pub mod person;
pub mod rules;

use super::action::Action;
use super::backlog::Backlog;
use super::pass::{PassCtx, Work};
use super::text::Turn;
use super::{Dream, DreamError};
use crate::config::ExtractAs;
use crate::screen::screen;
use crate::store::{ExtractedFact, Extraction, ExtractionBatch, StoreError};
pub use rules::Proposal;

impl Dream {
    pub(super) async fn extract_facts(
        &self,
        p: &PassCtx<'_>,
        b: &Backlog,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        let config = self.config.borrow().clone();
        if !config.learn.extract {
            return Ok(());
        }
        let list = if p.req.force {
            &b.facts_dirty
        } else {
            &b.facts_due
        };
        for sid in list.iter().take(p.cfg.max_sessions_per_pass) {
            if self.out_of_time(p.deadline) {
                work.stopped = true;
                return Ok(());
            }
            let turns: Vec<Turn> = self
                .store
                .turns_to_extract(sid)
                .await?
                .into_iter()
                .map(Turn::from)
                .collect();
            let Some(upto) = turns.last().map(|t| t.id) else {
                continue;
            };
            let mut speakers: Vec<String> = turns.iter().map(|t| t.speaker.clone()).collect();
            speakers.sort();
            speakers.dedup();
            // Only a model reads the live facts; the rules need none.
            let rules = self.provider.name() == "extractive";
            let live = if rules {
                Vec::new()
            } else {
                self.store
                    .live_facts_of(p.ns, speakers, config.learn.extract_context_facts)
                    .await?
            };
            let (provider, learn) = (self.provider.clone(), config.learn.clone());
            // The rules take microseconds: run them here. A model's call
            // goes to a blocking thread, abandoned on shutdown.
            let result = if rules {
                provider.facts(&turns, &live, &learn)
            } else {
                match self
                    .call(move || provider.facts(&turns, &live, &learn))
                    .await
                {
                    Some(r) => r,
                    None => {
                        work.stopped = true;
                        return Ok(());
                    }
                }
            };
            let proposals = match result {
                Ok(produced) => {
                    work.usage.add(produced.usage);
                    produced.value
                }
                Err(e) => {
                    let msg = e.to_string();
                    tracing::warn!(namespace = p.ns, session = %sid, error = %msg, "fact extraction failed; the cursor stays and a later pass retries it");
                    work.errors.push(format!("facts {sid}: {msg}"));
                    self.count_facts_attempt(sid, p.ns, upto, msg).await?;
                    continue;
                }
            };
            let proposed = proposals.len();
            // Extracted text reaches prompts like any other. The rules only
            // cut and re-person sentences of turns the firewall already
            // passed (quarantined turns are never read), so their output
            // holds nothing the scan did not see; a model writes new text,
            // which is screened as a client's would be (a rejected fact is
            // dropped, not stored).
            let facts: Vec<ExtractedFact> = proposals
                .into_iter()
                .filter_map(|mut f| {
                    if !rules {
                        f.screen = screen(&config.firewall, &f.text).ok()?;
                    }
                    Some(f)
                })
                .collect();
            let batch = ExtractionBatch {
                namespace: p.ns.to_owned(),
                session_id: sid.clone(),
                upto,
                facts,
                candidate: config.learn.extract_as == ExtractAs::Candidate,
                provider: self.provider.name().to_owned(),
            };
            let Some(out) = self.store.apply_extraction(batch).await? else {
                continue;
            };
            work.actions.push(Action::Facts {
                session_id: sid.clone(),
                last_exchange_id: upto,
                proposed,
                added: out.added.len(),
                superseded: out.superseded.len(),
                duplicates: out.reinforced.len(),
                echoes: out.echoes,
            });
        }
        Ok(())
    }

    async fn count_facts_attempt(
        &self,
        sid: &str,
        ns: &str,
        upto: i64,
        msg: String,
    ) -> Result<(), StoreError> {
        self.store
            .count_extraction_attempt(sid, ns, upto, msg)
            .await
    }
}
