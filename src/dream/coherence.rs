//! Coherence's actions: a digest per month ("era") rebuilt from its gists,
//! eras whose gists are gone removed, the profile rebuilt from every gist's
//! statements, and the narrative rebuilt from the eras.

use super::action::Action;
use super::backlog::Backlog;
use super::extractive;
use super::pass::{PassCtx, Work};
use super::{Dream, DreamError};
use crate::config::DreamConfig;
use crate::events::MemdEvent;
use crate::store::{Eras, Gists, NewEra, NewProfile, Single, SingleTiers};

impl Dream {
    pub(super) async fn coherence(
        &self,
        p: &PassCtx<'_>,
        b: &Backlog,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        let (ns, cfg) = (p.ns, &p.cfg);
        for month in &b.eras_orphaned {
            self.store.remove_era(ns, month).await?;
            work.actions.push(Action::EraRemoved {
                month: month.clone(),
            });
        }
        let mut eras_changed = !b.eras_orphaned.is_empty();
        for month in &b.eras_due {
            if self.out_of_time(p.deadline) {
                work.stopped = true;
                return Ok(());
            }
            let gists = self.store.month_gists(ns, month).await?;
            if gists.is_empty() {
                continue;
            }
            let texts: Vec<String> = gists.iter().map(|g| g.text.clone()).collect();
            let (provider, c, m) = (self.provider.clone(), cfg.clone(), month.clone());
            let Some(text) = self
                .produce(&format!("era {month}"), work, move || {
                    provider.era(&m, &texts, &c)
                })
                .await
            else {
                if work.stopped {
                    return Ok(());
                }
                continue;
            };
            let n = gists.len();
            let item_id = self
                .store
                .write_era(NewEra {
                    namespace: ns.to_owned(),
                    month: month.clone(),
                    text,
                    gist_ids: gists.iter().map(|g| g.item_id).collect(),
                    sessions: gists.iter().map(|g| g.session_id.clone()).collect(),
                    first_at: gists[0].created_at,
                    provider: self.provider.name(),
                })
                .await?;
            self.store.events().publish(MemdEvent::ItemsWritten {
                namespace: ns.to_owned(),
            });
            eras_changed = true;
            work.actions.push(Action::Era {
                month: month.clone(),
                id: item_id,
                gists: n,
            });
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
        let per_session: Vec<(Vec<extractive::Statement>, i64)> = self
            .store
            .gist_facts(ns)
            .await?
            .into_iter()
            .map(|g| {
                (
                    serde_json::from_str(&g.facts).unwrap_or_default(),
                    g.created_at,
                )
            })
            .collect();
        if per_session.is_empty() {
            return self
                .remove_single(Single::Profile, Action::ProfileRemoved, ns, work)
                .await;
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
        self.store
            .write_profile(NewProfile {
                namespace: ns.to_owned(),
                text,
                facts: serde_json::to_string(&facts).unwrap_or_else(|_| "[]".into()),
                sessions_covered: covered as i64,
                provider: self.provider.name(),
            })
            .await?;
        work.actions.push(Action::Profile {
            sessions_covered: covered,
            facts: n_facts,
        });
        Ok(())
    }

    async fn rebuild_narrative(
        &self,
        ns: &str,
        cfg: &DreamConfig,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        let eras = self.store.era_texts(ns).await?;
        if eras.is_empty() {
            return self
                .remove_single(Single::Narrative, Action::NarrativeRemoved, ns, work)
                .await;
        }
        let months = eras.len();
        let (p, c) = (self.provider.clone(), cfg.clone());
        let Some(text) = self
            .produce("narrative", work, move || p.narrative(&eras, &c))
            .await
        else {
            return Ok(());
        };
        self.store
            .write_narrative(ns, text, self.provider.name())
            .await?;
        work.actions.push(Action::Narrative { months });
        Ok(())
    }

    /// Removes a namespace's single-row tier (nothing left to build it from).
    async fn remove_single(
        &self,
        single: Single,
        removed: Action,
        ns: &str,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        self.store.remove_single(single, ns).await?;
        work.actions.push(removed);
        Ok(())
    }
}
