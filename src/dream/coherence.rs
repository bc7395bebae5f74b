//! Coherence's actions: a digest per month ("era") rebuilt from its gists,
//! eras whose gists are gone removed, the profile rebuilt from every gist's
//! statements, and the narrative rebuilt from the eras.

use rusqlite::params;
use serde_json::json;

use super::action::Action;
use super::backlog::Backlog;
use super::extractive;
use super::pass::{PassCtx, Work};
use super::{Dream, DreamError};
use crate::config::DreamConfig;
use crate::events::MemdEvent;
use crate::store::{ItemSel, NewItem, Tier};

impl Dream {
    pub(super) async fn coherence(
        &self,
        p: &PassCtx<'_>,
        b: &Backlog,
        work: &mut Work,
    ) -> Result<(), DreamError> {
        let (ns, cfg) = (p.ns, &p.cfg);
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
            return self
                .remove_single("profiles", Action::ProfileRemoved, ns, work)
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
            return self
                .remove_single("narratives", Action::NarrativeRemoved, ns, work)
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
        work.actions.push(Action::Narrative { months });
        Ok(())
    }

    /// Removes a namespace's single-row tier (nothing left to build it from).
    async fn remove_single(
        &self,
        table: &'static str,
        removed: Action,
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
        work.actions.push(removed);
        Ok(())
    }
}
